import { describe, expect, it } from 'vitest';
import { CacheStatsDocument, GenerateDocument, GenerationDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf } from './helpers/harness.js';

describe('repeats across operations', () => {
  it('serves a repeat as a HIT with the same key, output and original generationMs, and savedMs grows', async () => {
    const harness = createHarness({ latencyMs: 30 });
    const input = { prompt: 'a haiku about caches', parameters: { temperature: 0.2 } };

    const first = dataOf(await harness.execute(GenerationDocument, { input })).generation!;
    const second = dataOf(await harness.execute(GenerationDocument, { input })).generation!;
    const third = dataOf(await harness.execute(GenerateDocument, { input })).generate;

    expect(first.cacheStatus).toBe('MISS');
    expect(first.generationMs).toBeGreaterThan(0);
    for (const repeat of [second, third]) {
      expect(repeat.cacheStatus).toBe('HIT');
      expect(repeat).toMatchObject({
        key: first.key,
        output: first.output,
        generationMs: first.generationMs,
        createdAt: first.createdAt,
      });
    }
    expect(harness.generator.calls).toHaveLength(1);
    const stats = dataOf(await harness.execute(CacheStatsDocument)).cacheStats;
    expect(stats).toMatchObject({ hits: 2, misses: 1, generations: 1, hitRate: 2 / 3 });
    expect(stats.savedMs).toBeCloseTo(2 * first.generationMs, 6);
  });

  it('treats inputs that differ only in parameter order, explicit defaults or nulls as the same generation', async () => {
    const harness = createHarness();
    const a = { prompt: 'order', model: 'sim-1', parameters: { seed: 1, stop: ['b', 'a'], temperature: 0.5 } };
    const b = { prompt: 'order', parameters: { temperature: 0.5, stop: ['b', 'a'], maxTokens: 64, topP: null, seed: 1 } };

    const first = dataOf(await harness.execute(GenerationDocument, { input: a })).generation!;
    const second = dataOf(await harness.execute(GenerationDocument, { input: b })).generation!;

    expect(second).toMatchObject({ key: first.key, cacheStatus: 'HIT', output: first.output });
    expect(harness.generator.calls).toHaveLength(1);
  });

  it('gives a different generation for a different model or parameter value', async () => {
    const harness = createHarness();
    const base = { prompt: 'variety', parameters: { seed: 1 } };

    const results = await Promise.all(
      [base, { ...base, model: 'sim-2' }, { ...base, parameters: { seed: 2 } }, { ...base, prompt: 'variety!' }].map(
        async (input) => dataOf(await harness.execute(GenerationDocument, { input })).generation!,
      ),
    );

    expect(new Set(results.map((result) => result.key)).size).toBe(4);
    expect(results.map((result) => result.cacheStatus)).toEqual(['MISS', 'MISS', 'MISS', 'MISS']);
    expect(harness.generator.calls).toHaveLength(4);
    expect(results[1]!.output.startsWith('[sim-2]')).toBe(true);
  });

  it('expires an entry after its TTL on the injected clock and generates again', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const harness = createHarness({ now: () => clock, env: { CACHE_TTL_SECONDS: '60' } });
    const input = { prompt: 'ephemeral' };

    const stored = dataOf(await harness.execute(GenerationDocument, { input, ttlSeconds: 10 })).generation!;
    expect(stored.expiresAt).toBe('2026-01-01T00:00:10.000Z');
    clock += 10_000;
    expect(dataOf(await harness.execute(GenerationDocument, { input })).generation!.cacheStatus).toBe('HIT');
    clock += 1;
    expect(dataOf(await harness.execute(GenerationDocument, { input })).generation!.cacheStatus).toBe('MISS');

    expect(harness.generator.calls).toHaveLength(2);
    const stats = dataOf(await harness.execute(CacheStatsDocument)).cacheStats;
    expect(stats).toMatchObject({ expirations: 1, entries: 1, hits: 1, misses: 2 });
    // The new entry took the default TTL of 60 s.
    const again = dataOf(await harness.execute(GenerationDocument, { input })).generation!;
    expect(again.expiresAt).toBe('2026-01-01T00:01:10.001Z');
  });

  it('returns a result larger than the byte bound without storing it or flushing the cache', async () => {
    // 0.002 MiB = 2097 bytes: room for small records, not for one of 2000 words.
    const harness = createHarness({ env: { CACHE_MAX_MEMORY_MB: '0.002' } });
    const small = { prompt: 'small' };
    const large = { prompt: 'large', parameters: { maxTokens: 2000 } };

    dataOf(await harness.execute(GenerationDocument, { input: small }));
    const before = dataOf(await harness.execute(CacheStatsDocument)).cacheStats;
    const first = dataOf(await harness.execute(GenerationDocument, { input: large })).generation!;
    const second = dataOf(await harness.execute(GenerationDocument, { input: large })).generation!;

    expect(first.output.split(' ')).toHaveLength(2001);
    expect(first.expiresAt).toBeNull();
    expect(second.cacheStatus).toBe('MISS');
    const after = dataOf(await harness.execute(CacheStatsDocument)).cacheStats;
    expect(after).toMatchObject({ entries: 1, bytes: before.bytes, evictions: 0 });
    expect(dataOf(await harness.execute(GenerationDocument, { input: small })).generation!.cacheStatus).toBe('HIT');
  });
});

describe('documents with several operations', () => {
  it('runs the operation named by operationName, each time', async () => {
    const harness = createHarness();
    const query = `
      query First { generation(input: {prompt: "first"}) { prompt } }
      query Second { generation(input: {prompt: "second"}) { prompt } }
    `;
    const run = async (operationName: string) => {
      const response = await harness.yoga.fetch('http://yoga/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, operationName }),
      });
      return ((await response.json()) as { data: { generation: { prompt: string } } }).data.generation.prompt;
    };

    expect([await run('First'), await run('Second'), await run('First'), await run('Second')]).toEqual([
      'first',
      'second',
      'first',
      'second',
    ]);
  });
});
