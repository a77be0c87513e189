import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CacheConfigDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, listen, postOperation, type Harness, type Listening } from './helpers/harness.js';

// The real renderer, counted: the page must be rendered once however many requests ask for it.
vi.mock('@graphql-yoga/render-graphiql', async (importOriginal) => {
  const original = await importOriginal<typeof import('@graphql-yoga/render-graphiql')>();
  return { ...original, renderGraphiQL: vi.fn(original.renderGraphiQL) };
});
const renders = vi.mocked(renderGraphiQL);

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The bytes as they came on the wire, not decoded. */
  readonly body: Buffer;
}

/** A GET with exactly these headers (fetch would add an Accept-Encoding of its own). */
function get(url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** What a browser's navigation asks for, but the encodings. */
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const page = (url: string, headers: Record<string, string> = {}) => get(url, { accept: HTML, ...headers });

const decoded = ({ headers, body }: Answer): Buffer => {
  switch (headers['content-encoding']) {
    case undefined:
      return body;
    case 'br':
      return brotliDecompressSync(body);
    case 'gzip':
      return gunzipSync(body);
    default:
      throw new Error(`unexpected Content-Encoding: ${headers['content-encoding']}`);
  }
};

describe('the GraphiQL page', () => {
  let harness: Harness;
  let server: Listening;
  /** The page as served without Accept-Encoding. */
  let identity: Answer;

  beforeAll(async () => {
    harness = createHarness();
    server = await listen(harness);
    identity = await page(server.url);
  });
  afterAll(async () => {
    await server.close();
  });

  it('is served in identity without Accept-Encoding, with its title and example query', () => {
    const text = identity.body.toString('utf8');

    expect(identity.status).toBe(200);
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(identity.headers['content-type']).toBe('text/html');
    expect(Number(identity.headers['content-length'])).toBe(identity.body.length);
    expect(text).toContain('<title>gencache</title>');
    expect(text).toContain('Write a haiku about caching');
    // Its operations go to another URL than the page's, so that their POSTs leave it in the cache.
    expect(text).toContain('"endpoint":"?graphiql"');
  });

  it.each([
    ['br', 'br'],
    ['gzip', 'gzip'],
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip, deflate', 'gzip'],
    ['x-gzip', 'gzip'],
    ['BR;Q=1', 'br'],
    ['br;q=0.5, gzip;q=0.8', 'gzip'],
    ['gzip;q=0.8, br;q=0.8', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['br;q=0.001', 'br'],
    ['br;q=0, gzip;q=0', 'identity'],
    ['*', 'br'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['gzip;q=0.5, identity', 'identity'],
    ['br;q=0.5, *;q=0.9', 'gzip'],
    ['identity', 'identity'],
    ['deflate, zstd', 'identity'],
    ['', 'identity'],
    ['br;q=2, gzip;q=abc', 'identity'],
    // Every coding refused, identity too: the header is disregarded rather than answered 406.
    ['identity;q=0, *;q=0', 'identity'],
  ])('answers Accept-Encoding: %s in %s, decoding to the same page', async (acceptEncoding, coding) => {
    const answer = await page(server.url, { 'accept-encoding': acceptEncoding });

    expect(answer.status).toBe(200);
    expect(answer.headers['content-encoding']).toBe(coding === 'identity' ? undefined : coding);
    expect(Number(answer.headers['content-length'])).toBe(answer.body.length);
    expect(decoded(answer).equals(identity.body)).toBe(true);
  });

  it('compresses the page to a fraction of its size', async () => {
    const br = await page(server.url, { 'accept-encoding': 'br' });
    const gzip = await page(server.url, { 'accept-encoding': 'gzip' });
    const sizes = { identity: identity.body.length, gzip: gzip.body.length, br: br.body.length };
    console.log(`GraphiQL page bytes: ${JSON.stringify(sizes)}`);

    expect(sizes.gzip).toBeLessThan(sizes.identity / 3);
    expect(sizes.br).toBeLessThan(sizes.gzip);
  });

  it('tags each representation with its own strong ETag, from the hash of the page', async () => {
    const hash = createHash('sha256').update(identity.body).digest('base64url');
    const etags = await Promise.all(['identity', 'gzip', 'br'].map(async (coding) => (await page(server.url, { 'accept-encoding': coding })).headers.etag));

    expect(etags).toEqual([`"${hash}"`, `"${hash}-gzip"`, `"${hash}-br"`]);
  });

  it('says how it may be cached: Vary on Accept and Accept-Encoding, revalidated before each use', () => {
    expect(identity.headers.vary).toBe('Accept, Accept-Encoding');
    expect(identity.headers['cache-control']).toBe('no-cache');
  });

  it.each(['identity', 'gzip', 'br'])('answers 304 without a body to an If-None-Match with the ETag of the %s page', async (coding) => {
    const first = await page(server.url, { 'accept-encoding': coding });

    const again = await page(server.url, { 'accept-encoding': coding, 'if-none-match': first.headers.etag! });

    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers).toMatchObject({ etag: first.headers.etag, vary: 'Accept, Accept-Encoding', 'cache-control': 'no-cache' });
    expect(again.headers['content-encoding']).toBeUndefined();
    expect(again.headers['content-type']).toBeUndefined();
  });

  it('compares If-None-Match weakly, in a list, and takes * as any', async () => {
    const { etag } = (await page(server.url, { 'accept-encoding': 'br' })).headers;
    for (const ifNoneMatch of [`"other", W/${etag}`, `"a,b", ${etag}`, '*']) {
      const again = await page(server.url, { 'accept-encoding': 'br', 'if-none-match': ifNoneMatch });
      expect(again.status, ifNoneMatch).toBe(304);
    }
  });

  it('answers 200 with the page to an If-None-Match with another ETag', async () => {
    const again = await page(server.url, { 'accept-encoding': 'br', 'if-none-match': '"another-page"' });

    expect(again.status).toBe(200);
    expect(again.headers['content-encoding']).toBe('br');
    expect(decoded(again).equals(identity.body)).toBe(true);
  });

  it('answers 200 to the ETag of another coding than the one negotiated', async () => {
    const { etag } = (await page(server.url, { 'accept-encoding': 'br' })).headers;

    const gzip = await page(server.url, { 'accept-encoding': 'gzip', 'if-none-match': etag! });

    expect(gzip.status).toBe(200);
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gzip.headers.etag).not.toBe(etag);
  });

  it('leaves GraphQL over GET alone: no validator, no coding', async () => {
    const answer = await get(`${server.url}?query=${encodeURIComponent('{ __typename }')}`, { accept: 'application/json', 'accept-encoding': 'br, gzip' });

    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ data: { __typename: 'Query' } });
    expect(answer.headers.etag).toBeUndefined();
    expect(answer.headers['content-encoding']).toBeUndefined();
  });

  it('keeps the fast lane on: JSON POSTs take it, while the page is served by Yoga and the plugin', async () => {
    expect(harness.fastLane).toBeDefined();
    const serve = vi.spyOn(harness.fastLane!, 'serve');

    dataOf(await postOperation(fetch, server.url, CacheConfigDocument));
    const html = await page(server.url, { 'accept-encoding': 'br' });

    expect(await Promise.all(serve.mock.results.map((result) => result.value))).toEqual([true]);
    expect(html.headers['content-encoding']).toBe('br');
    serve.mockRestore();
  });
});

describe('the GraphiQL page, computed once', () => {
  let server: Listening | undefined;
  afterAll(async () => {
    await server?.close();
  });

  it('renders the page once for 30 requests, 20 of them at once before it is ready, in every coding', async () => {
    server = await listen(createHarness());
    const before = renders.mock.calls.length;
    const codings = ['br', 'gzip', 'identity', 'gzip;q=0.5, br'];

    const concurrent = await Promise.all(Array.from({ length: 20 }, (_, index) => page(server!.url, { 'accept-encoding': codings[index % codings.length]! })));
    const sequential: Answer[] = [];
    for (let index = 0; index < 10; index++) sequential.push(await page(server.url, { 'accept-encoding': codings[index % codings.length]! }));

    expect(renders.mock.calls.length - before).toBe(1);
    expect([...concurrent, ...sequential].map((answer) => answer.status)).toEqual(Array(30).fill(200));
    const pages = new Set([...concurrent, ...sequential].map((answer) => decoded(answer).toString('base64')));
    expect(pages.size).toBe(1);
  });
});

describe('the GraphiQL page with CORS', () => {
  const ORIGIN = 'https://ui.example.test';
  // Two origins, so that Yoga's CORS varies on Origin.
  const ORIGINS = `${ORIGIN},https://other.example.test`;
  let server: Listening | undefined;
  afterAll(async () => {
    await server?.close();
  });

  it("keeps Yoga's CORS headers, and adds to its Vary", async () => {
    server = await listen(createHarness({ env: { CORS_ORIGINS: ORIGINS } }));

    const answer = await page(server.url, { 'accept-encoding': 'gzip', origin: ORIGIN });
    const revalidated = await page(server.url, { 'accept-encoding': 'gzip', origin: ORIGIN, 'if-none-match': answer.headers.etag! });

    expect(answer.headers).toMatchObject({ 'content-encoding': 'gzip', 'access-control-allow-origin': ORIGIN, vary: 'Origin, Accept, Accept-Encoding' });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers).toMatchObject({ 'access-control-allow-origin': ORIGIN, vary: 'Origin, Accept, Accept-Encoding' });
  });
});
