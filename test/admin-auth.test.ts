import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { describe, expect, it } from 'vitest';
import { createAdminAuthenticator, isLoopback, isLoopbackHost } from '../src/auth.js';
import {
  CacheConfigDocument,
  CacheEntriesDocument,
  CacheEntryDocument,
  CacheStatsDocument,
  CancelGenerationDocument,
  ClearCacheDocument,
  EvictCacheEntriesDocument,
  GenerationDocument,
  InFlightGenerationsDocument,
  ResetCacheStatsDocument,
  UpdateCacheConfigDocument,
} from '../src/generated/graphql.js';
import { cachedKeys, createHarness, dataOf, errorCodes, generateAll, postOperation, serve, type Harness } from './helpers/harness.js';
import { externalIPv4 } from './helpers/http.js';

const TOKEN = 'an-admin-token-of-some-length';

/** Every admin field, as an operation that would change or reveal something. */
// Each document has its own variables type; the table holds them side by side.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ADMIN_OPERATIONS: [string, TypedDocumentNode<unknown, any>, Record<string, unknown>][] = [
  ['cacheEntries', CacheEntriesDocument, {}],
  ['cacheEntry', CacheEntryDocument, { key: 'placeholder' }],
  ['updateCacheConfig', UpdateCacheConfigDocument, { input: { maxEntries: 1 } }],
  ['clearCache', ClearCacheDocument, {}],
  ['evictCacheEntries', EvictCacheEntriesDocument, { model: 'sim-1' }],
  ['resetCacheStats', ResetCacheStatsDocument, {}],
  ['inFlightGenerations', InFlightGenerationsDocument, {}],
  ['cancelGeneration', CancelGenerationDocument, { key: 'placeholder' }],
];

/** Three generations, and a hit on the first. */
async function seed(harness: Harness): Promise<string[]> {
  const keys = await generateAll(harness, ['one', 'two', 'three']);
  await generateAll(harness, ['one']);
  return keys;
}

/** Everything an admin call could change. */
function state(harness: Harness) {
  const { since: _since, ...stats } = harness.service.stats();
  return { stats, settings: harness.cache.settings, keys: cachedKeys(harness) };
}

describe('admin authorization with ADMIN_TOKEN set', () => {
  it.each(ADMIN_OPERATIONS)('refuses %s without a token, as UNAUTHENTICATED, and changes nothing', async (field, document, variables) => {
    const harness = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    const keys = await seed(harness);
    const before = state(harness);

    const result = await harness.execute(document, { ...variables, key: keys[0] });

    expect(errorCodes(result)).toEqual(['UNAUTHENTICATED']);
    expect(result.errors?.[0]?.path).toEqual([field]);
    expect(state(harness)).toEqual(before);
  });

  it.each(ADMIN_OPERATIONS)('refuses %s with a wrong token and changes nothing', async (_field, document, variables) => {
    const harness = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    await seed(harness);
    const before = state(harness);

    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, TOKEN, `Basic ${TOKEN}`, 'Bearer ']) {
      const result = await harness.execute(document, variables, { authorization });
      expect(errorCodes(result)).toEqual(['UNAUTHENTICATED']);
    }
    expect(state(harness)).toEqual(before);
  });

  it.each(ADMIN_OPERATIONS)('allows %s with the token', async (field, document, variables) => {
    const harness = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    const keys = await seed(harness);

    const result = await harness.execute(document, { ...variables, key: keys[0] }, { authorization: `Bearer ${TOKEN}` });

    expect(result.errors).toBeUndefined();
    // An object, a list, or cancelGeneration's false (nothing in flight): never null.
    expect((result.data as Record<string, unknown>)[field]).toEqual(field === 'cancelGeneration' ? false : expect.any(Object));
  });

  it('leaves the public fields open: generations, statistics and the configuration', async () => {
    const harness = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    await seed(harness);

    expect(dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'two' } })).generation!.cacheStatus).toBe('HIT');
    expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ generations: 3, hits: 2, entries: 3 });
    expect(dataOf(await harness.execute(CacheConfigDocument)).cacheConfig.maxEntries).toBe(1000);
  });

  it('refuses an operation that mixes admin and public fields as a whole, without the token', async () => {
    const harness = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    const query = '{ cacheEntries { totalCount } cacheConfig { maxEntries } }';
    const post = (headers: Record<string, string>) =>
      harness.yoga.fetch('http://yoga/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query }),
      });

    const refused = (await (await post({})).json()) as { errors: { extensions: { code: string } }[]; data: unknown };
    const allowed = (await (await post({ authorization: `Bearer ${TOKEN}` })).json()) as { errors?: unknown; data: unknown };

    expect(refused.errors.map((error) => error.extensions.code)).toEqual(['UNAUTHENTICATED']);
    expect(refused.data).toBeNull();
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data).toEqual({ cacheEntries: { totalCount: 0 }, cacheConfig: { maxEntries: 1000 } });
  });
});

describe('admin authorization without ADMIN_TOKEN', () => {
  it('allows a loopback client with no token', async () => {
    const harness = createHarness();
    await seed(harness);
    const url = await serve(harness);

    const result = await postOperation(fetch, url, ClearCacheDocument);

    expect(dataOf(result).clearCache).toMatchObject({ removed: 3 });
    expect(harness.service.stats().entries).toBe(0);
  });

  it('refuses a client whose address is unknown as FORBIDDEN, and changes nothing', async () => {
    const harness = createHarness();
    await seed(harness);
    const before = state(harness);

    const result = await harness.execute(ClearCacheDocument, {}, { authorization: `Bearer ${TOKEN}` });

    expect(errorCodes(result)).toEqual(['FORBIDDEN']);
    expect(state(harness)).toEqual(before);
  });

  const external = externalIPv4();

  it.skipIf(external === undefined)(
    `refuses a client connecting over a non-loopback address as FORBIDDEN (${external ?? 'this machine has no such address'})`,
    async () => {
      const harness = createHarness();
      await seed(harness);
      const url = await serve(harness, '0.0.0.0');

      const result = await postOperation(fetch, url.replace('0.0.0.0', external!), ClearCacheDocument);

      expect(errorCodes(result)).toEqual(['FORBIDDEN']);
      expect(harness.service.stats().entries).toBe(3);
    },
  );
});

describe('the admin authenticator', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.5', false],
    ['::ffff:10.0.0.5', false],
    ['fe80::1', false],
    ['1127.0.0.1', false],
    [undefined, false],
  ])('counts %s as loopback: %s', (address, loopback) => {
    expect(isLoopback(address)).toBe(loopback);
  });

  it('with a token, ignores the address: a loopback client still needs the token', () => {
    const authenticate = createAdminAuthenticator(TOKEN);

    expect(authenticate({ authorization: undefined, remoteAddress: '127.0.0.1', host: 'localhost', origin: undefined })).toBe('unauthenticated');
    expect(authenticate({ authorization: `bearer ${TOKEN}`, remoteAddress: '10.1.1.1', host: 'gencache.example', origin: 'https://ui.example' })).toBe(
      'granted',
    );
  });

  it.each([
    ['localhost:4000', true],
    ['127.0.0.1:4000', true],
    ['127.0.0.1', true],
    ['[::1]:4000', true],
    ['app.localhost:4000', true],
    ['LOCALHOST', true],
    ['evil.example:4000', false],
    ['127.0.0.1.nip.io:4000', false],
    ['localhost.evil.example', false],
    ['10.0.0.5:4000', false],
    ['[::ffff:10.0.0.5]', false],
    ['', false],
    [undefined, false],
  ])('counts the Host %s as this machine: %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it.each([
    ['no Origin', '127.0.0.1:4000', undefined, 'granted'],
    ['its own Origin', '127.0.0.1:4000', 'http://127.0.0.1:4000', 'granted'],
    ['another port of this machine', '127.0.0.1:4000', 'http://127.0.0.1:5173', 'forbidden'],
    ['another site', '127.0.0.1:4000', 'https://evil.example', 'forbidden'],
    ['the null Origin of a sandboxed page', '127.0.0.1:4000', 'null', 'forbidden'],
    ['a rebound name', 'evil.example:4000', 'http://evil.example:4000', 'forbidden'],
    ['a rebound name without Origin', 'evil.example:4000', undefined, 'forbidden'],
  ])('without a token, a loopback client with %s is %s', (_name, host, origin, access) => {
    const authenticate = createAdminAuthenticator(undefined);

    expect(authenticate({ authorization: undefined, remoteAddress: '127.0.0.1', host, origin })).toBe(access);
  });
});
