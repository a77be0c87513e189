import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import type { GenerationChunk } from '../src/generation/service.js';
import { GenerationDocument, GenerationsDocument, GenerationStreamDocument, type GenerationStreamSubscription, type GenerationStreamSubscriptionVariables } from '../src/generated/graphql.js';
import { createHarness, dataOf, postOperation, serve, type Harness } from './helpers/harness.js';
import { fleetEnv, redisSkipReason } from './helpers/redis.js';
import { subscribe, type Subscriber, type SubscriptionResult, type Transport } from './helpers/subscribers.js';

const TRANSPORTS: Transport[] = ['sse', 'graphql-ws'];

type Chunk = GenerationStreamSubscription['generationStream'];

/** Many words over the latency: many chunks, a few milliseconds apart. */
const LATENCY_MS = 600;
const WORDS = 200;

/** The chunk of a result that must have no errors. */
function chunkOf(result: SubscriptionResult<GenerationStreamSubscription>): Chunk {
  expect(result.errors).toBeUndefined();
  return result.data!.generationStream;
}

/** Reads chunks until the last one; returns them all, `first` (already read) included. */
async function readToEnd(subscriber: Subscriber<GenerationStreamSubscription>, first: Chunk[] = []): Promise<Chunk[]> {
  const chunks = [...first];
  while (chunks.at(-1)?.done !== true) chunks.push(chunkOf(await subscriber.next()));
  return chunks;
}

const text = (chunks: readonly { readonly delta: string }[]): string => chunks.map((chunk) => chunk.delta).join('');

describe.each(TRANSPORTS)('generationStream over %s', (transport) => {
  let harness: Harness;
  const subscribers: Subscriber<unknown>[] = [];

  async function start(env: Record<string, string> = {}) {
    harness = createHarness({ latencyMs: LATENCY_MS, env });
    return serve(harness);
  }

  function open(url: string, variables: GenerationStreamSubscriptionVariables) {
    const subscriber = subscribe(transport, GenerationStreamDocument, { url, variables });
    subscribers.push(subscriber as Subscriber<unknown>);
    return subscriber;
  }

  afterEach(async () => {
    await Promise.all(subscribers.splice(0).map((subscriber) => subscriber.close()));
  });

  it('two subscribers of one new prompt share one generation; the one that joins late first gets everything produced so far', async () => {
    const url = await start();
    const input = { prompt: `two readers over ${transport}`, parameters: { maxTokens: WORDS } };

    const first = open(url, { input });
    const early = [chunkOf(await first.next())];
    while (early.length < 3) early.push(chunkOf(await first.next()));
    const seenBeforeJoining = text(early);
    const second = open(url, { input });
    const joined = chunkOf(await second.next());

    expect(joined.done).toBe(false);
    expect(joined.index).toBe(0);
    expect(joined.delta.length).toBeGreaterThanOrEqual(seenBeforeJoining.length);
    expect(joined.delta.startsWith(seenBeforeJoining)).toBe(true);
    const [firstChunks, secondChunks] = await Promise.all([readToEnd(first, early), readToEnd(second, [joined])]);

    expect(harness.generator.calls).toHaveLength(1);
    expect(text(secondChunks)).toBe(text(firstChunks));
    expect(firstChunks.map((chunk) => chunk.index)).toEqual(firstChunks.map((_, index) => index));
    expect(new Set(firstChunks.map((chunk) => chunk.cacheStatus))).toEqual(new Set(['MISS']));
    expect(new Set(secondChunks.map((chunk) => chunk.cacheStatus))).toEqual(new Set(['COALESCED']));
    expect(firstChunks.filter((chunk) => chunk.done)).toHaveLength(1);
    expect(firstChunks.slice(0, -1).every((chunk) => chunk.generation === null)).toBe(true);
    const stored = dataOf(await postOperation(fetch, url, GenerationDocument, { input })).generation!;
    expect(stored.cacheStatus).toBe('HIT');
    expect(text(firstChunks)).toBe(stored.output);
    expect(firstChunks.at(-1)!.generation).toMatchObject({ output: stored.output, key: stored.key, cacheStatus: 'MISS' });
    expect(secondChunks.at(-1)!.generation).toMatchObject({ output: stored.output, cacheStatus: 'COALESCED' });
  });

  it('a HIT streams the stored output as one chunk and ends', async () => {
    const url = await start();
    const input = { prompt: `stored before over ${transport}` };
    const stored = dataOf(await postOperation(fetch, url, GenerationDocument, { input })).generation!;

    const subscriber = open(url, { input });
    const only = chunkOf(await subscriber.next());

    expect(only).toMatchObject({ key: stored.key, cacheStatus: 'HIT', delta: stored.output, index: 0, done: true });
    expect(only.generation).toMatchObject({ output: stored.output, cacheStatus: 'HIT' });
    await expect(subscriber.next()).rejects.toThrow('the subscription ended');
    expect(harness.generator.calls).toHaveLength(1);
  });

  it('a generation query that joins a streaming flight is COALESCED and gets the same output', async () => {
    const url = await start();
    const input = { prompt: `a query joins over ${transport}`, parameters: { maxTokens: WORDS } };
    const subscriber = open(url, { input });
    const first = chunkOf(await subscriber.next());
    expect(first.done).toBe(false);

    const [joined, chunks] = await Promise.all([postOperation(fetch, url, GenerationDocument, { input }), readToEnd(subscriber, [first])]);

    expect(dataOf(joined).generation).toMatchObject({ cacheStatus: 'COALESCED', output: text(chunks) });
    expect(harness.generator.calls).toHaveLength(1);
  });

  it('a subscriber that does not read still gets the whole output, and the one that reads finishes first', async () => {
    const url = await start();
    const input = { prompt: `a slow reader over ${transport}`, parameters: { maxTokens: WORDS } };
    const slow = open(url, { input });
    const slowFirst = chunkOf(await slow.next());
    const fast = open(url, { input });

    const fastChunks = await readToEnd(fast);
    const slowChunks = await readToEnd(slow, [slowFirst]);

    expect(fastChunks.at(-1)!.done).toBe(true);
    expect(text(slowChunks)).toBe(text(fastChunks));
    expect(text(slowChunks)).toBe(slowChunks.at(-1)!.generation!.output);
    expect(harness.generator.calls).toHaveLength(1);
  });

  it.each([
    ['a model off the allow-list', { input: { prompt: 'p', model: 'no-such-model' } }, 'no-such-model'],
    ['an empty prompt', { input: { prompt: '  ' } }, 'prompt must not be empty'],
    ['a negative ttlSeconds', { input: { prompt: 'p' }, ttlSeconds: -1 }, 'ttlSeconds must be from 0'],
  ])('refuses %s with BAD_USER_INPUT and generates nothing', async (_name, variables, message) => {
    const url = await start();

    const result = await open(url, variables).next();

    expect(result.errors?.map((error) => error.extensions?.['code'])).toEqual(['BAD_USER_INPUT']);
    expect(result.errors?.[0]?.message).toContain(message);
    expect(harness.generator.calls).toHaveLength(0);
  });

  it('a stream that passes MAX_OUTPUT_BYTES fails with RESPONSE_TOO_LARGE and stores nothing', async () => {
    const url = await start({ MAX_OUTPUT_BYTES: '1024' });
    const input = { prompt: `too long over ${transport}`, parameters: { maxTokens: 1000 } };
    const subscriber = open(url, { input });

    const received: Chunk[] = [];
    const failed = await subscriber.until((result) => {
      if (result.errors === undefined) received.push(result.data!.generationStream);
      return result.errors !== undefined;
    });

    expect(failed.errors?.map((error) => error.extensions?.['code'])).toEqual(['RESPONSE_TOO_LARGE']);
    expect(received.some((chunk) => chunk.done)).toBe(false);
    expect(Buffer.byteLength(text(received))).toBeLessThanOrEqual(1024);
    await expect(subscriber.next()).rejects.toThrow('the subscription ended');
    const cached = dataOf(await postOperation(fetch, url, GenerationDocument, { input, policy: 'CACHE_ONLY' }));
    expect(cached.generation).toBeNull();
    expect(harness.cache.stats().entries).toBe(0);
  });
});

describe('generationStream in the fair generator queue', () => {
  it("starts a subscription's generation at the first free slot while one operation has many queued: it is an operation of its own", async () => {
    const harness = createHarness({ env: { GENERATOR_CONCURRENCY: '2', MAX_BATCH_SIZE: '20' } });
    let release!: () => void;
    harness.generator.behaviour = { kind: 'held', release: new Promise<void>((resolve) => (release = resolve)) };
    const url = await serve(harness);
    const inputs = Array.from({ length: 20 }, (_, i) => ({ prompt: `backlog ${i}` }));
    const big = postOperation(fetch, url, GenerationsDocument, { inputs });
    await expect.poll(() => harness.service.stats()).toMatchObject({ inFlight: 2, queued: 18 });

    const subscriber = subscribe('sse', GenerationStreamDocument, { url, variables: { input: { prompt: 'a streaming client' } } });
    onTestFinished(() => subscriber.close());
    const chunks = readToEnd(subscriber);
    await expect.poll(() => harness.service.stats()).toMatchObject({ queued: 19 });
    release();
    const streamed = await chunks;

    expect(streamed.at(-1)).toMatchObject({ done: true, cacheStatus: 'MISS' });
    const order = harness.generator.calls.map((call) => call.prompt);
    expect(order.slice(0, 2)).toEqual(['backlog 0', 'backlog 1']);
    expect(order.slice(2, 4)).toContain('a streaming client');
    expect(dataOf(await big).generations).toHaveLength(20);
  });
});

describe('GenerationService.stream', () => {
  it('gives a follower that did not read while the generator streamed the rest as one piece', async () => {
    const harness = createHarness({ latencyMs: 200 });
    const request = harness.service.prepare({ prompt: 'a reader that pauses', parameters: { maxTokens: 100 } });
    const slow = harness.service.stream(request, { policy: 'CACHE_FIRST' });
    const fast = harness.service.stream(request, { policy: 'CACHE_FIRST' });

    const slowFirst = await slow.next();
    const fastChunks: GenerationChunk[] = [];
    for await (const chunk of fast) fastChunks.push(chunk);
    const slowRest: GenerationChunk[] = [];
    for await (const chunk of slow) slowRest.push(chunk);

    expect(fastChunks.length).toBeGreaterThan(2);
    expect(slowFirst.done).toBe(false);
    expect(slowRest).toHaveLength(1);
    const slowChunks = [slowFirst.value as GenerationChunk, ...slowRest];
    expect(slowChunks.map((chunk) => chunk.index)).toEqual([0, 1]);
    const output = fastChunks.at(-1)!.result!.record.output;
    expect(text(fastChunks)).toBe(output);
    expect(text(slowChunks)).toBe(output);
    expect(harness.generator.calls).toHaveLength(1);
    expect(harness.service.stats()).toMatchObject({ generations: 1, misses: 2, coalesced: 1, inFlight: 0, entries: 1 });
  });

  it('fails a generation whose deltas do not add up to its output with GENERATION_FAILED, and stores nothing', async () => {
    const harness = createHarness();
    harness.generator.generate = async (_request, _signal, onDelta) => {
      onDelta?.('not the ');
      return { output: 'the output', contentType: 'text/plain' };
    };
    const request = harness.service.prepare({ prompt: 'deltas that lie' });

    const chunks: GenerationChunk[] = [];
    const failure = await (async () => {
      for await (const chunk of harness.service.stream(request, { policy: 'CACHE_FIRST' })) chunks.push(chunk);
    })().catch((error: unknown) => error);

    expect(failure).toMatchObject({ code: 'GENERATION_FAILED' });
    expect(harness.service.stats()).toMatchObject({ entries: 0, generationErrors: 1, inFlight: 0 });
  });

  it('refuses a stream under CACHE_ONLY of what is not cached with NOT_FOUND, and generates nothing', async () => {
    const harness = createHarness();
    const request = harness.service.prepare({ prompt: 'never generated' });

    await expect(harness.service.stream(request, { policy: 'CACHE_ONLY' }).next()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(harness.generator.calls).toHaveLength(0);
  });

  it('streams a generator that cannot stream as one piece when it is done', async () => {
    const harness = createHarness({ latencyMs: 20 });
    // The generator's own generate, without its streaming: as a generator that ignores onDelta.
    const generate = harness.generator.generate.bind(harness.generator);
    harness.generator.generate = (request, signal) => generate(request, signal);
    const request = harness.service.prepare({ prompt: 'all at once' });

    const chunks: GenerationChunk[] = [];
    for await (const chunk of harness.service.stream(request, { policy: 'CACHE_FIRST' })) chunks.push(chunk);

    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatchObject({ index: 0, status: 'MISS', delta: chunks[0]!.result!.record.output });
  });
});

describe.skipIf(redisSkipReason !== undefined)('generationStream across instances', () => {
  it('a subscriber on B of a generation streaming on A gets no live chunks: the stored output as one COALESCED chunk', async () => {
    const env = fleetEnv();
    const a = createHarness({ env, latencyMs: LATENCY_MS });
    const b = createHarness({ env, latencyMs: LATENCY_MS });
    await Promise.all([a.connected, b.connected]);
    const [urlA, urlB] = [await serve(a), await serve(b)];
    const input = { prompt: 'streamed on A, awaited on B', parameters: { maxTokens: WORDS } };
    const onA = subscribe('sse', GenerationStreamDocument, { url: urlA, variables: { input } });
    const onB = subscribe('sse', GenerationStreamDocument, { url: urlB, variables: { input } });
    onTestFinished(async () => {
      await Promise.all([onA.close(), onB.close()]);
    });

    const firstOnA = chunkOf(await onA.next());
    expect(firstOnA).toMatchObject({ done: false, cacheStatus: 'MISS' });
    const [chunksOnA, chunksOnB] = await Promise.all([readToEnd(onA, [firstOnA]), readToEnd(onB)]);

    expect(a.generator.calls.length + b.generator.calls.length).toBe(1);
    expect(chunksOnB).toHaveLength(1);
    expect(chunksOnB[0]).toMatchObject({ index: 0, done: true, cacheStatus: 'COALESCED', delta: text(chunksOnA) });
    expect(chunksOnB[0]!.generation).toMatchObject({ cacheStatus: 'COALESCED', output: text(chunksOnA) });
  });
});
