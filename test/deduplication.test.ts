import { describe, expect, it, vi } from 'vitest';
import { CacheStatsDocument, DuplicatesInOneOperationDocument, GenerationsDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf } from './helpers/harness.js';

describe('memoization inside one operation', () => {
  it('runs the generator once for ten aliases and a list repeating the same input', async () => {
    const harness = createHarness();
    const input = { prompt: 'a lighthouse at dusk' };

    const result = await harness.execute(DuplicatesInOneOperationDocument, { input, inputs: [input, input, input] });

    const data = dataOf(result);
    expect(harness.generator.calls).toHaveLength(1);
    const aliases = [data.a0, data.a1, data.a2, data.a3, data.a4, data.a5, data.a6, data.a7, data.a8, data.a9];
    const served = [...aliases, ...data.list];
    expect(served).toHaveLength(13);
    const key = harness.generator.calls[0]!.key;
    for (const generation of served) {
      expect(generation).toMatchObject({ key, cacheStatus: 'MISS', output: aliases[0]!.output });
    }
    const stats = dataOf(await harness.execute(CacheStatsDocument)).cacheStats;
    // 13 loads of one key: one reached the service, twelve were collapsed.
    expect(stats).toMatchObject({ deduplicated: 12, generations: 1, misses: 1, hits: 0, entries: 1 });
  });

  it('reports each served path with its key and status in extensions.cache', async () => {
    const harness = createHarness();
    const input = { prompt: 'a lighthouse at dusk' };

    const result = await harness.execute(DuplicatesInOneOperationDocument, { input, inputs: [input, { prompt: 'fog' }] });

    dataOf(result);
    const report = result.extensions?.cache ?? {};
    expect(Object.keys(report).sort()).toEqual(
      ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9', 'list.0', 'list.1'].sort(),
    );
    expect(report['list.0']).toEqual(report['a0']);
    expect(report['list.1']?.key).not.toEqual(report['a0']?.key);
    expect(report['list.1']?.status).toBe('MISS');
  });

  it('hands the distinct keys of one operation to the service as one batch', async () => {
    const harness = createHarness();
    const loadMany = vi.spyOn(harness.service, 'loadMany');
    const inputs = ['one', 'two', 'three', 'two', 'one'].map((prompt) => ({ prompt }));

    const data = dataOf(await harness.execute(GenerationsDocument, { inputs }));

    expect(loadMany).toHaveBeenCalledTimes(1);
    expect(loadMany.mock.calls[0]![0]).toHaveLength(3);
    expect(harness.generator.calls).toHaveLength(3);
    expect(data.generations.map((generation) => generation?.prompt)).toEqual(['one', 'two', 'three', 'two', 'one']);
    expect(data.generations[4]?.key).toBe(data.generations[0]?.key);
  });

  it('does not memoize across operations: the second operation is served by the result cache', async () => {
    const harness = createHarness();
    const inputs = [{ prompt: 'tide pools' }];

    const first = dataOf(await harness.execute(GenerationsDocument, { inputs }));
    const second = dataOf(await harness.execute(GenerationsDocument, { inputs }));

    expect(first.generations[0]?.cacheStatus).toBe('MISS');
    expect(second.generations[0]?.cacheStatus).toBe('HIT');
    expect(harness.generator.calls).toHaveLength(1);
    expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ hits: 1, misses: 1, deduplicated: 0 });
  });
});
