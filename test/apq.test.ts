import { createHash } from 'node:crypto';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client/core';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { print } from 'graphql';
import { Registry } from 'prom-client';
import { map } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { CacheConfigDocument, GenerationDocument } from '../src/generated/graphql.js';
import manifest from '../src/generated/persisted-documents.json' with { type: 'json' };
import { createPersistedQueryStore, PERSISTED_QUERY_CODES } from '../src/plugins/use-automatic-persisted-queries.js';
import { SECURITY_LIMITS } from '../src/plugins/use-security-limits.js';
import { createGraphQlServer } from '../src/yoga.js';
import { createHarness, serve, type Harness } from './helpers/harness.js';
import { codesOf, send, type TransportResult } from './helpers/transports.js';

/**
 * Automatic persisted queries as Apollo Client sends them, over a real port: a hash alone first,
 * the query with its hash when the server does not know it; registration checked against the
 * query's text, a bounded store, the fast lane, and trusted documents deciding first.
 */

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Parameters naming a query by its hash, with the query or without. */
const byHash = (hash: string, query?: string, variables?: Record<string, unknown>) => ({
  query,
  variables,
  extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
});

/** A plain JSON POST, as clients send it (and so one the fast lane takes). */
const post = (url: string, params: Record<string, unknown>) => send('lane', url, params);

/** A server on a real port, its fast lane watched: `answered()` lists, per request it was offered, whether it answered it. */
async function served(env: Record<string, string> = {}): Promise<{ harness: Harness; url: string; answered: () => Promise<boolean[]> }> {
  const harness = createHarness({ env });
  expect(harness.fastLane).toBeDefined();
  const lane = vi.spyOn(harness.fastLane!, 'serve');
  const url = await serve(harness);
  const answered = () => Promise.all(lane.mock.results.map((result) => result.value as boolean | Promise<boolean>));
  return { harness, url, answered };
}

/** What the server was sent and answered, as a fetch wrapper around Apollo Client's HttpLink sees it. */
interface Exchange {
  readonly method: string;
  /** Whether the query's text was sent. */
  readonly withQuery: boolean;
  readonly hash: string | undefined;
  readonly codes: unknown[];
}

function recordingFetch(exchanges: Exchange[]): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? 'GET';
    const params = (
      method === 'GET'
        ? { query: url.searchParams.get('query') ?? undefined, extensions: JSON.parse(url.searchParams.get('extensions') ?? 'null') as unknown }
        : JSON.parse(String(init?.body))
    ) as { query?: string; extensions?: { persistedQuery?: { sha256Hash?: string } } | null };
    const response = await fetch(input, init);
    const body = (await response.clone().json()) as Omit<TransportResult, 'status'>;
    exchanges.push({ method, withQuery: typeof params.query === 'string', hash: params.extensions?.persistedQuery?.sha256Hash, codes: codesOf({ status: response.status, ...body }) });
    return response;
  };
}

/**
 * An Apollo Client with a fresh cache, sending persisted queries, and the README's link that reads
 * the server's `extensions.cache` of every response (Apollo Client's cache does not keep it).
 */
function apolloClient(uri: string, exchanges: Exchange[], reports: unknown[], useGETForHashedQueries = false) {
  const cacheReport = new ApolloLink((operation, forward) =>
    forward(operation).pipe(
      map((result) => {
        reports.push(result.extensions?.['cache']);
        return result;
      }),
    ),
  );
  return new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([
      cacheReport,
      new PersistedQueryLink({ sha256, useGETForHashedQueries }),
      new HttpLink({ uri, fetch: recordingFetch(exchanges) }),
    ]),
  });
}

describe.each([
  ['POST', false],
  ['GET', true],
] as const)('Apollo Client with persisted queries, hashed queries sent by %s', (method, useGETForHashedQueries) => {
  it('registers the Generation operation once, then runs it by its hash alone: MISS, then HIT', async () => {
    const { harness, url } = await served();
    const exchanges: Exchange[] = [];
    const reports: unknown[] = [];
    const variables = { input: { prompt: `apq over ${method}` } };

    const first = apolloClient(url, exchanges, reports, useGETForHashedQueries);
    const miss = await first.query({ query: GenerationDocument, variables });
    // A second client: its own cache is empty, so it asks the server.
    const second = apolloClient(url, exchanges, reports, useGETForHashedQueries);
    const hit = await second.query({ query: GenerationDocument, variables });

    expect(miss.error).toBeUndefined();
    expect(miss.data?.generation?.cacheStatus).toBe('MISS');
    expect(hit.error).toBeUndefined();
    expect(hit.data?.generation?.cacheStatus).toBe('HIT');
    expect(hit.data?.generation?.key).toBe(miss.data?.generation?.key);
    expect(harness.generator.calls).toHaveLength(1);
    const hash = exchanges[0]?.hash;
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(exchanges).toEqual([
      { method, withQuery: false, hash, codes: [PERSISTED_QUERY_CODES.notFound] },
      // The link falls back to a POST with the query: the registration.
      { method: 'POST', withQuery: true, hash, codes: [] },
      { method, withQuery: false, hash, codes: [] },
    ]);
    const key = miss.data?.generation?.key;
    expect(reports).toEqual([{ generation: { key, status: 'MISS' } }, { generation: { key, status: 'HIT' } }]);
    first.stop();
    second.stop();
  });
});

describe("Apollo Client's own cache", () => {
  it("answers a repeat without asking the server: its cacheStatus stays the first answer's", async () => {
    const { harness, url } = await served();
    const exchanges: Exchange[] = [];
    const reports: unknown[] = [];
    const client = apolloClient(url, exchanges, reports);
    const variables = { input: { prompt: 'apollo cache' } };

    await client.query({ query: GenerationDocument, variables });
    const sent = exchanges.length;
    const repeat = await client.query({ query: GenerationDocument, variables });
    const fromServer = await client.query({ query: GenerationDocument, variables, fetchPolicy: 'network-only' });

    expect(repeat.data?.generation?.cacheStatus).toBe('MISS');
    expect(reports).toHaveLength(2);
    expect(exchanges).toHaveLength(sent + 1);
    expect(fromServer.data?.generation?.cacheStatus).toBe('HIT');
    expect(harness.generator.calls).toHaveLength(1);
    client.stop();
  });
});

describe('registration', () => {
  it('refuses a query under a hash that is not its own, and stores nothing', async () => {
    const { url } = await served();
    const known = print(CacheConfigDocument);
    const other = '{ cacheConfig { enabled } }';
    const unknownHash = sha256('{ cacheConfig { maxEntries } }');

    const registered = await post(url, byHash(sha256(known), known));
    const underKnown = await post(url, byHash(sha256(known), other));
    const underUnknown = await post(url, byHash(unknownHash, other));
    const byKnown = await post(url, byHash(sha256(known)));
    const byUnknown = await post(url, byHash(unknownHash));

    expect(registered.errors).toBeUndefined();
    expect(codesOf(underKnown)).toEqual([PERSISTED_QUERY_CODES.mismatch]);
    expect(underKnown.status).toBe(400);
    expect(underKnown.data).toBeUndefined();
    expect(codesOf(underUnknown)).toEqual([PERSISTED_QUERY_CODES.mismatch]);
    // The hash still names the query registered under it, and the other names nothing.
    expect(byKnown.errors).toBeUndefined();
    expect(byKnown.data).toEqual(registered.data);
    expect(codesOf(byUnknown)).toEqual([PERSISTED_QUERY_CODES.notFound]);
    expect(byUnknown.status).toBe(400);
  });

  it('applies the security limits to a query named by its hash as to one sent', async () => {
    const { harness, url } = await served();
    const query = `{ ${Array.from({ length: SECURITY_LIMITS.aliases + 1 }, (_, index) => `a${index}: generation(input: { prompt: "p" }) { key }`).join(' ')} }`;

    const sent = await post(url, byHash(sha256(query), query));
    const named = await post(url, byHash(sha256(query)));

    expect(codesOf(sent)).toEqual(['BAD_USER_INPUT']);
    expect(sent.errors?.[0]?.message).toMatch(/aliases/i);
    expect(named).toEqual(sent);
    expect(harness.generator.calls).toHaveLength(0);
  });

  it('takes the hash in GraphQL over HTTP form, sha256:<hex>, as the same hash', async () => {
    const { url } = await served();
    const query = print(CacheConfigDocument);

    const registered = await post(url, byHash(`sha256:${sha256(query)}`, query));
    const named = await post(url, byHash(sha256(query)));

    expect(registered.errors).toBeUndefined();
    expect(named.errors).toBeUndefined();
    expect(named.data).toEqual(registered.data);
  });
});

describe('over graphql-ws', () => {
  it('runs a query named by its hash alone, sent with the empty query graphql-ws requires', async () => {
    const { url } = await served();
    const query = print(CacheConfigDocument);

    // A subscribe message must carry a query: the transport sends a hash alone with an empty one.
    const unknown = await send('graphql-ws', url, byHash(sha256(query)));
    const registered = await send('graphql-ws', url, byHash(sha256(query), query));
    const named = await send('graphql-ws', url, byHash(sha256(query)));

    expect(codesOf(unknown)).toEqual([PERSISTED_QUERY_CODES.notFound]);
    expect(registered.errors).toBeUndefined();
    expect(named.errors).toBeUndefined();
    expect(named.data).toEqual(registered.data);
  });
});

describe('the store', () => {
  /** A server over the harness's service with a store of these bounds. */
  async function boundedServer(persistedQueries: { maxQueries?: number; maxBytes?: number }): Promise<string> {
    const harness = createHarness();
    const { service, cache, statsFeed, logger, generator } = harness;
    return serve(createGraphQlServer({ service, cache, statsFeed, logger, generator, adminToken: undefined, metrics: new Registry(), persistedQueries }));
  }
  /** Distinct queries, each `padding` characters longer than the bare one. */
  const queries = (count: number, padding = 0) => Array.from({ length: count }, (_, index) => `query Q${index}${' '.repeat(padding)} { cacheConfig { enabled } }`);

  it('holds at most maxQueries: registering one more forgets the least recently used', async () => {
    const url = await boundedServer({ maxQueries: 3 });
    const [first, ...rest] = queries(4);

    for (const query of [first!, ...rest]) expect((await post(url, byHash(sha256(query), query))).errors).toBeUndefined();

    expect(codesOf(await post(url, byHash(sha256(first!))))).toEqual([PERSISTED_QUERY_CODES.notFound]);
    for (const query of rest) expect((await post(url, byHash(sha256(query)))).errors).toBeUndefined();
  });

  it('holds at most maxBytes of query text: past it the least recently used are forgotten', async () => {
    // Each entry counts its text and its 64-character hash: two fit in 600 bytes, three do not.
    const url = await boundedServer({ maxBytes: 600 });
    const [first, second, third] = queries(3, 200);

    for (const query of [first!, second!, third!]) expect((await post(url, byHash(sha256(query), query))).errors).toBeUndefined();

    expect(codesOf(await post(url, byHash(sha256(first!))))).toEqual([PERSISTED_QUERY_CODES.notFound]);
    expect((await post(url, byHash(sha256(second!)))).errors).toBeUndefined();
    expect((await post(url, byHash(sha256(third!)))).errors).toBeUndefined();
  });

  it('refuses bounds that are not positive whole numbers, naming the option', () => {
    expect(() => createPersistedQueryStore({ maxQueries: 0 })).toThrow(new TypeError('maxQueries must be a positive whole number, got 0'));
    expect(() => createPersistedQueryStore({ maxBytes: 1.5 })).toThrow(new TypeError('maxBytes must be a positive whole number, got 1.5'));
  });
});

describe('the fast lane', () => {
  it('answers a query named by its hash alone, and leaves an unknown hash to Yoga', async () => {
    const { url, answered } = await served();
    const query = print(GenerationDocument);
    const variables = { input: { prompt: 'on the lane' } };

    const unknown = await post(url, byHash(sha256(query), undefined, variables));
    const registered = await post(url, byHash(sha256(query), query, variables));
    const named = await post(url, byHash(sha256(query), undefined, variables));

    expect(codesOf(unknown)).toEqual([PERSISTED_QUERY_CODES.notFound]);
    expect(registered.errors).toBeUndefined();
    expect(named.errors).toBeUndefined();
    expect(named.data).toEqual({ generation: { ...(registered.data?.['generation'] as object), cacheStatus: 'HIT' } });
    expect(await answered()).toEqual([false, true, true]);
  });
});

describe('with TRUSTED_DOCUMENTS=1', () => {
  const TRUSTED = { TRUSTED_DOCUMENTS: '1' };

  it('refuses to register an arbitrary query, and never names it by its hash', async () => {
    const { harness, url } = await served(TRUSTED);
    const query = '{ cacheConfig { enabled } }';

    const registration = await post(url, byHash(sha256(query), query));
    const named = await post(url, byHash(sha256(query)));

    expect(codesOf(registration)).toEqual(['PERSISTED_QUERY_ONLY']);
    expect(codesOf(named)).toEqual([PERSISTED_QUERY_CODES.notFound]);
    expect(harness.generator.calls).toHaveLength(0);
  });

  it('runs a manifest document by its hash alone, with its sha256: prefix or without, on the fast lane', async () => {
    const { url, answered } = await served(TRUSTED);
    const id = (GenerationDocument as unknown as { __meta__: { hash: string } }).__meta__.hash;
    expect(Object.keys(manifest)).toContain(id);
    const variables = { input: { prompt: 'trusted' } };

    const bare = await post(url, byHash(id.replace(/^sha256:/, ''), undefined, variables));
    const prefixed = await post(url, byHash(id, undefined, variables));

    expect(bare.errors).toBeUndefined();
    expect((bare.data?.['generation'] as { cacheStatus?: string } | undefined)?.cacheStatus).toBe('MISS');
    expect(prefixed.errors).toBeUndefined();
    expect((prefixed.data?.['generation'] as { cacheStatus?: string } | undefined)?.cacheStatus).toBe('HIT');
    expect(await answered()).toEqual([true, true]);
  });
});
