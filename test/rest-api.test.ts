import { request, type IncomingHttpHeaders } from 'node:http';
import { Validator } from '@seriousme/openapi-schema-validator';
import { print } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { describe, expect, it, vi } from 'vitest';
import { createFastLane } from '../src/fast-lane.js';
import { CacheConfigDocument, CacheEntriesDocument, CacheStatsDocument, ClearCacheDocument, GenerationDocument } from '../src/generated/graphql.js';
import { useRestApi } from '../src/plugins/use-rest-api.js';
import { captureLogs } from './helpers/logs.js';
import { cachedKeys, createHarness, dataOf, generateAll, postOperation, serve, type Harness } from './helpers/harness.js';

/**
 * The replaced system's REST endpoints under /api (src/plugins/use-rest-api.ts), called as its
 * clients call them, over a real port: what they answer (compared with the GraphQL answer of the
 * same field), the admin rule, bad values, the OpenAPI document, cross-site requests, trusted
 * documents, the body limit, and the fast lane, which must stay on with them installed.
 */

const TOKEN = 'rest-api-admin-token-of-some-length';
const ADMIN = { authorization: `Bearer ${TOKEN}` };
const JSON_TYPE = { 'content-type': 'application/json' };
const EVIL = 'https://evil.example';

interface ErrorsBody {
  readonly errors: readonly { readonly message: string; readonly extensions: { readonly code: string } }[];
}

interface Answer<TBody = unknown> {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: TBody;
}

/**
 * A request with exactly these headers (as `curl -X METHOD -H ... -d BODY` sends it; fetch would
 * add its own), its JSON answer parsed. Every answer of the REST API is JSON.
 */
function send<TBody = unknown>(method: string, url: string, headers: Record<string, string> = {}, body?: string, chunked = false): Promise<Answer<TBody>> {
  return new Promise((resolve, reject) => {
    const bytes = body === undefined ? undefined : Buffer.from(body);
    const length = bytes === undefined || chunked ? {} : { 'content-length': String(bytes.length) };
    const req = request(url, { method, headers: { ...length, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          expect(res.headers['content-type'], `${method} ${url}: ${text}`).toMatch(/^application\/(graphql-response\+)?json/);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as TBody });
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    req.on('error', reject);
    if (bytes === undefined) return void req.end();
    if (!chunked) return void req.end(bytes);
    for (let offset = 0; offset < bytes.length; offset += 100) req.write(bytes.subarray(offset, offset + 100));
    req.end();
  });
}

/** A served app (with ADMIN_TOKEN unless the environment says otherwise) holding three generations, one hit once. */
async function seeded(env: Record<string, string> = { ADMIN_TOKEN: TOKEN }): Promise<{ harness: Harness; api: string }> {
  const harness = createHarness({ env });
  for (const prompt of ['one', 'two', 'three', 'one']) {
    if (env['TRUSTED_DOCUMENTS'] === undefined) {
      await generateAll(harness, [prompt]);
      continue;
    }
    // Trusted documents only: the generation named by its id.
    const documentId = (GenerationDocument as unknown as { __meta__: { hash: string } }).__meta__.hash;
    // A fresh headers object: Yoga's Fetch API keeps the one it is given, and sets Content-Length on it.
    const response = await harness.yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { ...JSON_TYPE }, body: JSON.stringify({ documentId, variables: { input: { prompt } } }) });
    expect(await response.json()).not.toHaveProperty('errors');
  }
  const url = await serve(harness);
  return { harness, api: url.replace(/\/graphql$/, '/api') };
}

/** Everything an admin call could change. */
function state(harness: Harness) {
  const { since: _since, ...stats } = harness.service.stats();
  return { stats, settings: harness.cache.settings, keys: cachedKeys(harness) };
}

const codesOf = (answer: Answer<unknown>) => (answer.body as ErrorsBody).errors.map((error) => error.extensions.code);

describe('the five endpoints, called as the old clients call them', () => {
  it('GET /api/cache/stats answers the cacheStats object', async () => {
    const { harness, api } = await seeded();

    const answer = await send('GET', `${api}/cache/stats`);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(dataOf(await harness.execute(CacheStatsDocument)).cacheStats);
    expect(answer.body).toMatchObject({ entries: 3, hits: 1, misses: 3 });
  });

  it('GET /api/cache/config answers the cacheConfig object, without a token', async () => {
    const { harness, api } = await seeded();

    const answer = await send('GET', `${api}/cache/config`);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(dataOf(await harness.execute(CacheConfigDocument)).cacheConfig);
  });

  it('POST /api/cache/config takes the settings object itself as its body, and answers the settings', async () => {
    const { harness, api } = await seeded();

    const answer = await send('POST', `${api}/cache/config`, { ...ADMIN, ...JSON_TYPE }, JSON.stringify({ maxEntries: 2, defaultTtlSeconds: 60 }));

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ enabled: true, maxEntries: 2, maxBytes: harness.cache.settings.maxBytes, defaultTtlSeconds: 60 });
    expect(harness.cache.settings).toMatchObject({ maxEntries: 2, defaultTtlSeconds: 60 });
    expect(cachedKeys(harness)).toHaveLength(2);
  });

  it('POST /api/cache/clear removes every entry, and answers what it removed', async () => {
    const { harness, api } = await seeded();
    const { bytes } = harness.service.stats();

    const answer = await send('POST', `${api}/cache/clear`, { ...ADMIN, ...JSON_TYPE });

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ removed: 3, freedBytes: bytes, shared: null });
    expect(cachedKeys(harness)).toEqual([]);
  });

  it('GET /api/cache/entries answers a JSON list of entries a page at a time, with X-Total-Count and a Link to the next page', async () => {
    const { harness, api } = await seeded();
    const graphql = dataOf(await harness.execute(CacheEntriesDocument, { first: 2 }, ADMIN)).cacheEntries;

    const first = await send<{ key: string }[]>('GET', `${api}/cache/entries?first=2`, ADMIN);

    expect(first.status).toBe(200);
    expect(first.body).toEqual(graphql.edges.map((edge) => edge.node));
    expect(first.headers['x-total-count']).toBe('3');
    const next = /^<([^>]+)>; rel="next"$/.exec(String(first.headers['link'] ?? ''))?.[1];
    expect(next).toBe(`/api/cache/entries?first=2&after=${encodeURIComponent(graphql.pageInfo.endCursor!)}`);
    const second = await send<{ key: string }[]>('GET', `${api.replace(/\/api$/, '')}${next}`, ADMIN);
    expect(second.status).toBe(200);
    expect(second.headers['link']).toBeUndefined();
    expect([...first.body, ...second.body].map((entry) => entry.key)).toEqual(cachedKeys(harness));
  });

  it('GET /api/cache/entries takes orderBy and model as query parameters', async () => {
    const { harness, api } = await seeded();
    const { model } = [...harness.cache.entries()][0]!.record;

    const leastRecent = await send<{ key: string }[]>('GET', `${api}/cache/entries?orderBy=LEAST_RECENT`, ADMIN);
    const ofModel = await send<unknown[]>('GET', `${api}/cache/entries?model=${model}`, ADMIN);
    const ofOther = await send<unknown[]>('GET', `${api}/cache/entries?model=no-such-model`, ADMIN);

    expect(leastRecent.body.map((entry) => entry.key)).toEqual(cachedKeys(harness).reverse());
    expect(ofModel.body).toHaveLength(3);
    expect(ofOther.body).toEqual([]);
    expect(ofOther.headers['x-total-count']).toBe('0');
  });
});

describe('the admin rule, as on /graphql', () => {
  const ADMIN_CALLS: [string, string, string, string | undefined][] = [
    ['POST /api/cache/clear', 'POST', '/cache/clear', undefined],
    ['POST /api/cache/config', 'POST', '/cache/config', JSON.stringify({ maxEntries: 1 })],
    ['GET /api/cache/entries', 'GET', '/cache/entries', undefined],
  ];

  it.each(ADMIN_CALLS)('refuses %s without the token with 401 UNAUTHENTICATED as JSON, changing nothing', async (_name, method, path, body) => {
    const { harness, api } = await seeded();
    const before = state(harness);

    const refused: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-token' }, { authorization: TOKEN }];
    for (const headers of refused) {
      const answer = await send(method, `${api}${path}`, { ...JSON_TYPE, ...headers }, body);

      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('Bearer');
      expect(answer.body).toEqual({ errors: [{ message: 'admin access needs the header Authorization: Bearer <ADMIN_TOKEN>', extensions: { code: 'UNAUTHENTICATED' } }] });
    }
    expect(state(harness)).toEqual(before);
  });

  it.each(ADMIN_CALLS)('refuses %s without ADMIN_TOKEN to a page of another site or a rebound name with 403 FORBIDDEN, changing nothing', async (_name, method, path, body) => {
    const { harness, api } = await seeded({});
    const before = state(harness);
    const port = new URL(api).port;

    const crossSite: Record<string, string>[] = [{ origin: EVIL }, { origin: 'null' }, { host: `evil.example:${port}` }];
    for (const headers of crossSite) {
      const answer = await send(method, `${api}${path}`, { ...JSON_TYPE, ...headers }, body);

      expect(answer.status, JSON.stringify(headers)).toBe(403);
      expect(codesOf(answer)).toEqual(['FORBIDDEN']);
    }
    expect(state(harness)).toEqual(before);
  });

  it('grants, without ADMIN_TOKEN, a client on this machine with no Origin or its own', async () => {
    const { harness, api } = await seeded({});

    const entries = await send<unknown[]>('GET', `${api}/cache/entries`, { origin: new URL(api).origin });
    const cleared = await send('POST', `${api}/cache/clear`, JSON_TYPE);

    expect(entries.body).toHaveLength(3);
    expect(cleared.body).toMatchObject({ removed: 3 });
    expect(cachedKeys(harness)).toEqual([]);
  });
});

describe('bad requests', () => {
  it.each([
    ['maxEntries: 0', '{"maxEntries": 0}', 'maxEntries must be an integer from 1 to 1000000, got 0'],
    ['a string for maxEntries', '{"maxEntries": "ten"}', 'Variable "$input" got invalid value "ten" at "input.maxEntries"; Int cannot represent non-integer value: "ten"'],
    ['a string for enabled', '{"enabled": "yes"}', 'Variable "$input" got invalid value "yes" at "input.enabled"; Boolean cannot represent a non boolean value: "yes"'],
    ['null for maxEntries', '{"maxEntries": null}', 'maxEntries must not be null; leave it out to keep its value'],
    ['an unknown setting', '{"maxSize": 3}', 'Variable "$input" got invalid value { maxSize: 3 }; Field "maxSize" is not defined by type "CacheConfigInput".'],
    ['the settings wrapped in input', '{"input": {"maxEntries": 3}}', 'Variable "$input" got invalid value { input: { maxEntries: 3 } }; Field "input" is not defined by type "CacheConfigInput".'],
    ['a body that is not JSON', 'maxEntries=3', 'the body must be a JSON object of settings (enabled, maxEntries, maxBytes, defaultTtlSeconds), such as {"maxEntries": 100}; it is not JSON'],
    ['an empty body', '', 'the body must be a JSON object of settings (enabled, maxEntries, maxBytes, defaultTtlSeconds), such as {"maxEntries": 100}; it is not JSON'],
    ['a JSON array', '[{"maxEntries": 3}]', 'the body must be a JSON object of settings (enabled, maxEntries, maxBytes, defaultTtlSeconds), such as {"maxEntries": 100}; got an array'],
  ])('refuses POST /api/cache/config with %s as 400 BAD_USER_INPUT, changing nothing', async (_name, body, message) => {
    const { harness, api } = await seeded();
    const before = state(harness);

    const answer = await send('POST', `${api}/cache/config`, { ...ADMIN, ...JSON_TYPE }, body);

    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] });
    expect(state(harness)).toEqual(before);
  });

  it.each([
    ['first=abc', 'Int cannot represent non-integer value: "abc"'],
    ['first=5000', 'first must be from 0 to 1000, got 5000'],
    ['orderBy=OLDEST', 'Variable "$orderBy" got invalid value "OLDEST"'],
    ['after=not-a-cursor', 'after: '],
    ['tier=SHARED', 'tier SHARED: there is no shared tier (REDIS_URL is not set)'],
  ])('refuses GET /api/cache/entries?%s as 400 BAD_USER_INPUT', async (query, message) => {
    const { api } = await seeded();

    const answer = await send<ErrorsBody>('GET', `${api}/cache/entries?${query}`, ADMIN);

    expect(answer.status).toBe(400);
    expect(codesOf(answer)).toEqual(['BAD_USER_INPUT']);
    expect(answer.body.errors[0]!.message).toContain(message);
  });

  it('answers an unexpected failure with 500 and a masked message, and logs it', async () => {
    const { logger, lines } = captureLogs('error');
    const harness = createHarness({ env: { ADMIN_TOKEN: TOKEN }, logger });
    vi.spyOn(harness.cache, 'clear').mockRejectedValue(new Error('the disk is on fire'));
    const api = (await serve(harness)).replace(/\/graphql$/, '/api');

    const answer = await send('POST', `${api}/cache/clear`, { ...ADMIN, ...JSON_TYPE });

    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
    expect(lines.some((line) => JSON.stringify(line).includes('the disk is on fire'))).toBe(true);
  });

  it.each([
    ['GET', '/generation'],
    ['POST', '/webhook'],
    ['GET', '/docs'],
    ['GET', '/cache'],
    ['GET', '/cache/stats/'],
    ['GET', ''],
  ])('answers %s /api%s with 404 NOT_FOUND: only the five endpoints exist, no other field, no subscription webhook', async (method, path) => {
    const { harness, api } = await seeded();
    const before = state(harness);

    const answer = await send(method, `${api}${path}`, { ...ADMIN, ...JSON_TYPE }, method === 'POST' ? '{}' : undefined);

    expect(answer.status).toBe(404);
    expect(codesOf(answer)).toEqual(['NOT_FOUND']);
    expect(state(harness)).toEqual(before);
  });

  it.each([
    ['GET', '/cache/clear', 'POST'],
    ['POST', '/cache/stats', 'GET'],
    ['POST', '/cache/entries', 'GET'],
    ['PUT', '/cache/config', 'GET, POST'],
    ['DELETE', '/cache/clear', 'POST'],
  ])('answers %s /api%s with 405 and Allow: %s', async (method, path, allow) => {
    const { harness, api } = await seeded();
    const before = state(harness);

    const answer = await send(method, `${api}${path}`, { ...ADMIN, ...JSON_TYPE });

    expect(answer.status).toBe(405);
    expect(answer.headers['allow']).toBe(allow);
    expect(codesOf(answer)).toEqual(['METHOD_NOT_ALLOWED']);
    expect(state(harness)).toEqual(before);
  });
});

describe('the OpenAPI document', () => {
  it('GET /api/openapi.json is a valid OpenAPI 3 document listing the five endpoints', async () => {
    const { api } = await seeded();

    const { status, body: document } = await send<{
      openapi: string;
      servers: { url: string }[];
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
    }>('GET', `${api}/openapi.json`);

    expect(status).toBe(200);
    const validation = await new Validator().validate(document as unknown as Record<string, unknown>);
    expect(validation.errors).toBeUndefined();
    expect(validation.valid).toBe(true);
    expect(document.openapi).toMatch(/^3\./);
    const [server] = document.servers;
    const endpoints = Object.entries(document.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${server!.url}${path}`));
    expect(endpoints.sort()).toEqual(['GET /api/cache/config', 'GET /api/cache/entries', 'GET /api/cache/stats', 'POST /api/cache/clear', 'POST /api/cache/config']);
    expect(document.paths['/cache/config']!['post']!.requestBody).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/CacheConfigInput' } } } });
    expect(document.paths['/cache/entries']!['get']!.responses['200']!.content!['application/json']!.schema).toEqual({
      type: 'array',
      items: { $ref: '#/components/schemas/CacheEntry' },
    });
  });
});

describe('cross-site requests', () => {
  it.each([
    ['application/x-www-form-urlencoded', 'a=1'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'],
    ['text/plain', '{}'],
  ])('refuses a %s POST to /api/cache/clear without the CSRF header with 403, changing nothing', async (contentType, body) => {
    // Without ADMIN_TOKEN, and from this machine with no Origin: only CSRF prevention stands in the way.
    const { harness, api } = await seeded({});
    const before = state(harness);

    const origins: Record<string, string>[] = [{}, { origin: EVIL }];
    for (const origin of origins) {
      const answer = await send('POST', `${api}/cache/clear`, { 'content-type': contentType, ...origin }, body);

      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({ errors: [{ message: 'Required CSRF header(s) not present', extensions: { code: 'FORBIDDEN' } }] });
    }
    expect(state(harness)).toEqual(before);
  });

  it('serves the old clients\' bare POST to /api/cache/clear (no body, no content type) by the admin rule alone', async () => {
    const { harness, api } = await seeded({});

    const answer = await send('POST', `${api}/cache/clear`);

    expect(answer.status).toBe(200);
    expect(cachedKeys(harness)).toEqual([]);
  });

  it('refuses the same bare POST from a page of another site: its Origin fails the admin rule', async () => {
    const { harness, api } = await seeded({});
    const before = state(harness);

    const answer = await send('POST', `${api}/cache/clear`, { origin: EVIL });

    expect(answer.status).toBe(403);
    expect(codesOf(answer)).toEqual(['FORBIDDEN']);
    expect(state(harness)).toEqual(before);
  });

  it('serves a form-like POST that carries the CSRF header, which a page of another site cannot set without a preflight', async () => {
    const { harness, api } = await seeded({});

    const answer = await send('POST', `${api}/cache/clear`, { 'content-type': 'text/plain', 'x-graphql-yoga-csrf': '1' });

    expect(answer.status).toBe(200);
    expect(cachedKeys(harness)).toEqual([]);
  });

  it('sends no CORS headers without CORS_ORIGINS: another site can neither read an answer nor pass a preflight', async () => {
    const { api } = await seeded();

    const read = await send('GET', `${api}/cache/stats`, { origin: EVIL });
    const preflight = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      const req = request(`${api}/cache/config`, {
        method: 'OPTIONS',
        headers: { origin: EVIL, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      req.on('response', (res) => res.resume().on('end', () => resolve(res.headers)));
      req.on('error', reject).end();
    });

    expect(read.status).toBe(200);
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight['access-control-allow-origin']).toBeUndefined();
    expect(preflight['access-control-allow-methods']).toBeUndefined();
  });

  it('sends CORS headers to the origins of CORS_ORIGINS only', async () => {
    const ui = 'https://ui.example';
    const { api } = await seeded({ ADMIN_TOKEN: TOKEN, CORS_ORIGINS: ui });

    const fromUi = await send('GET', `${api}/cache/entries`, { origin: ui, ...ADMIN });
    const fromEvil = await send('GET', `${api}/cache/stats`, { origin: EVIL });

    expect(fromUi.status).toBe(200);
    expect(fromUi.headers['access-control-allow-origin']).toBe(ui);
    expect(fromEvil.headers['access-control-allow-origin']).not.toBe(EVIL);
    expect(fromEvil.headers['access-control-allow-origin']).not.toBe('*');
  });
});

describe('with TRUSTED_DOCUMENTS=1', () => {
  const TRUSTED = { ADMIN_TOKEN: TOKEN, TRUSTED_DOCUMENTS: '1' };

  it("serves the five endpoints: SOFA's operations are made by the server, not sent by clients", async () => {
    const { harness, api } = await seeded(TRUSTED);

    expect((await send('GET', `${api}/cache/stats`)).status).toBe(200);
    expect((await send('GET', `${api}/cache/config`)).status).toBe(200);
    expect((await send<unknown[]>('GET', `${api}/cache/entries`, ADMIN)).body).toHaveLength(3);
    expect((await send('POST', `${api}/cache/config`, { ...ADMIN, ...JSON_TYPE }, '{"maxEntries": 5}')).body).toMatchObject({ maxEntries: 5 });
    expect((await send('POST', `${api}/cache/clear`, { ...ADMIN, ...JSON_TYPE })).body).toMatchObject({ removed: 3 });
    expect(cachedKeys(harness)).toEqual([]);
  });

  it('still refuses arbitrary GraphQL on /graphql, and no endpoint under /api takes GraphQL text', async () => {
    const { harness, api } = await seeded(TRUSTED);
    const before = state(harness);
    const graphqlUrl = api.replace(/\/api$/, '/graphql');
    const arbitrary = `mutation { clearCache { removed } }`;

    const sent = await send<ErrorsBody>('POST', graphqlUrl, { ...ADMIN, ...JSON_TYPE, accept: 'application/graphql-response+json' }, JSON.stringify({ query: arbitrary }));
    const asSettings = await send('POST', `${api}/cache/config`, { ...ADMIN, ...JSON_TYPE }, JSON.stringify({ query: arbitrary }));
    const asPath = await send('POST', `${api}/graphql`, { ...ADMIN, ...JSON_TYPE }, JSON.stringify({ query: arbitrary }));
    const asQueryString = await send('GET', `${api}/cache/config?query=${encodeURIComponent(arbitrary)}`, ADMIN);

    expect(sent.status).toBe(400);
    expect(codesOf(sent)).toEqual(['PERSISTED_QUERY_ONLY']);
    expect(asSettings.status).toBe(400);
    expect(asPath.status).toBe(404);
    expect(asQueryString.body).toEqual(harness.cache.settings);
    expect(state(harness)).toEqual(before);
  });
});

describe('limits', () => {
  it.each([
    ['with a Content-Length', false],
    ['chunked', true],
  ])('refuses a REST POST over MAX_REQUEST_BODY_BYTES (%s) with 413, changing nothing', async (_name, chunked) => {
    const { harness, api } = await seeded({ ADMIN_TOKEN: TOKEN, MAX_REQUEST_BODY_BYTES: '1024' });
    const before = state(harness);
    const body = JSON.stringify({ maxEntries: 2, padding: 'x'.repeat(2000) });

    const answer = await send('POST', `${api}/cache/config`, { ...ADMIN, ...JSON_TYPE }, body, chunked);

    expect(answer.status).toBe(413);
    expect(codesOf(answer)).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(state(harness)).toEqual(before);
  });
});

describe('the fast lane, with the REST endpoints installed', () => {
  it('stays on, takes POST /graphql, and leaves every REST endpoint to Yoga, which answers it', async () => {
    const { harness, api } = await seeded();
    expect(harness.fastLane).toBeDefined();
    const lane = vi.spyOn(harness.fastLane!, 'serve');
    const graphqlUrl = api.replace(/\/api$/, '/graphql');

    const config = dataOf(await postOperation(fetch, graphqlUrl, CacheConfigDocument, undefined, ADMIN)).cacheConfig;
    expect(await Promise.all(lane.mock.results.map((result) => result.value))).toEqual([true]);

    const answers = [
      await send('GET', `${api}/cache/stats`),
      await send('GET', `${api}/cache/config`),
      await send('GET', `${api}/cache/entries`, ADMIN),
      await send('POST', `${api}/cache/config`, { ...ADMIN, ...JSON_TYPE }, JSON.stringify({ maxEntries: config.maxEntries })),
      await send('POST', `${api}/cache/clear`, { ...ADMIN, ...JSON_TYPE }),
      await send('GET', `${api}/openapi.json`),
    ];

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(answers[1]!.body).toEqual(config);
    expect(answers[2]!.body).toHaveLength(3);
    expect(answers[4]!.body).toMatchObject({ removed: 3 });
    expect(lane).toHaveBeenCalledTimes(1);
    // And the lane still answers after them.
    dataOf(await postOperation(fetch, graphqlUrl, ClearCacheDocument, undefined, ADMIN));
    expect(await lane.mock.results.at(-1)!.value).toBe(true);
  });

  it('its hook returns at once, doing nothing, for every request outside /api (those the lane takes among them)', () => {
    const harness = createHarness();
    const rest = useRestApi();
    const onRequest = rest.onRequest!;
    const requests = [
      new Request('http://127.0.0.1/graphql', { method: 'POST', headers: { ...JSON_TYPE }, body: JSON.stringify({ query: print(CacheConfigDocument) }) }),
      new Request('http://127.0.0.1/graphql', { method: 'POST', headers: { ...JSON_TYPE, ...ADMIN }, body: JSON.stringify({ query: print(ClearCacheDocument) }) }),
      new Request('http://127.0.0.1/graphql?query=%7B__typename%7D'),
      new Request('http://127.0.0.1/health'),
      new Request('http://127.0.0.1/apiary'),
      new Request('http://127.0.0.1/graphql/api/cache/clear', { method: 'POST', headers: { ...JSON_TYPE } }),
    ];

    for (const req of requests) {
      const endResponse = vi.fn();
      const setRequest = vi.fn();
      const payload = {
        request: req,
        url: new URL(req.url),
        endResponse,
        setRequest,
        serverContext: {},
        fetchAPI: harness.yoga.fetchAPI,
        requestHandler: harness.yoga.handle,
        setRequestHandler: vi.fn(),
      } as unknown as Parameters<NonNullable<Plugin['onRequest']>>[0];

      expect(onRequest(payload)).toBeUndefined();
      expect(endResponse).not.toHaveBeenCalled();
      expect(setRequest).not.toHaveBeenCalled();
    }
  });

  it('is on only because it is listed as lane-safe: unlisted, its hook turns the lane off', () => {
    const harness = createHarness();
    const rest = useRestApi();

    expect(createFastLane({ yoga: harness.yoga, plugins: [rest], laneSafe: [] })).toBeUndefined();
    expect(createFastLane({ yoga: harness.yoga, plugins: [rest], laneSafe: [rest] })).toBeDefined();
  });
});
