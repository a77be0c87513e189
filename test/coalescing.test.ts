import { describe, expect, it } from 'vitest';
import { CacheStatsDocument, GenerationDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, postOperation, serve } from './helpers/harness.js';

describe('single-flight across operations', () => {
  it('runs the generator once for 50 concurrent HTTP requests of one new input', async () => {
    const harness = createHarness({ latencyMs: 200 });
    const url = await serve(harness);
    const input = { prompt: 'a storm over the bay', parameters: { seed: 7 } };

    const results = await Promise.all(
      Array.from({ length: 50 }, () => postOperation(fetch, url, GenerationDocument, { input })),
    );

    expect(results.map((result) => result.status)).toEqual(Array(50).fill(200));
    const generations = results.map((result) => dataOf(result).generation!);
    const statuses = generations.map((generation) => generation.cacheStatus);
    expect(harness.generator.calls).toHaveLength(1);
    expect(statuses.filter((status) => status === 'MISS')).toHaveLength(1);
    expect(statuses.filter((status) => status === 'COALESCED' || status === 'HIT')).toHaveLength(49);
    expect(new Set(generations.map((generation) => generation.key)).size).toBe(1);
    expect(new Set(generations.map((generation) => generation.output)).size).toBe(1);
    // Every response says in extensions.cache what happened to it.
    expect(results.map((result) => result.extensions?.cache?.['generation']?.status)).toEqual(statuses);

    const stats = dataOf(await harness.execute(CacheStatsDocument)).cacheStats;
    const coalesced = statuses.filter((status) => status === 'COALESCED').length;
    expect(stats).toMatchObject({ generations: 1, coalesced, inFlight: 0, queued: 0, entries: 1 });
    expect(stats.hits).toBe(49 - coalesced);
  });

  it('joins concurrent operations per key while distinct keys run side by side', async () => {
    const harness = createHarness({ latencyMs: 100 });
    const prompts = ['north', 'south', 'east', 'west'];

    const results = await Promise.all(
      prompts.flatMap((prompt) => Array.from({ length: 5 }, () => harness.execute(GenerationDocument, { input: { prompt } }))),
    );

    const statuses = results.map((result) => dataOf(result).generation!.cacheStatus);
    expect(harness.generator.calls).toHaveLength(4);
    for (const prompt of prompts) {
      expect(harness.generator.calls.filter((call) => call.prompt === prompt)).toHaveLength(1);
    }
    expect(statuses.filter((status) => status === 'MISS')).toHaveLength(4);
    const coalesced = statuses.filter((status) => status === 'COALESCED').length;
    expect(coalesced + statuses.filter((status) => status === 'HIT').length).toBe(16);
    expect(harness.service.stats()).toMatchObject({ inFlight: 0, queued: 0, coalesced, generations: 4 });
  });
});
