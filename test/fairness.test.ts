import { describe, expect, it } from 'vitest';
import { CacheStatsDocument, GenerationDocument, GenerationsDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, postOperation, serve } from './helpers/harness.js';

const BACKLOG = 100;

/**
 * One operation asking for many generations must not hold up another client's one: the generator
 * queue takes operations in turn. Counted in generator calls, over a real port (the fast lane).
 */
describe('a fair generator queue', () => {
  it(`starts another client's generation at the first free slot while one operation has ${BACKLOG} queued`, async () => {
    const harness = createHarness({ env: { GENERATOR_CONCURRENCY: '2', MAX_BATCH_SIZE: String(BACKLOG) } });
    let release!: () => void;
    harness.generator.behaviour = { kind: 'held', release: new Promise<void>((resolve) => (release = resolve)) };
    const url = await serve(harness);
    const stats = async () => dataOf(await postOperation(fetch, url, CacheStatsDocument)).cacheStats;

    const inputs = Array.from({ length: BACKLOG }, (_, i) => ({ prompt: `backlog ${i}` }));
    const big = postOperation(fetch, url, GenerationsDocument, { inputs });
    await expect.poll(stats).toMatchObject({ inFlight: 2, queued: BACKLOG - 2 });
    const small = postOperation(fetch, url, GenerationDocument, { input: { prompt: 'another client' } });
    await expect.poll(stats).toMatchObject({ queued: BACKLOG - 1 });

    // Held generations end together: the two running end, and the next two slots start.
    release();
    const answer = dataOf(await small).generation;
    const order = harness.generator.calls.map((call) => call.prompt);

    expect(answer).toMatchObject({ prompt: 'another client', cacheStatus: 'MISS' });
    expect(order.slice(0, 2)).toEqual(['backlog 0', 'backlog 1']);
    expect(order.slice(2, 4)).toContain('another client');
    expect(dataOf(await big).generations).toHaveLength(BACKLOG);
    expect(harness.generator.calls).toHaveLength(BACKLOG + 1);
  });

  it("starts a generation another operation joined at that operation's turn, once", async () => {
    const harness = createHarness({ env: { GENERATOR_CONCURRENCY: '1', MAX_BATCH_SIZE: '10' } });
    let release!: () => void;
    harness.generator.behaviour = { kind: 'held', release: new Promise<void>((resolve) => (release = resolve)) };
    const url = await serve(harness);
    const stats = async () => dataOf(await postOperation(fetch, url, CacheStatsDocument)).cacheStats;

    const inputs = Array.from({ length: 10 }, (_, i) => ({ prompt: `backlog ${i}` }));
    const big = postOperation(fetch, url, GenerationsDocument, { inputs });
    await expect.poll(stats).toMatchObject({ inFlight: 1, queued: 9 });
    // Wanted by the big operation too, last in its queue.
    const joined = postOperation(fetch, url, GenerationDocument, { input: { prompt: 'backlog 9' } });
    await expect.poll(stats).toMatchObject({ coalesced: 1 });

    release();
    const answer = dataOf(await joined).generation;
    const order = harness.generator.calls.map((call) => call.prompt);

    expect(answer).toMatchObject({ prompt: 'backlog 9', cacheStatus: 'COALESCED' });
    expect(order.slice(0, 2)).toEqual(['backlog 0', 'backlog 9']);
    expect(dataOf(await big).generations).toHaveLength(10);
    expect(order.filter((prompt) => prompt === 'backlog 9')).toHaveLength(1);
    expect(harness.generator.calls).toHaveLength(10);
  });
});
