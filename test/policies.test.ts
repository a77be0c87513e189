import { describe, expect, it } from 'vitest';
import { CacheStatsDocument, GenerateDocument, GenerationDocument, GenerationsDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, errorCodes } from './helpers/harness.js';

describe('cache policies', () => {
  it('CACHE_ONLY never generates: a miss is null, a cached input is a HIT', async () => {
    const harness = createHarness();
    const cached = { prompt: 'cached' };
    const absent = { prompt: 'absent' };
    dataOf(await harness.execute(GenerationDocument, { input: cached }));

    const miss = dataOf(await harness.execute(GenerationDocument, { input: absent, policy: 'CACHE_ONLY' }));
    const list = dataOf(await harness.execute(GenerationsDocument, { inputs: [absent, cached], policy: 'CACHE_ONLY' }));

    expect(miss.generation).toBeNull();
    expect(list.generations[0]).toBeNull();
    expect(list.generations[1]?.cacheStatus).toBe('HIT');
    expect(harness.generator.calls).toHaveLength(1);
    expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ entries: 1, misses: 3, hits: 1 });
  });

  it('CACHE_ONLY on the generate mutation gives NOT_FOUND for a miss', async () => {
    const harness = createHarness();

    const result = await harness.execute(GenerateDocument, { input: { prompt: 'absent' }, policy: 'CACHE_ONLY' });

    expect(errorCodes(result)).toEqual(['NOT_FOUND']);
    expect(result.data).toBeNull();
    expect(harness.generator.calls).toHaveLength(0);
  });

  it('NETWORK_ONLY regenerates and stores the fresh result', async () => {
    let clock = Date.parse('2026-03-01T12:00:00Z');
    const harness = createHarness({ now: () => clock });
    const input = { prompt: 'refresh me' };
    const original = dataOf(await harness.execute(GenerationDocument, { input })).generation!;

    clock += 5_000;
    const refreshed = dataOf(await harness.execute(GenerationDocument, { input, policy: 'NETWORK_ONLY' })).generation!;
    const served = dataOf(await harness.execute(GenerationDocument, { input })).generation!;

    expect(refreshed.cacheStatus).toBe('BYPASS');
    expect(refreshed.createdAt).toBe('2026-03-01T12:00:05.000Z');
    expect(served).toMatchObject({ cacheStatus: 'HIT', createdAt: refreshed.createdAt, key: original.key });
    expect(harness.generator.calls).toHaveLength(2);
    expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ entries: 1, evictions: 0 });
  });

  it('NO_STORE always generates and never stores', async () => {
    const harness = createHarness();
    const input = { prompt: 'do not keep' };

    const first = dataOf(await harness.execute(GenerationDocument, { input, policy: 'NO_STORE' })).generation!;
    const second = dataOf(await harness.execute(GenerateDocument, { input, policy: 'NO_STORE' })).generate;
    const afterwards = dataOf(await harness.execute(GenerationDocument, { input, policy: 'CACHE_ONLY' }));

    expect([first.cacheStatus, second.cacheStatus]).toEqual(['BYPASS', 'BYPASS']);
    expect(first.expiresAt).toBeNull();
    expect(afterwards.generation).toBeNull();
    expect(harness.generator.calls).toHaveLength(2);
    expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('NO_STORE leaves an entry that is already cached in place', async () => {
    const harness = createHarness();
    const input = { prompt: 'kept' };
    const stored = dataOf(await harness.execute(GenerationDocument, { input })).generation!;

    dataOf(await harness.execute(GenerationDocument, { input, policy: 'NO_STORE' }));
    const served = dataOf(await harness.execute(GenerationDocument, { input })).generation!;

    expect(served).toMatchObject({ cacheStatus: 'HIT', createdAt: stored.createdAt });
    expect(harness.generator.calls).toHaveLength(2);
  });

  it('stores the result when a caching request joins a NO_STORE generation in flight', async () => {
    const harness = createHarness({ latencyMs: 50 });
    const input = { prompt: 'joined' };

    const [bypass, joined] = await Promise.all([
      harness.execute(GenerationDocument, { input, policy: 'NO_STORE' }),
      harness.execute(GenerationDocument, { input }),
    ]);

    expect(dataOf(bypass).generation!.cacheStatus).toBe('BYPASS');
    expect(dataOf(joined).generation!.cacheStatus).toBe('COALESCED');
    expect(harness.generator.calls).toHaveLength(1);
    expect(dataOf(await harness.execute(GenerationDocument, { input })).generation!.cacheStatus).toBe('HIT');
  });

  it('with the result cache disabled, repeats generate again and nothing is stored', async () => {
    const harness = createHarness({ env: { DISABLE_RESULT_CACHE: '1' } });
    const input = { prompt: 'uncached' };

    const first = dataOf(await harness.execute(GenerationDocument, { input })).generation!;
    const second = dataOf(await harness.execute(GenerationDocument, { input })).generation!;

    expect([first.cacheStatus, second.cacheStatus]).toEqual(['MISS', 'MISS']);
    expect(harness.generator.calls).toHaveLength(2);
    expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ enabled: false, entries: 0 });
  });
});
