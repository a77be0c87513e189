import { describe, expect, it } from 'vitest';
import { CacheStatsDocument, GenerationDocument, GenerationsDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, errorCodes, postOperation } from './helpers/harness.js';
import { captureLogs } from './helpers/logs.js';

describe('generator failures', () => {
  it('gives GENERATION_FAILED to every waiter of a failed generation, stores nothing, and retries on the next request', async () => {
    const { logger, lines } = captureLogs('warn');
    const harness = createHarness({ latencyMs: 200, logger });
    harness.generator.behaviour = { kind: 'fail', message: 'GPU fell over at 10.0.0.7' };
    const input = { prompt: 'doomed' };

    const results = await Promise.all(Array.from({ length: 5 }, () => harness.execute(GenerationDocument, { input })));

    expect(harness.generator.calls).toHaveLength(1);
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(errorCodes(result)).toEqual(['GENERATION_FAILED']);
      // What the generator said may hold internals: it goes to the log, not to clients.
      expect(result.errors?.[0]?.message).toBe('the generator failed');
      expect(result.data?.generation).toBeNull();
    }
    expect(harness.service.stats()).toMatchObject({ entries: 0, generations: 1, generationErrors: 1, inFlight: 0, queued: 0 });
    expect(lines.find((line) => line['msg'] === 'generation failed')).toMatchObject({ code: 'GENERATION_FAILED', detail: 'GPU fell over at 10.0.0.7' });

    harness.generator.behaviour = { kind: 'generate' };
    const retried = dataOf(await harness.execute(GenerationDocument, { input })).generation!;
    expect(retried.cacheStatus).toBe('MISS');
    expect(harness.generator.calls).toHaveLength(2);
    expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ entries: 1, generationErrors: 1 });
  });

  it('gives the error to each duplicate of a failed input within one operation, and only to those', async () => {
    const harness = createHarness();
    const failing = { prompt: 'fails', parameters: { seed: 1 } };
    const inputs = [failing, { prompt: 'fine' }, failing];
    dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'fine' } }));
    harness.generator.behaviour = { kind: 'fail', message: 'bad weights' };

    const result = await harness.execute(GenerationsDocument, { inputs });

    expect(result.errors?.map((error) => [error.path, error.extensions?.['code']])).toEqual([
      [['generations', 0], 'GENERATION_FAILED'],
      [['generations', 2], 'GENERATION_FAILED'],
    ]);
    expect(result.data?.generations.map((generation) => generation?.cacheStatus ?? null)).toEqual([null, 'HIT', null]);
    expect(harness.generator.calls.filter((call) => call.prompt === 'fails')).toHaveLength(1);
    expect(harness.service.stats()).toMatchObject({ entries: 1, inFlight: 0 });
  });

  it('gives GENERATION_TIMEOUT when the generator hangs, and frees its slot', async () => {
    const harness = createHarness({ env: { GENERATOR_TIMEOUT_MS: '50', GENERATOR_CONCURRENCY: '1' } });
    harness.generator.behaviour = { kind: 'hang' };

    const result = await harness.execute(GenerationDocument, { input: { prompt: 'stuck' } });

    expect(errorCodes(result)).toEqual(['GENERATION_TIMEOUT']);
    expect(result.errors?.[0]?.message).toContain('50 ms');
    expect(harness.service.stats()).toMatchObject({ entries: 0, inFlight: 0, queued: 0, generationErrors: 1 });
    harness.generator.behaviour = { kind: 'generate' };
    expect(dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'next' } })).generation!.cacheStatus).toBe('MISS');
  });

  it('gives OVERLOADED past the queue bound, without starting that generation', async () => {
    const harness = createHarness({ latencyMs: 20, env: { GENERATOR_CONCURRENCY: '1', GENERATOR_QUEUE_MAX: '1' } });
    const inputs = ['first', 'second', 'third'].map((prompt) => ({ prompt }));

    const result = await harness.execute(GenerationsDocument, { inputs });

    expect(result.errors?.map((error) => [error.path, error.extensions?.['code']])).toEqual([
      [['generations', 2], 'OVERLOADED'],
    ]);
    expect(result.data?.generations.map((generation) => generation?.prompt ?? null)).toEqual(['first', 'second', null]);
    expect(harness.generator.calls.map((call) => call.prompt)).toEqual(['first', 'second']);
    expect(harness.service.stats()).toMatchObject({ entries: 2, inFlight: 0, queued: 0 });
    // Once the queue drains, the same input is accepted.
    expect(dataOf(await harness.execute(GenerationDocument, { input: inputs[2]! })).generation!.cacheStatus).toBe('MISS');
  });

  it('keeps every queued waiter across operations and reports queue depth while they wait', async () => {
    const harness = createHarness({ latencyMs: 300, env: { GENERATOR_CONCURRENCY: '1', GENERATOR_QUEUE_MAX: '2' } });
    const pending = ['a', 'b', 'c'].map((prompt) => harness.execute(GenerationDocument, { input: { prompt } }));
    await expect.poll(() => harness.service.stats().queued).toBe(2);
    expect(harness.service.stats().inFlight).toBe(1);

    const overloaded = await harness.execute(GenerationDocument, { input: { prompt: 'd' } });
    const results = await Promise.all(pending);

    expect(errorCodes(overloaded)).toEqual(['OVERLOADED']);
    expect(results.map((result) => dataOf(result).generation!.cacheStatus)).toEqual(['MISS', 'MISS', 'MISS']);
    expect(harness.service.stats()).toMatchObject({ inFlight: 0, queued: 0, generations: 3 });
  });
});

describe('shutdown', () => {
  it('answers a generation still running at the end of the grace period with GENERATION_FAILED before cutting connections', async () => {
    const harness = createHarness();
    harness.generator.behaviour = { kind: 'hang' };
    const url = await harness.listen(0, '127.0.0.1');
    const pending = postOperation(fetch, url, GenerationDocument, { input: { prompt: 'still generating at shutdown' } });
    await expect.poll(() => harness.generator.calls.length).toBe(1);

    const closed = harness.close(100);
    const result = await pending;

    expect(result.status).toBe(200);
    expect(errorCodes(result)).toEqual(['GENERATION_FAILED']);
    expect(result.errors?.[0]?.message).toMatch(/shutting down/);
    await closed;
    expect(harness.server.listening).toBe(false);
  });
});
