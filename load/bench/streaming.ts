/**
 * The streaming section of the benchmark: many subscribers of `generationStream` to one new
 * prompt, over real clients (graphql-ws with `ws`, and graphql-sse, which streams over fetch),
 * some joining while the generation runs. The server runs in this process, so that the moment the
 * generator emits a piece of text and the moment a client receives it are read from one clock
 * (`performance.now()`).
 *
 * What it checks: one generator call a round, and every subscriber's deltas adding up to the
 * output the cache then serves (its indexes 0, 1, 2, ...). What it measures: for each piece the
 * generator emits (a word of the simulated generator), the time from its emission to its arrival
 * at each subscriber that was already receiving (a delivery), and to its arrival at the last of
 * all the subscribers (once all of them are receiving); and how long a subscriber waits for its
 * first chunk, which for a late joiner carries everything produced so far.
 */
import { print } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { GenerationRequest, GeneratorOutput } from '../../src/generation/generator.js';
import { SimulatedGenerator } from '../../src/generation/simulated-generator.js';
import { GenerationOutputDocument, GenerationStreamDocument, type GenerationStreamSubscription } from '../../src/generated/graphql.js';
import { createLogger } from '../../src/logger.js';
import { seededRandom } from './seeded-random.js';

export interface StreamingSettings {
  readonly subscribers: number;
  readonly rounds: number;
  /** Rounds run first and left out of the figures (not of the checks): the first connections and compilations are slow. */
  readonly warmUpRounds: number;
  /** Words of each generation: the pieces the simulated generator emits, one by one. */
  readonly words: number;
  /** The generator's latency, over which it spreads its words. */
  readonly latencyMs: number;
  /** Late joiners subscribe after a random delay under this share of the latency. */
  readonly joinSpread: number;
  readonly progress: (message: string) => void;
}

type Transport = 'graphql-ws' | 'sse';

/** A piece of text the generator emitted: when, and where it ends in the output. */
interface Emitted {
  readonly at: number;
  readonly end: number;
}

/**
 * The simulated generator, counting its calls and stamping each piece it emits with
 * `performance.now()` before the service receives it.
 */
class StampingGenerator extends SimulatedGenerator {
  readonly calls: string[] = [];
  /** The pieces of each call, by key. */
  readonly emitted = new Map<string, Emitted[]>();

  override generate(request: GenerationRequest, signal: AbortSignal, onDelta?: (delta: string) => void): Promise<GeneratorOutput> {
    this.calls.push(request.key);
    const pieces: Emitted[] = [];
    this.emitted.set(request.key, pieces);
    let end = 0;
    const stamped =
      onDelta &&
      ((delta: string) => {
        end += delta.length;
        pieces.push({ at: performance.now(), end });
        onDelta(delta);
      });
    return super.generate(request, signal, stamped);
  }
}

/** What one subscriber received. */
interface Reception {
  readonly transport: Transport;
  readonly late: boolean;
  subscribedAt: number;
  /** Each chunk's arrival, and where its text ends in the subscriber's concatenation. */
  readonly chunks: { readonly at: number; readonly end: number }[];
  text: string;
  consecutive: boolean;
  statuses: Set<string>;
  /** The output the last chunk's generation carried. */
  finalOutput: string | undefined;
  error: string | undefined;
}

/** The value at a share of the sorted values (nearest rank); 0 for none. */
function percentile(values: readonly number[], share: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))]!;
}

const ms = (value: number) => Number(value.toFixed(2));
const spread = (values: readonly number[]) => ({ p50: ms(percentile(values, 0.5)), p99: ms(percentile(values, 0.99)), max: ms(percentile(values, 1)), count: values.length });

/** Subscribes with the transport's real client; resolves the reception when the subscription ends. */
function subscribeOne(url: string, transport: Transport, late: boolean, variables: Record<string, unknown>): { reception: Reception; ended: Promise<void>; dispose: () => void } {
  const reception: Reception = { transport, late, subscribedAt: performance.now(), chunks: [], text: '', consecutive: true, statuses: new Set(), finalOutput: undefined, error: undefined };
  const request = { query: print(GenerationStreamDocument), variables };
  let dispose!: () => void;
  const ended = new Promise<void>((resolve) => {
    const sink = {
      next: (result: { data?: unknown; errors?: readonly unknown[] }) => {
        const at = performance.now();
        const chunk = (result.data as GenerationStreamSubscription | null | undefined)?.generationStream;
        if (result.errors !== undefined || chunk === undefined) {
          reception.error ??= JSON.stringify(result.errors ?? result).slice(0, 300);
          return;
        }
        if (chunk.index !== reception.chunks.length) reception.consecutive = false;
        reception.text += chunk.delta;
        reception.chunks.push({ at, end: reception.text.length });
        reception.statuses.add(chunk.cacheStatus);
        if (chunk.done) reception.finalOutput = chunk.generation?.output;
      },
      error: (error: unknown) => {
        reception.error ??= error instanceof Error ? error.message : JSON.stringify(error).slice(0, 300);
        resolve();
      },
      complete: () => resolve(),
    };
    if (transport === 'graphql-ws') {
      const client = createWsClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
      client.subscribe(request, sink);
      dispose = () => void client.dispose();
    } else {
      const client = createSseClient({ url, retryAttempts: 0 });
      client.subscribe(request, sink);
      dispose = () => client.dispose();
    }
  });
  return { reception, ended, dispose };
}

/**
 * The latencies of one round. A piece counts as delivered live to a subscriber when it was
 * emitted after that subscriber's first chunk arrived (the subscriber was surely attached by
 * then); it arrives with the first chunk of the subscriber's text that reaches past its end.
 */
function latencies(emitted: readonly Emitted[], receptions: readonly Reception[]) {
  const deliveries: number[] = [];
  const byTransport: Record<Transport, number[]> = { 'graphql-ws': [], sse: [] };
  const toLast = new Map<Emitted, number>();
  const allAttachedAt = Math.max(...receptions.map((reception) => reception.chunks[0]?.at ?? Infinity));
  for (const reception of receptions) {
    const firstAt = reception.chunks[0]?.at ?? Infinity;
    let next = 0;
    for (const piece of emitted) {
      if (piece.at < firstAt) continue;
      while (next < reception.chunks.length && reception.chunks[next]!.end < piece.end) next++;
      const chunk = reception.chunks[next];
      if (chunk === undefined) continue;
      const latency = chunk.at - piece.at;
      deliveries.push(latency);
      byTransport[reception.transport].push(latency);
      if (piece.at >= allAttachedAt) toLast.set(piece, Math.max(toLast.get(piece) ?? 0, latency));
    }
  }
  return {
    deliveries,
    byTransport,
    toLast: [...toLast.values()],
    firstChunk: receptions.map((reception) => (reception.chunks[0]?.at ?? Infinity) - reception.subscribedAt),
    firstChunkLate: receptions.filter((reception) => reception.late).map((reception) => (reception.chunks[0]?.at ?? Infinity) - reception.subscribedAt),
  };
}

/** One round: a new prompt, every subscriber on it, the checks and the latencies. */
async function streamRound(url: string, generator: StampingGenerator, settings: StreamingSettings, round: number, random: () => number) {
  const { subscribers, words, latencyMs, joinSpread } = settings;
  const input = { prompt: `streaming round ${round} ${process.pid} ${Date.now()}`, parameters: { maxTokens: words } };
  const callsBefore = generator.calls.length;
  // Even subscribers over graphql-ws, odd ones over SSE; the first half at once, the rest each
  // after a random delay under the share of the latency.
  const plan = Array.from({ length: subscribers }, (_, index) => ({
    transport: (index % 2 === 0 ? 'graphql-ws' : 'sse') as Transport,
    delayMs: index < subscribers / 2 ? 0 : random() * latencyMs * joinSpread,
  }));
  const started = performance.now();
  const opened = plan.map(async ({ transport, delayMs }) => {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return subscribeOne(url, transport, delayMs > 0, { input });
  });
  // A subscription that never ends fails the run rather than hanging it.
  const limitMs = latencyMs * 10 + 30_000;
  let timer: NodeJS.Timeout | undefined;
  const subscriptions = await Promise.race([
    Promise.all(
      opened.map(async (pending) => {
        const subscription = await pending;
        await subscription.ended;
        return subscription;
      }),
    ),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`streaming: round ${round}: the subscriptions had not all ended after ${limitMs} ms`)), limitMs);
    }),
  ]).finally(async () => {
    clearTimeout(timer);
    for (const subscription of await Promise.all(opened)) subscription.dispose();
  });
  const durationMs = performance.now() - started;
  const receptions = subscriptions.map(({ reception }) => reception);
  const calls = generator.calls.slice(callsBefore);
  const emitted = calls.length === 1 ? (generator.emitted.get(calls[0]!) ?? []) : [];
  // The output the cache serves now, which every subscriber's text must equal.
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: print(GenerationOutputDocument), variables: { input } }),
  });
  const stored = ((await response.json()) as { data?: { generation?: { output: string } } }).data?.generation?.output;
  if (stored === undefined) throw new Error(`streaming: round ${round}: the stored generation could not be read`);
  const correct = receptions.filter((reception) => reception.error === undefined && reception.consecutive && reception.text === stored && reception.finalOutput === stored).length;
  const errors = receptions.flatMap((reception) => (reception.error === undefined ? [] : [reception.error]));
  const measured = latencies(emitted, receptions);
  return {
    generatorCalls: calls.length,
    correct,
    errors,
    emittedPieces: emitted.length,
    outputChars: stored.length,
    chunksReceived: receptions.reduce((sum, reception) => sum + reception.chunks.length, 0),
    statuses: [...new Set(receptions.flatMap((reception) => [...reception.statuses]))].sort(),
    durationMs: Math.round(durationMs),
    ...measured,
  };
}

/** Runs the section: one in-process gencache, `rounds` rounds of `subscribers` on one new prompt each. */
export async function streamingSection(settings: StreamingSettings) {
  const { subscribers, rounds, warmUpRounds, words, latencyMs, joinSpread, progress } = settings;
  const generator = new StampingGenerator({ latencyMs });
  const config = loadConfig({ LOG_LEVEL: 'silent', GENERATOR: 'simulated', GENERATOR_LATENCY_MS: String(latencyMs), MAX_SUBSCRIPTIONS: String(subscribers * 2) });
  const app = createApp(config, { logger: createLogger('silent'), defaultMetrics: false, generator });
  const url = await app.listen(0, '127.0.0.1');
  const random = seededRandom(13);
  type Round = Awaited<ReturnType<typeof streamRound>>;
  const runs: Round[] = [];
  const warmUps: Round[] = [];
  try {
    for (let round = -warmUpRounds; round < rounds; round++) {
      const run = await streamRound(url, generator, settings, round, random);
      (round < 0 ? warmUps : runs).push(run);
      progress(
        `  ${round < 0 ? 'warm-up round (left out of the figures)' : `round ${round + 1}/${rounds}`}: ${run.generatorCalls} generator call, ${run.correct}/${subscribers} correct, ${run.emittedPieces} pieces in ${run.durationMs} ms; ` +
          `to the last subscriber p50 ${ms(percentile(run.toLast, 0.5))} p99 ${ms(percentile(run.toLast, 0.99))} ms; every delivery p50 ${ms(percentile(run.deliveries, 0.5))} p99 ${ms(percentile(run.deliveries, 0.99))} ms` +
          (run.errors.length > 0 ? `; errors: ${run.errors.slice(0, 3).join(' | ')}` : ''),
      );
    }
  } finally {
    await app.close(1000);
  }
  const medianOf = (values: number[]) => ms([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0);
  const perRound = runs.map((run) => ({
    generatorCalls: run.generatorCalls,
    correct: run.correct,
    emittedPieces: run.emittedPieces,
    chunksReceived: run.chunksReceived,
    statuses: run.statuses,
    durationMs: run.durationMs,
    toLastSubscriberMs: spread(run.toLast),
    deliveryMs: spread(run.deliveries),
    graphqlWsDeliveryMs: spread(run.byTransport['graphql-ws']),
    sseDeliveryMs: spread(run.byTransport.sse),
    firstChunkMs: spread(run.firstChunk),
    lateJoinerFirstChunkMs: spread(run.firstChunkLate),
  }));
  // A round in which a subscriber's first chunk came after the last piece has no piece that
  // reached every subscriber live: it is left out of that median rather than counted as 0.
  const medianOfRounds = (pick: (round: (typeof perRound)[number]) => ReturnType<typeof spread>) => {
    const measured = perRound.map(pick).filter((figures) => figures.count > 0);
    return { p50: medianOf(measured.map((figures) => figures.p50)), p99: medianOf(measured.map((figures) => figures.p99)), rounds: measured.length };
  };
  const checked = [...warmUps, ...runs];
  const generatorCalls = checked.reduce((sum, run) => sum + run.generatorCalls, 0);
  const correct = checked.reduce((sum, run) => sum + run.correct, 0);
  return {
    subscribers,
    transports: { 'graphql-ws': Math.ceil(subscribers / 2), sse: Math.floor(subscribers / 2) },
    lateJoiners: subscribers - Math.ceil(subscribers / 2),
    joinSpreadMs: latencyMs * joinSpread,
    rounds,
    warmUpRounds,
    words,
    generatorLatencyMs: latencyMs,
    generatorCalls,
    /** Over the warm-up rounds too. */
    expectedGeneratorCalls: checked.length,
    /** Subscribers whose deltas added up to the stored output, indexes consecutive, no error. */
    correct,
    expectedCorrect: checked.length * subscribers,
    errors: checked.flatMap((run) => run.errors).slice(0, 10),
    /** Medians over the rounds of each round's percentiles. */
    toLastSubscriberMs: medianOfRounds((round) => round.toLastSubscriberMs),
    deliveryMs: medianOfRounds((round) => round.deliveryMs),
    graphqlWsDeliveryMs: medianOfRounds((round) => round.graphqlWsDeliveryMs),
    sseDeliveryMs: medianOfRounds((round) => round.sseDeliveryMs),
    lateJoinerFirstChunkMs: medianOfRounds((round) => round.lateJoinerFirstChunkMs),
    firstChunkMs: medianOfRounds((round) => round.firstChunkMs),
    perRound,
    holds: generatorCalls === checked.length && correct === checked.length * subscribers,
  };
}

export type StreamingResults = Awaited<ReturnType<typeof streamingSection>>;
