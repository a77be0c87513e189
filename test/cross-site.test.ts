import { request } from 'node:http';
import { print } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createClient as createWsClient } from 'graphql-ws';
import { CacheEventsDocument, ClearCacheDocument } from '../src/generated/graphql.js';
import { cachedKeys, createHarness, generateAll, serve, type Harness } from './helpers/harness.js';
import { rawPost, type RawResponse } from './helpers/http.js';

/**
 * A page of another site, in a browser on the server's machine, must not reach the admin surface
 * that a server without ADMIN_TOKEN opens to loopback clients: not by a form post (CSRF), not by
 * reading across origins (CORS), not through a name rebound to 127.0.0.1 (DNS rebinding), on any
 * transport. test/cross-site-browser.test.ts tries the same from a real browser.
 */

const CLEAR = print(ClearCacheDocument);
const EVIL = 'https://evil.example';

/** A server without ADMIN_TOKEN (or with the environment given), holding three generations. */
async function seeded(env: Record<string, string> = {}, fastLane = true): Promise<{ harness: Harness; url: string }> {
  const harness = createHarness({ env, fastLane });
  await generateAll(harness, ['one', 'two', 'three']);
  return { harness, url: await serve(harness) };
}

const json = (text: string) => JSON.parse(text) as { data?: { clearCache?: { removed: number } } | null; errors?: { extensions?: { code?: string } }[] };
const codes = (response: RawResponse) => (json(response.body).errors ?? []).map((error) => error.extensions?.code);

/** An OPTIONS preflight as a browser sends it before a cross-origin JSON POST. */
function preflight(url: string, origin: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject).end();
  });
}

describe('form posts and other requests a page can send without a preflight (CSRF)', () => {
  it.each([
    ['application/x-www-form-urlencoded', `query=${encodeURIComponent(CLEAR)}`],
    ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: CLEAR })}\r\n--x--\r\n`],
    ['text/plain', JSON.stringify({ query: CLEAR })],
  ])('refuses a %s POST of an admin mutation with 403, changing nothing', async (contentType, body) => {
    const { harness, url } = await seeded();
    const keys = cachedKeys(harness);

    const response = await rawPost(url, body, { 'content-type': contentType });

    expect(response.status).toBe(403);
    expect(json(response.body).errors?.[0]).toMatchObject({ message: 'Required CSRF header(s) not present', extensions: { code: 'FORBIDDEN' } });
    expect(cachedKeys(harness)).toEqual(keys);
  });

  it('serves a form post that carries the CSRF header, which a page of another site cannot set without a preflight', async () => {
    const { harness, url } = await seeded();

    const response = await rawPost(url, `query=${encodeURIComponent(CLEAR)}`, {
      'content-type': 'application/x-www-form-urlencoded',
      'x-graphql-yoga-csrf': '1',
    });

    expect(response.status).toBe(200);
    expect(json(response.body).data?.clearCache?.removed).toBe(3);
    expect(cachedKeys(harness)).toEqual([]);
  });

  it('leaves GET queries alone: they run no mutation, and another site cannot read them', async () => {
    const { url } = await seeded();

    const response = await fetch(`${url}?query=${encodeURIComponent('{ cacheConfig { enabled } }')}`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { cacheConfig: { enabled: true } } });
  });
});

describe.each([
  ['the fast lane', true],
  ["Yoga's adapter", false],
])('admin without a token over HTTP, through %s', (_path, fastLane) => {
  it.each([
    ['an Origin of another site', { origin: EVIL }],
    ['the null Origin of a sandboxed page', { origin: 'null' }],
    ['another port of this machine as Origin', { origin: 'http://127.0.0.1:1' }],
    ['a Host rebound to this machine', { host: 'evil.example' }],
    ['a rebound Host and its own Origin', { host: 'evil.example', origin: 'http://evil.example' }],
  ])('refuses a JSON POST with %s as FORBIDDEN, changing nothing', async (_name, headers) => {
    const { harness, url } = await seeded({}, fastLane);
    const keys = cachedKeys(harness);
    const serve = harness.fastLane && vi.spyOn(harness.fastLane, 'serve');

    const response = await rawPost(url, JSON.stringify({ query: CLEAR }), { 'content-type': 'application/json', ...headers });

    expect(codes(response)).toEqual(['FORBIDDEN']);
    expect(cachedKeys(harness)).toEqual(keys);
    // The lane answers requests without an Origin; Yoga the others.
    if (serve) expect(serve).toHaveBeenCalledTimes('origin' in headers ? 0 : 1);
  });

  it.each([
    ['no Origin', {}],
    ['its own Origin', { origin: 'own' }],
    ['the name localhost', { host: 'localhost' }],
  ])('grants a JSON POST from this machine with %s', async (_name, headers: { origin?: string; host?: string }) => {
    const { harness, url } = await seeded({}, fastLane);
    const { host } = new URL(url);
    const port = host.split(':')[1];
    const sent: Record<string, string> = { 'content-type': 'application/json' };
    if (headers.origin === 'own') sent['origin'] = `http://${host}`;
    if (headers.host !== undefined) sent['host'] = `${headers.host}:${port}`;

    const response = await rawPost(url, JSON.stringify({ query: CLEAR }), sent);

    expect(json(response.body).data?.clearCache?.removed).toBe(3);
    expect(cachedKeys(harness)).toEqual([]);
  });
});

describe('CORS', () => {
  it('answers no CORS headers by default: a page of another site can neither send JSON nor read an answer', async () => {
    const { url } = await seeded();

    const answer = await preflight(url, EVIL);
    const response = await rawPost(url, JSON.stringify({ query: '{ cacheConfig { enabled } }' }), { 'content-type': 'application/json', origin: EVIL });

    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect(answer.headers['access-control-allow-credentials']).toBeUndefined();
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows the origins of CORS_ORIGINS, with credentials, and no other', async () => {
    const { url } = await seeded({ CORS_ORIGINS: 'https://ui.example, http://localhost:5173' });

    const listed = await preflight(url, 'https://ui.example');
    const other = await preflight(url, EVIL);
    const response = await rawPost(url, JSON.stringify({ query: '{ cacheConfig { enabled } }' }), { 'content-type': 'application/json', origin: 'http://localhost:5173' });

    expect(listed.headers).toMatchObject({ 'access-control-allow-origin': 'https://ui.example', 'access-control-allow-credentials': 'true' });
    expect(other.headers['access-control-allow-origin']).not.toBe(EVIL);
    expect(other.headers['access-control-allow-origin']).not.toBe('*');
    expect(response.headers['access-control-allow-origin']).toBe('http://localhost:5173');
  });

  it('grants no admin to a listed origin without the token: CORS lets a page read, not administer', async () => {
    const { harness, url } = await seeded({ CORS_ORIGINS: 'https://ui.example' });
    const keys = cachedKeys(harness);

    const response = await rawPost(url, JSON.stringify({ query: CLEAR }), { 'content-type': 'application/json', origin: 'https://ui.example' });

    expect(codes(response)).toEqual(['FORBIDDEN']);
    expect(cachedKeys(harness)).toEqual(keys);
  });
});

describe('admin subscriptions without a token', () => {
  /** The first result of `cacheEvents` over graphql-ws, from a socket with these upgrade headers. */
  async function overWebSocket(url: string, headers: Record<string, string>) {
    class WithHeaders extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers });
      }
    }
    const client = createWsClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WithHeaders, retryAttempts: 0, lazy: true });
    try {
      const iterator = client.iterate({ query: print(CacheEventsDocument) });
      const first = Promise.race([iterator.next(), new Promise((resolve) => setTimeout(() => resolve('live'), 500))]);
      const result = await first;
      await iterator.return?.();
      return result === 'live' ? 'live' : (result as IteratorResult<{ errors?: { extensions?: { code?: string } }[] }>).value?.errors?.map((error: { extensions?: { code?: string } }) => error.extensions?.code);
    } finally {
      await client.dispose();
    }
  }

  /**
   * `cacheEvents` over SSE (a POST asking for text/event-stream) with these request headers: the
   * codes of its refusal, or 'live' when the stream stays open. Sent with node's HTTP client: fetch
   * would not send an Origin or a Host of the test's choosing.
   */
  function overSse(url: string, headers: Record<string, string>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers } });
      req.on('response', (res) => {
        let text = '';
        const live = setTimeout(() => {
          res.destroy();
          resolve('live');
        }, 500);
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          clearTimeout(live);
          const data = /^data: (.+)$/m.exec(text)?.[1];
          resolve(data === undefined ? text : (JSON.parse(data) as { errors?: { extensions?: { code?: string } }[] }).errors?.map((error) => error.extensions?.code));
        });
      });
      req.on('error', reject).end(JSON.stringify({ query: print(CacheEventsDocument) }));
    });
  }

  it.each([
    ['graphql-ws', overWebSocket],
    ['SSE', overSse],
  ])('refuses cacheEvents over %s to a page of another site and through a rebound name, and allows this machine', async (_transport, subscribe) => {
    const { url } = await seeded();
    const { host } = new URL(url);

    expect(await subscribe(url, { origin: EVIL })).toEqual(['FORBIDDEN']);
    expect(await subscribe(url, { host: `evil.example:${host.split(':')[1]}` })).toEqual(['FORBIDDEN']);
    expect(await subscribe(url, { origin: `http://${host}` })).toBe('live');
  });
});
