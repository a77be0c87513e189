import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPresent, chromiumSkipReason, launchChromium } from './helpers/chromium.js';
import { cachedKeys, createHarness, generateAll, listen, type Harness, type Listening } from './helpers/harness.js';

/**
 * A page of another origin, in a real browser on the same machine as a server started without
 * ADMIN_TOKEN, tries the admin surface in every way a page can (src/auth.ts, the CSRF check of
 * src/plugins/use-csrf-prevention.ts, CORS closed by default), and changes nothing. What the
 * page could observe is compared with what the server received and answered. A control shows
 * that the same JSON clearCache from the API's own origin works.
 */


/** Names the browser resolves to 127.0.0.1; every other name fails to resolve. */
const ATTACKER_SITE = 'attacker.test';
const REBOUND_SITE = 'rebound.test';

const CLEAR = 'mutation { clearCache { removed } }';
const READ = '{ cacheEntries(first: 10) { totalCount edges { node { prompt } } } }';
const CSRF_REFUSAL = 'Required CSRF header(s) not present';

/** The attempts of the attacker's page, in the order it makes them. */
const ATTEMPTS = ['json-clear', 'no-cors-text-clear', 'form-urlencoded-clear', 'form-multipart-clear', 'json-read'] as const;
type Attempt = (typeof ATTEMPTS)[number];

/**
 * The attacker's page: makes the attempts one after another, each once the previous one is over,
 * and records what it could observe of each in `window.results`; sets `window.done` at the end.
 * Before each attempt it tells its own server which attempt comes next (`/mark`), so that the
 * requests the API server receives can be told apart.
 */
const ATTACK_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>another site</title></head>
<body>
<script>
const api = new URLSearchParams(location.search).get('api');
const CLEAR = ${JSON.stringify(CLEAR)};
const READ = ${JSON.stringify(READ)};
window.results = {};
window.done = false;

async function observe(response) {
  let body;
  try { body = await response.text(); } catch (error) { body = 'unreadable: ' + error.name; }
  return { outcome: 'resolved', type: response.type, status: response.status, body };
}

function submitForm(name, enctype) {
  return new Promise((resolve) => {
    const iframe = document.createElement('iframe');
    iframe.name = name;
    document.body.append(iframe);
    let submitted = false;
    iframe.addEventListener('load', () => {
      if (!submitted) return;
      let readable;
      try { readable = iframe.contentWindow.document.body.innerText; } catch (error) { readable = 'unreadable: ' + error.name; }
      resolve({ outcome: 'loaded', contentDocument: iframe.contentDocument === null ? null : 'readable', readable });
    });
    const form = document.createElement('form');
    form.method = 'POST';
    form.enctype = enctype;
    form.action = api;
    form.target = name;
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = 'query';
    input.value = CLEAR;
    form.append(input);
    document.body.append(form);
    submitted = true;
    form.submit();
  });
}

const attempts = {
  'json-clear': () => fetch(api, {
    method: 'POST', headers: { 'content-type': 'application/json' }, credentials: 'include',
    body: JSON.stringify({ query: CLEAR }),
  }).then(observe),
  'no-cors-text-clear': () => fetch(api, {
    method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, credentials: 'include',
    body: JSON.stringify({ query: CLEAR }),
  }).then(observe),
  'form-urlencoded-clear': () => submitForm('urlencoded-target', 'application/x-www-form-urlencoded'),
  'form-multipart-clear': () => submitForm('multipart-target', 'multipart/form-data'),
  'json-read': () => fetch(api, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: READ }),
  }).then(observe),
};

(async () => {
  for (const [name, attempt] of Object.entries(attempts)) {
    await fetch('/mark?attempt=' + encodeURIComponent(name));
    try {
      window.results[name] = await attempt();
    } catch (error) {
      window.results[name] = { outcome: 'rejected', error: error.name, message: String(error.message) };
    }
  }
  await fetch('/mark?attempt=after');
  window.done = true;
})();
</script>
</body></html>`;

/** What the page could observe of one attempt. */
type Observation =
  | { readonly outcome: 'resolved'; readonly type: string; readonly status: number; readonly body: string }
  | { readonly outcome: 'rejected'; readonly error: string; readonly message: string }
  | { readonly outcome: 'loaded'; readonly contentDocument: null | 'readable'; readonly readable: string };

/** One request the API server received, and how it answered. */
interface Received {
  /** The attempt the page had announced when the request arrived. */
  readonly attempt: string;
  readonly method: string;
  readonly url: string;
  readonly host: string | undefined;
  readonly origin: string | undefined;
  readonly contentType: string | undefined;
  /** Access-Control-Request-Method, of a preflight. */
  readonly preflightFor: string | undefined;
  status?: number;
  /** Names of the Access-Control-* headers of the answer, as written on the wire. */
  corsHeaders?: string[];
  body: string;
}

interface Recorder {
  readonly received: Received[];
  /** Resolves once every request received so far has been answered (or its connection closed). */
  settled(): Promise<void>;
  stop(): void;
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

/** Names of the Access-Control-* headers in a raw header block. */
const corsHeaderNames = (raw: string): string[] =>
  raw
    .split('\r\n')
    .map((line) => line.slice(0, line.indexOf(':')).toLowerCase())
    .filter((name) => name.startsWith('access-control-'));

/**
 * Records every request the server receives, ahead of its own handler: method, headers, the
 * status and the CORS headers it answered (read from the header block as written), and the body.
 */
function recordRequests(server: Server, attempt: () => string): Recorder {
  const received: Received[] = [];
  const answered: Promise<void>[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const entry: Received = {
      attempt: attempt(),
      method: req.method ?? '',
      url: req.url ?? '',
      host: header(req, 'host'),
      origin: header(req, 'origin'),
      contentType: header(req, 'content-type'),
      preflightFor: header(req, 'access-control-request-method'),
      body: '',
    };
    received.push(entry);
    const chunks: Buffer[] = [];
    const collect = (chunk: unknown, encoding: unknown) => {
      if (typeof chunk === 'string') chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
      else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    Object.assign(res, {
      write: (...args: unknown[]) => (collect(args[0], args[1]), write(...args)),
      end: (...args: unknown[]) => (typeof args[0] !== 'function' && collect(args[0], args[1]), end(...args)),
    });
    answered.push(
      new Promise<void>((resolve) => {
        const done = () => {
          entry.status = res.statusCode;
          // The header block as it went on the wire: Yoga's adapter may pass headers to writeHead
          // directly, which getHeaders() does not show.
          const raw = (res as unknown as { _header?: unknown })._header;
          entry.corsHeaders = typeof raw === 'string' ? corsHeaderNames(raw) : ['(no header block was written)'];
          entry.body = Buffer.concat(chunks).toString('utf8').slice(0, 2000);
          resolve();
        };
        res.once('finish', done).once('close', done);
      }),
    );
  };
  server.prependListener('request', onRequest);
  return {
    received,
    settled: async () => {
      let count: number;
      do {
        count = answered.length;
        await Promise.all(answered);
      } while (answered.length !== count);
    },
    stop: () => void server.off('request', onRequest),
  };
}

/** Serves the attacker's page and its attempt marks on a free port of 127.0.0.1. */
async function serveAttacker(onMark: (attempt: string) => void): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://attacker');
    if (url.pathname === '/attack') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return void res.end(ATTACK_PAGE);
    }
    if (url.pathname === '/mark') {
      onMark(url.searchParams.get('attempt') ?? '');
      res.writeHead(204, { 'cache-control': 'no-store' });
      return void res.end();
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** Everything an admin call could change. */
function state(harness: Harness) {
  const { since: _since, ...stats } = harness.service.stats();
  return { stats, settings: harness.cache.settings, keys: cachedKeys(harness) };
}

const portOf = (url: string): string => new URL(url).port;

let browser: Browser;

async function newContext(): Promise<{ context: BrowserContext; page: Page; pageErrors: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  return { context, page, pageErrors };
}

interface Scenario {
  readonly name: string;
  /** The name the attacker's page is loaded from. */
  readonly pageHost: string;
  /** The name by which the page addresses the API. */
  readonly apiHost: string;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'a page of 127.0.0.1 on another port, the API as 127.0.0.1', pageHost: '127.0.0.1', apiHost: '127.0.0.1' },
  { name: 'a page of localhost on another port, the API as 127.0.0.1', pageHost: 'localhost', apiHost: '127.0.0.1' },
  { name: 'a page of 127.0.0.1 on another port, the API as localhost', pageHost: '127.0.0.1', apiHost: 'localhost' },
  { name: `a page of another site (${ATTACKER_SITE}, resolving to 127.0.0.1), the API as 127.0.0.1`, pageHost: ATTACKER_SITE, apiHost: '127.0.0.1' },
];

describe.skipIf(!chromiumPresent)(`cross-site pages in Chromium against a server without ADMIN_TOKEN${chromiumPresent ? '' : ` (skipped: ${chromiumSkipReason})`}`, () => {
  beforeAll(async () => {
    browser = await launchChromium(
      // The test's names resolve to 127.0.0.1 (the first matching rule wins); no other name resolves.
      `MAP localhost 127.0.0.1 , MAP ${ATTACKER_SITE} 127.0.0.1 , MAP ${REBOUND_SITE} 127.0.0.1 , MAP * ~NOTFOUND , EXCLUDE 127.0.0.1`,
    );
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  for (const scenario of SCENARIOS) {
    describe(scenario.name, () => {
      let harness: Harness;
      let api: Listening;
      let attacker: { port: number; close(): Promise<void> };
      let recorder: Recorder;
      let context: BrowserContext;
      let before: ReturnType<typeof state>;
      let apiUrl: string;
      let attackerOrigin: string;
      let results: Record<Attempt, Observation>;
      let pageErrors: string[];
      let current = 'page load';

      /** What the API server received during one attempt. */
      const during = (attempt: Attempt) => recorder.received.filter((entry) => entry.attempt === attempt);

      beforeAll(async () => {
        harness = createHarness();
        expect(harness.config.adminToken).toBeUndefined();
        await generateAll(harness, ['a', 'b', 'c']);
        before = state(harness);
        expect(before.keys).toHaveLength(3);
        api = await listen(harness);
        apiUrl = `http://${scenario.apiHost}:${portOf(api.url)}/graphql`;
        attacker = await serveAttacker((attempt) => (current = attempt));
        attackerOrigin = `http://${scenario.pageHost}:${attacker.port}`;
        recorder = recordRequests(harness.server, () => current);

        const opened = await newContext();
        context = opened.context;
        pageErrors = opened.pageErrors;
        await opened.page.goto(`${attackerOrigin}/attack?api=${encodeURIComponent(apiUrl)}`);
        await opened.page.waitForFunction(() => (globalThis as { done?: boolean }).done === true, undefined, { timeout: 30_000 });
        results = await opened.page.evaluate(() => (globalThis as unknown as { results: Record<Attempt, Observation> }).results);
        await recorder.settled();
      }, 60_000);

      afterAll(async () => {
        recorder?.stop();
        await context?.close();
        await attacker?.close();
        await api?.close();
      });

      it('makes every attempt from the attacker origin, which differs from the API origin', () => {
        expect(Object.keys(results)).toEqual([...ATTEMPTS]);
        expect(pageErrors).toEqual([]);
        expect(attackerOrigin).not.toBe(new URL(apiUrl).origin);
        // Every request of the page reached the API with the attacker's Origin and the API's Host.
        expect(recorder.received.length).toBeGreaterThanOrEqual(ATTEMPTS.length);
        expect(new Set(recorder.received.map(({ attempt, origin, host }) => `${attempt}: ${origin} -> ${host}`))).toEqual(
          new Set(ATTEMPTS.map((attempt) => `${attempt}: ${attackerOrigin} -> ${new URL(apiUrl).host}`)),
        );
      });

      it('1: a credentialed JSON clearCache fetch is rejected by the browser, as its preflight gets no CORS headers, and never POSTed', () => {
        expect(results['json-clear']).toMatchObject({ outcome: 'rejected', error: 'TypeError' });
        expect(during('json-clear').map(({ method, preflightFor, corsHeaders }) => ({ method, preflightFor, corsHeaders }))).toEqual([
          { method: 'OPTIONS', preflightFor: 'POST', corsHeaders: [] },
        ]);
      });

      it('2: a no-cors text/plain clearCache POST is opaque to the page and refused by the CSRF check with 403', () => {
        expect(results['no-cors-text-clear']).toEqual({ outcome: 'resolved', type: 'opaque', status: 0, body: '' });
        const received = during('no-cors-text-clear');
        expect(received.map(({ method, contentType, status }) => ({ method, contentType, status }))).toEqual([
          { method: 'POST', contentType: expect.stringMatching(/^text\/plain/), status: 403 },
        ]);
        expect(received[0]!.body).toContain(CSRF_REFUSAL);
      });

      it('3: an HTML form POST (application/x-www-form-urlencoded) into an iframe is refused by the CSRF check with 403, unreadable to the page', () => {
        expect(results['form-urlencoded-clear']).toMatchObject({ outcome: 'loaded', contentDocument: null, readable: 'unreadable: SecurityError' });
        const received = during('form-urlencoded-clear');
        expect(received.map(({ method, contentType, status }) => ({ method, contentType, status }))).toEqual([
          { method: 'POST', contentType: 'application/x-www-form-urlencoded', status: 403 },
        ]);
        expect(received[0]!.body).toContain(CSRF_REFUSAL);
      });

      it('4: an HTML form POST (multipart/form-data) into an iframe is refused by the CSRF check with 403, unreadable to the page', () => {
        expect(results['form-multipart-clear']).toMatchObject({ outcome: 'loaded', contentDocument: null, readable: 'unreadable: SecurityError' });
        const received = during('form-multipart-clear');
        expect(received.map(({ method, contentType, status }) => ({ method, contentType, status }))).toEqual([
          { method: 'POST', contentType: expect.stringMatching(/^multipart\/form-data; boundary=/), status: 403 },
        ]);
        expect(received[0]!.body).toContain(CSRF_REFUSAL);
      });

      it("5: a cross-origin JSON read of everyone's prompts (cacheEntries) is rejected by the browser and never POSTed", () => {
        expect(results['json-read']).toMatchObject({ outcome: 'rejected', error: 'TypeError' });
        expect(during('json-read').map(({ method, preflightFor, corsHeaders }) => ({ method, preflightFor, corsHeaders }))).toEqual([
          { method: 'OPTIONS', preflightFor: 'POST', corsHeaders: [] },
        ]);
      });

      it('answers every cross-site POST that reached the server with 403', () => {
        const posts = recorder.received.filter((entry) => entry.method === 'POST');
        expect(posts.map((entry) => entry.attempt)).toEqual(['no-cors-text-clear', 'form-urlencoded-clear', 'form-multipart-clear']);
        expect(posts.map((entry) => entry.status)).toEqual([403, 403, 403]);
      });

      it("sends no CORS header (access-control-allow-origin or any other) in any answer to the attacker's origin", () => {
        const toAttacker = recorder.received.filter((entry) => entry.origin === attackerOrigin);
        expect(toAttacker.length).toBeGreaterThanOrEqual(ATTEMPTS.length);
        expect(toAttacker.flatMap((entry) => entry.corsHeaders ?? ['(not answered)'])).toEqual([]);
      });

      it('changes nothing: the same three cached keys, entries, settings and statistics', () => {
        expect(state(harness)).toEqual(before);
        expect(harness.cache.stats().entries).toBe(3);
      });
    });
  }

  describe(`a page of ${REBOUND_SITE} whose name was rebound to 127.0.0.1 (same origin as the API by that name)`, () => {
    let harness: Harness;
    let api: Listening;
    let recorder: Recorder;
    let context: BrowserContext;
    let page: Page;
    let before: ReturnType<typeof state>;
    let origin: string;

    beforeAll(async () => {
      harness = createHarness();
      await generateAll(harness, ['a', 'b', 'c']);
      before = state(harness);
      api = await listen(harness);
      origin = `http://${REBOUND_SITE}:${portOf(api.url)}`;
      recorder = recordRequests(harness.server, () => 'rebound');
      ({ context, page } = await newContext());
      // The attacker's script runs in a document of the rebound origin, as after the rebinding.
      await page.goto(`${origin}/ready`);
    }, 60_000);

    afterAll(async () => {
      recorder?.stop();
      await context?.close();
      await api?.close();
    });

    const post = (query: string) =>
      page.evaluate(async (body) => {
        const response = await fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] } };
      }, JSON.stringify({ query }));

    it('answers clearCache FORBIDDEN, as the Host is not a loopback name, and clears nothing', async () => {
      const { body } = await post(CLEAR);
      expect(body.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
      expect(body.data).toBeNull();
      const received = recorder.received.filter((entry) => entry.method === 'POST');
      expect(received.at(-1)).toMatchObject({ host: `${REBOUND_SITE}:${portOf(api.url)}`, origin });
      expect(state(harness)).toEqual(before);
    });

    it('answers a cacheEntries read FORBIDDEN, revealing no prompt', async () => {
      const { body } = await post(READ);
      expect(body.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
      expect(JSON.stringify(body)).not.toMatch(/"prompt"/);
      expect(harness.cache.stats().entries).toBe(3);
    });
  });

  describe("control: the API's own origin", () => {
    it.each(['127.0.0.1', 'localhost'])(
      'a JSON clearCache fetch from the GraphiQL page of http://%s:<port> (same origin) clears the cache: removed 3',
      async (hostName) => {
        const harness = createHarness();
        await generateAll(harness, ['a', 'b', 'c']);
        const api = await listen(harness);
        const recorder = recordRequests(harness.server, () => 'control');
        const { context, page, pageErrors } = await newContext();
        try {
          const url = `http://${hostName}:${portOf(api.url)}/graphql`;
          await page.goto(url);
          expect(await page.title()).toBe('gencache');

          const answer = await page.evaluate(async (body) => {
            const response = await fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
            return { status: response.status, body: (await response.json()) as unknown };
          }, JSON.stringify({ query: CLEAR }));
          await recorder.settled();

          expect(answer).toEqual({ status: 200, body: { data: { clearCache: { removed: 3 } } } });
          expect(harness.cache.stats().entries).toBe(0);
          expect(cachedKeys(harness)).toEqual([]);
          // The browser sent its Origin, the server's own, with the POST (GraphiQL's own
          // introspection POSTs are left aside).
          const posts = recorder.received.filter((entry) => entry.method === 'POST' && entry.body.includes('"clearCache"'));
          expect(posts.map(({ origin, host, status }) => ({ origin, host, status }))).toEqual([
            { origin: new URL(url).origin, host: new URL(url).host, status: 200 },
          ]);
          expect(pageErrors).toEqual([]);
        } finally {
          recorder.stop();
          await context.close();
          await api.close();
        }
      },
      60_000,
    );
  });
});
