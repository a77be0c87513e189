import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import {
  CacheConfigDocument,
  CacheEntriesDocument,
  CacheEntryDocument,
  CacheEventsDocument,
  CacheStatsDocument,
  CacheStatsLiveDocument,
  CancelGenerationDocument,
  ClearCacheDocument,
  DuplicatesInOneOperationDocument,
  EvictCacheEntriesDocument,
  ExampleDocument,
  GenerateDocument,
  GenerationDocument,
  GenerationOutputDocument,
  GenerationsDocument,
  GenerationStreamDocument,
  InFlightGenerationsDocument,
  ResetCacheStatsDocument,
  UpdateCacheConfigDocument,
} from '../src/generated/graphql.js';
import manifest from '../src/generated/persisted-documents.json' with { type: 'json' };
import { createHarness, serve, type Harness } from './helpers/harness.js';
import { rawPost } from './helpers/http.js';
import { codesOf, send, type Transport, type TransportResult } from './helpers/transports.js';

/**
 * TRUSTED_DOCUMENTS=1: only the documents of src/generated/persisted-documents.json run, named by
 * id or sent as their exact text, on every transport (the fast lane, Yoga's HTTP handling, SSE,
 * graphql-ws); anything else is refused with a code before it is parsed. With
 * TRUSTED_DOCUMENTS_ADMIN_BYPASS=1, an admin may still send any document.
 */

const TOKEN = 'trusted-documents-admin-token';
const ADMIN = { authorization: `Bearer ${TOKEN}` };
const TRUSTED = { TRUSTED_DOCUMENTS: '1' };
const ARBITRARY = '{ cacheConfig { enabled } }';
const ARBITRARY_SUBSCRIPTION = 'subscription { cacheStats(intervalMs: 60000) { hits } }';
const UNKNOWN_ID = `sha256:${'0'.repeat(64)}`;

/** The id that the client preset put in the typed document, as a client sends it. */
const idOf = (document: TypedDocumentNode<unknown, never>): string => (document as unknown as { __meta__: { hash: string } }).__meta__.hash;
/** The document's text in the manifest: its exact text, as the server accepts it. */
const textOf = (document: TypedDocumentNode<unknown, never>): string => (manifest as Record<string, string>)[idOf(document)]!;

type Variables = Record<string, unknown>;


/** The parameters of an operation: by `documentId`, by APQ's extension (the id without its prefix), or by text. */
type Form = 'documentId' | 'apq' | 'text';
function paramsOf(form: Form, document: TypedDocumentNode<unknown, never> | string, variables?: Variables): Record<string, unknown> {
  if (typeof document === 'string') return { query: document, variables };
  switch (form) {
    case 'documentId':
      return { documentId: idOf(document), variables };
    case 'apq':
      return { extensions: { persistedQuery: { version: 1, sha256Hash: idOf(document).replace(/^sha256:/, '') } }, variables };
    case 'text':
      return { query: textOf(document), variables };
  }
}

/** A server on a real port, its fast lane watched: `answered()` counts the requests the lane answered itself. */
async function served(env: Record<string, string>): Promise<{ harness: Harness; url: string; answered: () => Promise<number> }> {
  const harness = createHarness({ env });
  expect(harness.fastLane).toBeDefined();
  const lane = vi.spyOn(harness.fastLane!, 'serve');
  const url = await serve(harness);
  const answered = async () => (await Promise.all(lane.mock.results.map((result) => result.value as boolean | Promise<boolean>))).filter(Boolean).length;
  return { harness, url, answered };
}

/**
 * Every operation of the manifest with variables it runs with. Subscriptions go over SSE and
 * graphql-ws; the others over HTTP.
 */
const OPERATIONS: readonly [string, TypedDocumentNode<unknown, never>, Variables | undefined][] = [
  ['CacheConfig', CacheConfigDocument, undefined],
  ['CacheEntries', CacheEntriesDocument, { first: 2 }],
  ['CacheEntry', CacheEntryDocument, { key: 'no-such-key' }],
  ['UpdateCacheConfig', UpdateCacheConfigDocument, { input: { defaultTtlSeconds: 60 } }],
  ['ClearCache', ClearCacheDocument, undefined],
  ['EvictCacheEntries', EvictCacheEntriesDocument, { keys: ['no-such-key'] }],
  ['ResetCacheStats', ResetCacheStatsDocument, undefined],
  ['InFlightGenerations', InFlightGenerationsDocument, undefined],
  ['CancelGeneration', CancelGenerationDocument, { key: 'no-such-key' }],
  ['CacheStats', CacheStatsDocument, undefined],
  ['DuplicatesInOneOperation', DuplicatesInOneOperationDocument, { input: { prompt: 'p' }, inputs: [{ prompt: 'p' }, { prompt: 'q' }] }],
  ['Example', ExampleDocument, undefined],
  ['Generation', GenerationDocument, { input: { prompt: 'p' } }],
  ['Generations', GenerationsDocument, { inputs: [{ prompt: 'p' }] }],
  ['Generate', GenerateDocument, { input: { prompt: 'p' } }],
  ['GenerationOutput', GenerationOutputDocument, { input: { prompt: 'p' } }],
] as never;
const SUBSCRIPTIONS: readonly [string, TypedDocumentNode<unknown, never>, Variables | undefined][] = [
  ['CacheStatsLive', CacheStatsLiveDocument, { intervalMs: 60_000 }],
  ['CacheEvents', CacheEventsDocument, undefined],
  ['GenerationStream', GenerationStreamDocument, { input: { prompt: 'p' } }],
] as never;

describe('the manifest', () => {
  it('holds every operation of schema/operations, each under the id its typed document carries', () => {
    expect([...OPERATIONS, ...SUBSCRIPTIONS].map(([, document]) => idOf(document)).sort()).toEqual(Object.keys(manifest).sort());
    for (const id of Object.keys(manifest)) expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('with TRUSTED_DOCUMENTS unset', () => {
  it.each<Transport>(['lane', 'yoga', 'get', 'graphql-ws'])('runs an arbitrary document over %s', async (transport) => {
    const { url } = await served({});

    const result = await send(transport, url, { query: ARBITRARY });

    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ cacheConfig: { enabled: true } });
  });

  it('runs an arbitrary subscription over SSE', async () => {
    const { url } = await served({});

    const result = await send('sse', url, { query: ARBITRARY_SUBSCRIPTION });

    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ cacheStats: { hits: 0 } });
  });
});

describe('with TRUSTED_DOCUMENTS=1, every operation of the manifest', () => {
  it.each<Form>(['documentId', 'apq', 'text'])('runs on the fast lane by %s', async (form) => {
    const { url, answered } = await served({ ...TRUSTED, ADMIN_TOKEN: TOKEN });

    for (const [name, document, variables] of OPERATIONS) {
      const result = await send('lane', url, paramsOf(form, document, variables), ADMIN);
      expect({ name, errors: result.errors }).toEqual({ name, errors: undefined });
    }
    expect(await answered()).toBe(OPERATIONS.length);
  });

  it.each<[Transport, Form]>([
    ['sse', 'documentId'],
    ['sse', 'apq'],
    ['sse', 'text'],
    ['graphql-ws', 'documentId'],
    ['graphql-ws', 'apq'],
    ['graphql-ws', 'text'],
  ])('runs each subscription over %s by %s', async (transport, form) => {
    const { url } = await served({ ...TRUSTED, ADMIN_TOKEN: TOKEN });

    for (const [name, document, variables] of SUBSCRIPTIONS) {
      // cacheEvents sends nothing until the cache changes: one that starts is seen by a clear.
      const first = send(transport, url, paramsOf(form, document, variables), ADMIN);
      if (name === 'CacheEvents') {
        await new Promise((resolve) => setTimeout(resolve, 200));
        await send('lane', url, paramsOf('documentId', ClearCacheDocument), ADMIN);
      }
      const result = await first;
      expect({ name, errors: result.errors }).toEqual({ name, errors: undefined });
    }
  });
});

describe.each<Transport>(['lane', 'yoga', 'get', 'sse', 'graphql-ws'])('with TRUSTED_DOCUMENTS=1, over %s', (transport) => {
  const subscription = transport === 'sse' || transport === 'graphql-ws';
  const [trusted, variables] = subscription ? [CacheStatsLiveDocument, { intervalMs: 60_000 }] : [GenerationDocument, { input: { prompt: 'p' } }];
  const arbitrary = subscription ? ARBITRARY_SUBSCRIPTION : ARBITRARY;

  it.each<Form>(['documentId', 'apq', 'text'])('runs a trusted document sent by %s', async (form) => {
    const { url } = await served(TRUSTED);

    const result = await send(transport, url, paramsOf(form, trusted as never, variables));

    expect(result.errors).toBeUndefined();
    expect(result.data).toBeDefined();
  });

  it.each([
    ['an arbitrary document', () => arbitrary],
    ['the print of a trusted document (the same operation, another text)', () => print(trusted)],
    ['a trusted text with one field more', () => textOf(trusted as never).replace('{ ', '{ __typename ')],
    ['a trusted text with a trailing space', () => `${textOf(trusted as never)} `],
  ])('refuses %s with PERSISTED_QUERY_ONLY, running nothing', async (_name, text) => {
    const { harness, url } = await served(TRUSTED);

    const result = await send(transport, url, { query: text(), variables: subscription ? undefined : variables });

    expect(codesOf(result)).toEqual(['PERSISTED_QUERY_ONLY']);
    expect(result.data).toBeUndefined();
    expect(harness.generator.calls).toHaveLength(0);
  });

  it.each<Form>(['documentId', 'apq'])('refuses an unknown id sent by %s with PERSISTED_QUERY_NOT_FOUND', async (form) => {
    const { url } = await served(TRUSTED);
    const params = form === 'documentId' ? { documentId: UNKNOWN_ID } : { extensions: { persistedQuery: { version: 1, sha256Hash: UNKNOWN_ID.slice(7) } } };

    const result = await send(transport, url, params);

    expect(codesOf(result)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(result.errors?.[0]?.message).toContain(form === 'documentId' ? UNKNOWN_ID : UNKNOWN_ID.slice(7));
  });
});

describe('refusals over HTTP', () => {
  it('are request errors: 400 for application/graphql-response+json, 200 for application/json, with no data', async () => {
    const { url } = await served(TRUSTED);

    const strict = await send('lane', url, { query: ARBITRARY });
    const legacy = await rawPost(url, JSON.stringify({ query: ARBITRARY }), { 'content-type': 'application/json', accept: 'application/json' });

    expect(strict.status).toBe(400);
    expect(legacy.status).toBe(200);
    expect(JSON.parse(legacy.body)).toEqual({ errors: [{ message: expect.stringMatching(/trusted documents only/), extensions: { code: 'PERSISTED_QUERY_ONLY' } }] });
  });

  it('refuses a request with neither an id nor a query as BAD_REQUEST', async () => {
    const { url } = await served(TRUSTED);

    const result = await send('lane', url, { variables: {} });

    expect(result.status).toBe(400);
    expect(codesOf(result)).toEqual(['BAD_REQUEST']);
  });

  it('keeps the fast lane on, and lets it answer what it runs: only refusals go to Yoga, which words them', async () => {
    const { url, answered } = await served(TRUSTED);

    await send('lane', url, paramsOf('documentId', CacheConfigDocument));
    await send('lane', url, paramsOf('text', CacheConfigDocument));
    await send('lane', url, { query: ARBITRARY });
    await send('lane', url, { documentId: UNKNOWN_ID });

    expect(await answered()).toBe(2);
  });
});

describe('TRUSTED_DOCUMENTS_ADMIN_BYPASS=1 with ADMIN_TOKEN', () => {
  const env = { ...TRUSTED, TRUSTED_DOCUMENTS_ADMIN_BYPASS: '1', ADMIN_TOKEN: TOKEN };

  it.each<Transport>(['lane', 'yoga', 'get', 'sse', 'graphql-ws'])('lets the admin token send an arbitrary document over %s, and no one else', async (transport) => {
    const { url } = await served(env);
    const query = transport === 'sse' ? ARBITRARY_SUBSCRIPTION : ARBITRARY;

    const admin = await send(transport, url, { query }, ADMIN);
    const anonymous = await send(transport, url, { query });
    const wrongToken = await send(transport, url, { query }, { authorization: `Bearer ${TOKEN}-not` });

    expect(admin.errors).toBeUndefined();
    expect(admin.data).toBeDefined();
    expect(codesOf(anonymous)).toEqual(['PERSISTED_QUERY_ONLY']);
    expect(codesOf(wrongToken)).toEqual(['PERSISTED_QUERY_ONLY']);
  });

  it('still looks ids up for the admin: an unknown one is PERSISTED_QUERY_NOT_FOUND', async () => {
    const { url } = await served(env);

    expect(codesOf(await send('lane', url, { documentId: UNKNOWN_ID }, ADMIN))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe('TRUSTED_DOCUMENTS_ADMIN_BYPASS=1 without ADMIN_TOKEN: admin is a client on this machine', () => {
  const env = { ...TRUSTED, TRUSTED_DOCUMENTS_ADMIN_BYPASS: '1' };

  it.each<Transport>(['lane', 'yoga', 'graphql-ws'])('lets a loopback client send an arbitrary document over %s', async (transport) => {
    const { url } = await served(env);

    const result = await send(transport, url, { query: ARBITRARY });

    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ cacheConfig: { enabled: true } });
  });

  it.each([
    ['a page of another site (its Origin)', { origin: 'https://evil.example' }],
    ['a name rebound to this machine (its Host)', { host: 'evil.example' }],
  ])('refuses an arbitrary document from %s', async (_name, headers) => {
    const { url } = await served(env);

    const result = await rawPost(url, JSON.stringify({ query: ARBITRARY }), { 'content-type': 'application/json', ...headers });

    expect((JSON.parse(result.body) as TransportResult).errors?.map((error) => error.extensions?.['code'])).toEqual(['PERSISTED_QUERY_ONLY']);
  });
});
