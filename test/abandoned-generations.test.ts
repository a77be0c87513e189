import { print } from 'graphql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import {
  CacheStatsDocument,
  CancelGenerationDocument,
  GenerationDocument,
  GenerationStreamDocument,
  InFlightGenerationsDocument,
  type GenerationQuery,
  type GenerationStreamSubscription,
  type InFlightGenerationsQuery,
} from '../src/generated/graphql.js';
import { createLogger } from '../src/logger.js';
import { testConfig } from './helpers/config.js';
import { dataOf, errorCodes, postOperation, serve, type OperationResult } from './helpers/harness.js';
import { startOpenAIServer, type FakeOpenAIServer } from './helpers/openai-server.js';
import { subscribe, type Subscriber, type Transport } from './helpers/subscribers.js';

/**
 * Generations whose clients go away (ABANDONED_GENERATIONS), and the admin fields over what is in
 * flight (inFlightGenerations, cancelGeneration), against a fake OpenAI-compatible upstream that
 * streams its first deltas and holds the last until released: whether the upstream sees its
 * request aborted is what says a generation was cancelled.
 */

const DELTAS = ['Once', ' upon', ' a', ' time'];
const OUTPUT = DELTAS.join('');

let upstream: FakeOpenAIServer;
const subscribers: Subscriber<unknown>[] = [];

beforeEach(async () => {
  upstream = await startOpenAIServer({ kind: 'stream', deltas: DELTAS, holdLast: true });
});

afterEach(async () => {
  await Promise.all(subscribers.splice(0).map((subscriber) => subscriber.close()));
  upstream.release();
  await upstream.close();
});

const start = (env: Record<string, string> = {}) =>
  serve(
    createApp(testConfig({ GENERATOR: 'openai', OPENAI_BASE_URL: upstream.baseUrl, OPENAI_MODEL: 'test-model', ...env }), {
      logger: createLogger('silent'),
      defaultMetrics: false,
    }),
  );

/** How an HTTP client asks: a JSON POST (which the fast lane takes) or a GET (which Yoga answers). */
type Door = 'fast lane' | 'yoga';

/** A `generation` query over HTTP that the test can abandon: `leave()` closes its connection. */
function ask(url: string, prompt: string, door: Door) {
  const controller = new AbortController();
  const query = print(GenerationDocument);
  const variables = JSON.stringify({ input: { prompt } });
  const headers = { accept: 'application/graphql-response+json' };
  const response =
    door === 'fast lane'
      ? fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ query, variables: JSON.parse(variables) }), signal: controller.signal })
      : fetch(`${url}?${new URLSearchParams({ query, variables })}`, { headers, signal: controller.signal });
  const result = response.then(async (answer) => ({ status: answer.status, ...((await answer.json()) as object) }) as OperationResult<GenerationQuery>);
  // A client that left never reads its answer.
  result.catch(() => {});
  return { result, leave: () => controller.abort() };
}

/** A streaming subscriber, closed after the test if it is still open. */
function stream(url: string, prompt: string, transport: Transport): Subscriber<GenerationStreamSubscription> {
  const subscriber = subscribe(transport, GenerationStreamDocument, { url, variables: { input: { prompt } } });
  subscribers.push(subscriber as Subscriber<unknown>);
  return subscriber;
}

/** A `generation` query over graphql-ws: closing it closes its socket. */
function askOverWebSocket(url: string, prompt: string): Subscriber<GenerationQuery> {
  const subscriber = subscribe('graphql-ws', GenerationDocument, { url, variables: { input: { prompt } } });
  subscribers.push(subscriber as Subscriber<unknown>);
  return subscriber;
}

const inFlight = async (url: string): Promise<InFlightGenerationsQuery['inFlightGenerations']> =>
  dataOf(await postOperation(fetch, url, InFlightGenerationsDocument)).inFlightGenerations;

const stats = async (url: string) => dataOf(await postOperation(fetch, url, CacheStatsDocument)).cacheStats;

/** The cached output of a prompt, or null; never generates. */
const cached = async (url: string, prompt: string) =>
  dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt }, policy: 'CACHE_ONLY' })).generation?.output ?? null;

/** Until the one generation in flight has this many waiters and its first deltas. */
async function waiters(url: string, count: number): Promise<InFlightGenerationsQuery['inFlightGenerations'][number]> {
  await expect.poll(async () => (await inFlight(url)).map(({ waiters, chunks }) => ({ waiters, streamed: chunks > 0 }))).toEqual([{ waiters: count, streamed: true }]);
  return (await inFlight(url))[0]!;
}

const upstreamAborted = () => upstream.requests.length === 1 && upstream.requests[0]!.abandoned;

describe('ABANDONED_GENERATIONS=cancel', () => {
  const env = { ABANDONED_GENERATIONS: 'cancel' };

  it.each<[Door, Door]>([
    ['fast lane', 'yoga'],
    ['yoga', 'fast lane'],
  ])('every HTTP client gone (%s, then %s): the upstream request is aborted, cancelled is 1, nothing is stored', async (first, second) => {
    const url = await start(env);
    const clients = [ask(url, 'a tale', first), ask(url, 'a tale', second)];
    await waiters(url, 2);

    clients[0]!.leave();
    // One client is still there: the generation goes on.
    await waiters(url, 1);
    expect((await stats(url)).cancelled).toBe(0);
    clients[1]!.leave();

    await expect.poll(upstreamAborted).toBe(true);
    expect(await inFlight(url)).toEqual([]);
    expect(await stats(url)).toMatchObject({ cancelled: 1, generationErrors: 0, entries: 0 });
    expect(await cached(url, 'a tale')).toBeNull();
    const metrics = await (await fetch(new URL('/metrics', url))).text();
    expect(metrics).toMatch(/^gencache_generation_cancelled_total 1$/m);
  });

  it('every streaming subscriber gone (SSE, and a graphql-ws one that joined late): the upstream request is aborted, nothing is stored', async () => {
    const url = await start(env);
    const early = stream(url, 'a song', 'sse');
    expect((await early.next()).data?.generationStream).toMatchObject({ cacheStatus: 'MISS', done: false });
    const late = stream(url, 'a song', 'graphql-ws');
    expect((await late.next()).data?.generationStream).toMatchObject({ cacheStatus: 'COALESCED', done: false });
    await waiters(url, 2);

    await early.close();
    await waiters(url, 1);
    await late.close();

    await expect.poll(upstreamAborted).toBe(true);
    expect(await inFlight(url)).toEqual([]);
    expect((await stats(url)).cancelled).toBe(1);
    expect(await cached(url, 'a song')).toBeNull();
  });

  it('a generation query over graphql-ws waits until its socket closes, then counts as gone', async () => {
    const url = await start(env);
    const client = askOverWebSocket(url, 'a poem');
    void client.next().catch(() => {});
    await waiters(url, 1);

    await client.close();

    await expect.poll(upstreamAborted).toBe(true);
    expect((await stats(url)).cancelled).toBe(1);
    expect(await cached(url, 'a poem')).toBeNull();
  });

  it('a client that stays keeps the generation: it gets the output, which is stored', async () => {
    const url = await start(env);
    const leaving = ask(url, 'a story', 'fast lane');
    const staying = stream(url, 'a story', 'sse');
    await waiters(url, 2);

    leaving.leave();
    await waiters(url, 1);
    upstream.release();

    const last = await staying.until((result) => result.data?.generationStream.done === true);
    expect(last.data?.generationStream.generation?.output).toBe(OUTPUT);
    expect(upstreamAborted()).toBe(false);
    expect(await cached(url, 'a story')).toBe(OUTPUT);
    expect((await stats(url)).cancelled).toBe(0);
  });

  it('a generation still queued when its clients leave leaves the queue: the generator never runs it', async () => {
    const url = await start({ ...env, GENERATOR_CONCURRENCY: '1' });
    const running = ask(url, 'the first', 'fast lane');
    await waiters(url, 1);
    const queued = ask(url, 'the second', 'fast lane');
    await expect.poll(async () => (await inFlight(url)).map(({ running, waiters }) => ({ running, waiters }))).toEqual([
      { running: true, waiters: 1 },
      { running: false, waiters: 1 },
    ]);
    expect((await stats(url)).queued).toBe(1);

    queued.leave();
    await expect.poll(async () => (await stats(url)).queued).toBe(0);
    expect((await stats(url)).cancelled).toBe(1);
    upstream.release();

    expect(dataOf(await running.result).generation?.output).toBe(OUTPUT);
    upstream.behaviour = { kind: 'stream', deltas: DELTAS };
    // The slot is free again: a third generation runs, and the upstream never saw the second.
    expect(dataOf(await ask(url, 'the third', 'fast lane').result).generation?.output).toBe(OUTPUT);
    expect(upstream.requests.map(({ body }) => (body as { messages: { content: string }[] }).messages[0]!.content)).toEqual(['the first', 'the third']);
  });
});

describe('ABANDONED_GENERATIONS=finish, the default', () => {
  it('a generation whose every client went away runs to the end and is stored', async () => {
    const url = await start();
    const clients = [ask(url, 'a fable', 'fast lane'), ask(url, 'a fable', 'yoga')];
    const subscriber = stream(url, 'a fable', 'graphql-ws');
    await waiters(url, 3);

    for (const client of clients) client.leave();
    await subscriber.close();
    await waiters(url, 0);
    upstream.release();

    await expect.poll(() => cached(url, 'a fable')).toBe(OUTPUT);
    expect(upstreamAborted()).toBe(false);
    expect((await stats(url)).cancelled).toBe(0);
  });
});

describe('inFlightGenerations and cancelGeneration', () => {
  it('lists a generation in flight with its key, model, start, waiters and the chunks so far', async () => {
    const url = await start();
    const before = Date.now();
    const subscriber = stream(url, 'a riddle', 'sse');
    const first = (await subscriber.next()).data!.generationStream;
    const client = ask(url, 'a riddle', 'fast lane');

    const listed = await waiters(url, 2);

    expect(listed).toEqual({ key: first.key, model: 'test-model', startedAt: expect.any(String), running: true, waiters: 2, chunks: DELTAS.length - 1 });
    expect(Date.parse(listed.startedAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    upstream.release();
    expect(dataOf(await client.result).generation).toMatchObject({ output: OUTPUT, cacheStatus: 'COALESCED' });
    await expect.poll(() => inFlight(url)).toEqual([]);
  });

  it.each<Transport>(['sse', 'graphql-ws'])(
    'cancelGeneration fails every waiter (HTTP and a %s stream) with GENERATION_CANCELLED, aborts the upstream and stores nothing',
    async (transport) => {
      const url = await start();
      const client = ask(url, 'a joke', 'fast lane');
      const subscriber = stream(url, 'a joke', transport);
      const { key } = await waiters(url, 2);

      const cancelled = await postOperation(fetch, url, CancelGenerationDocument, { key });

      expect(dataOf(cancelled).cancelGeneration).toBe(true);
      const answer = await client.result;
      expect(errorCodes(answer)).toEqual(['GENERATION_CANCELLED']);
      expect(answer.data?.generation ?? null).toBeNull();
      const failure = await subscriber.until((result) => result.errors !== undefined);
      expect(failure.errors?.map((error) => error.extensions?.['code'])).toEqual(['GENERATION_CANCELLED']);
      await expect.poll(upstreamAborted).toBe(true);
      expect(await stats(url)).toMatchObject({ cancelled: 1, generationErrors: 0 });
      expect(await cached(url, 'a joke')).toBeNull();
      // Gone: a second cancel finds nothing.
      expect(dataOf(await postOperation(fetch, url, CancelGenerationDocument, { key })).cancelGeneration).toBe(false);
    },
  );

  it('cancelGeneration of a key not in flight is false and changes nothing', async () => {
    const url = await start();
    upstream.behaviour = { kind: 'answer', content: 'stored' };
    const { key } = dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'kept' } })).generation!;

    expect(dataOf(await postOperation(fetch, url, CancelGenerationDocument, { key })).cancelGeneration).toBe(false);
    expect(dataOf(await postOperation(fetch, url, CancelGenerationDocument, { key: 'no such key' })).cancelGeneration).toBe(false);
    expect(await cached(url, 'kept')).toBe('stored');
    expect((await stats(url)).cancelled).toBe(0);
  });
});
