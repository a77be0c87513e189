import { describe, expect, it } from 'vitest';
import {
  CacheConfigDocument,
  CacheEntriesDocument,
  CacheEntryDocument,
  ClearCacheDocument,
  EvictCacheEntriesDocument,
  GenerationDocument,
  ResetCacheStatsDocument,
  UpdateCacheConfigDocument,
  type CacheConfigInput,
  type CacheEntryOrder,
} from '../src/generated/graphql.js';
import { cachedKeys, createHarness, dataOf, errorCodes, generateAll, type Harness } from './helpers/harness.js';

const TOKEN = 'an-admin-token-of-some-length';
const ADMIN = { authorization: `Bearer ${TOKEN}` };

function adminHarness(env: Record<string, string> = {}, now?: () => number): Harness {
  return createHarness({ env: { ADMIN_TOKEN: TOKEN, ...env }, now });
}

describe('updateCacheConfig', () => {
  it('shrinks to maxEntries 2 at once, keeping the two most recently used', async () => {
    const harness = adminHarness();
    const [a, b, c, d] = await generateAll(harness, ['a', 'b', 'c', 'd']);
    await generateAll(harness, ['b']);

    const config = dataOf(await harness.execute(UpdateCacheConfigDocument, { input: { maxEntries: 2 } }, ADMIN));

    expect(config.updateCacheConfig).toMatchObject({ maxEntries: 2, enabled: true });
    expect(cachedKeys(harness)).toEqual([b, d]);
    expect(harness.service.stats()).toMatchObject({ entries: 2, evictions: 2 });
    expect([a, c].some((key) => harness.cache.peek(key!) !== undefined)).toBe(false);
    // The bound holds for what comes next.
    await generateAll(harness, ['e']);
    expect(harness.service.stats().entries).toBe(2);
  });

  it('shrinks maxBytes at once, evicting least recently used first', async () => {
    const harness = adminHarness();
    const keys = await generateAll(harness, ['p1', 'p2', 'p3', 'p4']);
    const sizes = keys.map((key) => harness.cache.peek(key)!.bytes);
    const room = sizes[2]! + sizes[3]!;

    dataOf(await harness.execute(UpdateCacheConfigDocument, { input: { maxBytes: room } }, ADMIN));

    expect(cachedKeys(harness)).toEqual([keys[3], keys[2]]);
    expect(harness.service.stats()).toMatchObject({ bytes: room, maxBytes: room });
  });

  it('keeps every entry when the bounds grow', async () => {
    const harness = adminHarness({ CACHE_MAX_SIZE: '3' });
    const keys = await generateAll(harness, ['x', 'y', 'z']);

    dataOf(await harness.execute(UpdateCacheConfigDocument, { input: { maxEntries: 10, maxBytes: 10_000_000 } }, ADMIN));
    await generateAll(harness, ['w']);

    expect(harness.service.stats()).toMatchObject({ entries: 4, evictions: 0 });
    expect(cachedKeys(harness).slice(1)).toEqual(keys.reverse());
  });

  it.each<[string, CacheConfigInput, RegExp]>([
    ['maxEntries 0', { maxEntries: 0 }, /maxEntries must be an integer from 1 to 1000000, got 0/],
    ['maxEntries over the cap', { maxEntries: 1_000_001 }, /maxEntries must be an integer from 1 to 1000000/],
    ['maxBytes -1', { maxBytes: -1 }, /maxBytes must be an integer from 1 to 1099511627776, got -1/],
    ['maxBytes 0', { maxBytes: 0 }, /maxBytes must be an integer/],
    ['a fractional maxBytes', { maxBytes: 1024.5 }, /maxBytes must be an integer/],
    ['maxBytes over the cap', { maxBytes: 2 ** 40 + 1 }, /maxBytes must be an integer/],
    ['defaultTtlSeconds -5', { defaultTtlSeconds: -5 }, /defaultTtlSeconds must be an integer from 0 to 31536000, got -5/],
    ['defaultTtlSeconds over a year', { defaultTtlSeconds: 31_536_001 }, /defaultTtlSeconds must be an integer/],
    ['a valid field beside an invalid one', { maxEntries: 1, maxBytes: -1 }, /maxBytes/],
    ['an explicit null', { maxEntries: null }, /maxEntries must not be null/],
  ])('refuses %s with BAD_USER_INPUT and changes nothing', async (_name, input, message) => {
    const harness = adminHarness();
    await generateAll(harness, ['a', 'b', 'c']);
    const before = { settings: harness.cache.settings, keys: cachedKeys(harness) };

    const result = await harness.execute(UpdateCacheConfigDocument, { input }, ADMIN);

    expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
    expect(result.errors?.[0]?.message).toMatch(message);
    expect({ settings: harness.cache.settings, keys: cachedKeys(harness) }).toEqual(before);
  });

  it('names every invalid field in one error', async () => {
    const harness = adminHarness();

    const result = await harness.execute(
      UpdateCacheConfigDocument,
      { input: { maxEntries: 0, maxBytes: -1, defaultTtlSeconds: -5 } },
      ADMIN,
    );

    expect(result.errors?.[0]?.message).toMatch(/maxEntries.*maxBytes.*defaultTtlSeconds/);
  });

  it.each<[string, CacheConfigInput]>([
    ['maxEntries 1', { maxEntries: 1 }],
    ['maxEntries at the cap', { maxEntries: 1_000_000 }],
    ['maxBytes 1', { maxBytes: 1 }],
    ['maxBytes at the cap', { maxBytes: 2 ** 40 }],
    ['defaultTtlSeconds 0', { defaultTtlSeconds: 0 }],
    ['defaultTtlSeconds of a year', { defaultTtlSeconds: 31_536_000 }],
  ])('accepts %s', async (_name, input) => {
    const harness = adminHarness();

    const config = dataOf(await harness.execute(UpdateCacheConfigDocument, { input }, ADMIN)).updateCacheConfig;

    expect(config).toMatchObject(input);
    expect(dataOf(await harness.execute(CacheConfigDocument)).cacheConfig).toEqual(config);
  });

  it('applies a new default TTL to what is stored next', async () => {
    let clock = Date.parse('2026-05-01T00:00:00Z');
    const harness = adminHarness({}, () => clock);
    dataOf(await harness.execute(UpdateCacheConfigDocument, { input: { defaultTtlSeconds: 30 } }, ADMIN));

    const stored = dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'short-lived' } })).generation!;
    clock += 30_001;
    const again = dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'short-lived' } })).generation!;

    expect(stored.expiresAt).toBe('2026-05-01T00:00:30.000Z');
    expect(again.cacheStatus).toBe('MISS');
  });

  it('turning the cache off drops its entries and stores nothing until it is on again', async () => {
    const harness = adminHarness();
    await generateAll(harness, ['a', 'b']);

    dataOf(await harness.execute(UpdateCacheConfigDocument, { input: { enabled: false } }, ADMIN));
    // Twice the same prompt while off: generated twice, stored never.
    const whileOff = [await harness.execute(GenerationDocument, { input: { prompt: 'a' } }), await harness.execute(GenerationDocument, { input: { prompt: 'a' } })];
    expect(whileOff.map((result) => dataOf(result).generation!.cacheStatus)).toEqual(['MISS', 'MISS']);
    expect(harness.service.stats()).toMatchObject({ enabled: false, entries: 0 });

    dataOf(await harness.execute(UpdateCacheConfigDocument, { input: { enabled: true } }, ADMIN));
    await generateAll(harness, ['a']);
    const repeat = dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'a' } })).generation!;

    expect(repeat.cacheStatus).toBe('HIT');
    expect(harness.generator.calls).toHaveLength(5);
  });
});

describe('clearCache, evictCacheEntries and resetCacheStats', () => {
  it('clearCache removes every entry and reports the count and bytes freed', async () => {
    const harness = adminHarness();
    await generateAll(harness, ['a', 'b', 'c']);
    const { bytes } = harness.service.stats();

    const result = dataOf(await harness.execute(ClearCacheDocument, {}, ADMIN)).clearCache;

    expect(result).toEqual({ removed: 3, freedBytes: bytes, shared: null });
    expect(harness.service.stats()).toMatchObject({ entries: 0, bytes: 0, evictions: 0 });
    expect(dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'a' } })).generation!.cacheStatus).toBe('MISS');
  });

  it('evicts the named keys only', async () => {
    const harness = adminHarness();
    const [a, b, c] = await generateAll(harness, ['a', 'b', 'c']);
    const freed = harness.cache.peek(a!)!.bytes + harness.cache.peek(c!)!.bytes;

    const result = dataOf(await harness.execute(EvictCacheEntriesDocument, { keys: [a!, c!, 'no-such-key'] }, ADMIN));

    expect(result.evictCacheEntries).toEqual({ removed: 2, freedBytes: freed, shared: null });
    expect(cachedKeys(harness)).toEqual([b]);
  });

  it('evicts the entries of one model, and of listed keys within that model when both are given', async () => {
    const harness = adminHarness();
    const [a1, b1] = await generateAll(harness, ['a', 'b'], 'sim-1');
    const [a2, b2] = await generateAll(harness, ['a', 'b'], 'sim-2');

    const both = dataOf(await harness.execute(EvictCacheEntriesDocument, { keys: [a1!, a2!], model: 'sim-2' }, ADMIN));
    expect(both.evictCacheEntries.removed).toBe(1);
    expect(cachedKeys(harness).sort()).toEqual([a1, b1, b2].sort());

    const byModel = dataOf(await harness.execute(EvictCacheEntriesDocument, { model: 'sim-1' }, ADMIN));
    expect(byModel.evictCacheEntries.removed).toBe(2);
    expect(cachedKeys(harness)).toEqual([b2]);
  });

  it('refuses evictCacheEntries without a filter, and with more keys than the limit', async () => {
    const harness = adminHarness();
    await generateAll(harness, ['a']);

    const none = await harness.execute(EvictCacheEntriesDocument, {}, ADMIN);
    const tooMany = await harness.execute(EvictCacheEntriesDocument, { keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) }, ADMIN);
    const atLimit = await harness.execute(EvictCacheEntriesDocument, { keys: Array.from({ length: 1000 }, (_, i) => `k${i}`) }, ADMIN);

    expect(errorCodes(none)).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(tooMany)).toEqual(['BAD_USER_INPUT']);
    expect(dataOf(atLimit).evictCacheEntries.removed).toBe(0);
    expect(harness.service.stats().entries).toBe(1);
  });

  it('resetCacheStats starts the counters again and keeps the entries', async () => {
    let clock = Date.parse('2026-06-01T00:00:00Z');
    const harness = adminHarness({}, () => clock);
    await generateAll(harness, ['a', 'b', 'a', 'a']);
    clock += 60_000;

    const stats = dataOf(await harness.execute(ResetCacheStatsDocument, {}, ADMIN)).resetCacheStats;

    expect(stats).toMatchObject({ hits: 0, misses: 0, generations: 0, savedMs: 0, hitRate: 0, entries: 2 });
    expect(stats.since).toBe('2026-06-01T00:01:00.000Z');
    await generateAll(harness, ['a']);
    expect(harness.service.stats()).toMatchObject({ hits: 1, misses: 0 });
    expect(harness.service.totals()).toMatchObject({ hits: 3, misses: 2 });
  });
});

describe('cacheEntries and cacheEntry', () => {
  it('pages through every entry once with cursors, in each order', async () => {
    let clock = Date.parse('2026-07-01T00:00:00Z');
    const harness = adminHarness({}, () => clock);
    const keys: string[] = [];
    for (let i = 0; i < 7; i++) {
      clock += 1000;
      keys.push(...(await generateAll(harness, [`prompt ${i}`])));
    }
    for (const [index, repeats] of [[2, 3], [5, 1]] as const) {
      for (let r = 0; r < repeats; r++) {
        clock += 1000;
        await generateAll(harness, [`prompt ${index}`]);
      }
    }

    const walk = async (orderBy: CacheEntryOrder) => {
      const seen: string[] = [];
      let after: string | null | undefined;
      for (let page = 0; page < 10; page++) {
        const { cacheEntries } = dataOf(await harness.execute(CacheEntriesDocument, { first: 3, after, orderBy }, ADMIN));
        expect(cacheEntries.totalCount).toBe(7);
        seen.push(...cacheEntries.edges.map((edge) => edge.node.key));
        if (!cacheEntries.pageInfo.hasNextPage) break;
        after = cacheEntries.pageInfo.endCursor;
      }
      return seen;
    };

    const mostRecent = await walk('MOST_RECENT');
    expect(mostRecent).toEqual([keys[5], keys[2], keys[6], keys[4], keys[3], keys[1], keys[0]]);
    expect(await walk('LEAST_RECENT')).toEqual([...mostRecent].reverse());
    expect((await walk('MOST_HITS')).slice(0, 2)).toEqual([keys[2], keys[5]]);
    const largest = await walk('LARGEST');
    expect(new Set(largest)).toEqual(new Set(keys));
    const sizes = largest.map((key) => harness.cache.peek(key)!.bytes);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    // Listing counts no hits.
    expect(harness.service.stats().hits).toBe(4);
  });

  it('neither repeats nor skips entries that stay when others arrive between pages', async () => {
    let clock = Date.parse('2026-07-01T00:00:00Z');
    const harness = adminHarness({}, () => clock);
    for (let i = 0; i < 4; i++) {
      clock += 1000;
      await generateAll(harness, [`old ${i}`]);
    }

    const first = dataOf(await harness.execute(CacheEntriesDocument, { first: 2, orderBy: 'LEAST_RECENT' }, ADMIN)).cacheEntries;
    clock += 1000;
    await generateAll(harness, ['new']);
    const second = dataOf(
      await harness.execute(CacheEntriesDocument, { first: 10, after: first.pageInfo.endCursor, orderBy: 'LEAST_RECENT' }, ADMIN),
    ).cacheEntries;

    const prompts = [...first.edges, ...second.edges].map((edge) => edge.node.prompt);
    expect(prompts).toEqual(['old 0', 'old 1', 'old 2', 'old 3', 'new']);
    expect(second.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: false });
  });

  it('filters by model and counts only the matching entries', async () => {
    const harness = adminHarness();
    await generateAll(harness, ['a', 'b', 'c'], 'sim-1');
    await generateAll(harness, ['a'], 'sim-2');

    const { cacheEntries } = dataOf(await harness.execute(CacheEntriesDocument, { model: 'sim-2' }, ADMIN));

    expect(cacheEntries.totalCount).toBe(1);
    expect(cacheEntries.edges.map((edge) => edge.node.model)).toEqual(['sim-2']);
  });

  it('accepts first from 0 to 1000 and refuses outside it, and refuses a cursor it did not make', async () => {
    const harness = adminHarness();
    await generateAll(harness, ['a']);

    const empty = dataOf(await harness.execute(CacheEntriesDocument, { first: 0 }, ADMIN)).cacheEntries;
    expect(empty).toMatchObject({ totalCount: 1, edges: [], pageInfo: { hasNextPage: true, endCursor: null } });
    expect(dataOf(await harness.execute(CacheEntriesDocument, { first: 1000 }, ADMIN)).cacheEntries.edges).toHaveLength(1);
    for (const variables of [{ first: -1 }, { first: 1001 }, { after: 'not-a-cursor' }, { after: 'WzEsMl0' }]) {
      expect(errorCodes(await harness.execute(CacheEntriesDocument, variables, ADMIN))).toEqual(['BAD_USER_INPUT']);
    }
  });

  it('cacheEntry shows one entry with its generation, without counting a hit', async () => {
    const harness = adminHarness();
    const [key] = await generateAll(harness, ['inspect me']);
    await generateAll(harness, ['inspect me']);

    const entry = dataOf(await harness.execute(CacheEntryDocument, { key: key! }, ADMIN)).cacheEntry!;
    const again = dataOf(await harness.execute(CacheEntryDocument, { key: key! }, ADMIN)).cacheEntry!;

    expect(entry).toMatchObject({ key, prompt: 'inspect me', model: 'sim-1', hits: 1 });
    expect(entry.bytes).toBe(harness.cache.peek(key!)!.bytes);
    expect(entry.generation.output.startsWith('[sim-1]')).toBe(true);
    expect(again.hits).toBe(1);
    expect(dataOf(await harness.execute(CacheEntryDocument, { key: 'missing' }, ADMIN)).cacheEntry).toBeNull();
  });
});
