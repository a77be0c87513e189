import { EventEmitter } from 'node:events';
import { Repeater } from '@repeaterjs/repeater';
import type { CacheEntry, CacheStore, CacheStoreStats, GenerationRecord } from '../cache/store.js';
import { GencacheError } from '../errors.js';
import type { FlightCoordinator, FlightOutcome } from './coordinator.js';
import { FairQueue, type QueuedTask } from './fair-queue.js';
import type { GenerationRequest, Generator, GeneratorOutput } from './generator.js';
import { DEFAULT_INPUT_LIMITS, type InputLimits } from './limits.js';
import { toGenerationRequest, type GenerationInput } from './request.js';

/**
 * The generation service: looks requests up in the result cache, joins a generation already in
 * flight for the same key (single-flight), runs the rest on the generator through a concurrency
 * limiter with a bounded queue that is fair across operations and a timeout, and stores
 * successes.
 *
 * Invariants: at most one generation per key runs at a time; a failure reaches every waiter of
 * that generation and is never stored; `inFlight` and `queued` return to 0 when all settle.
 *
 * Streaming: a flight keeps every piece of text its generator streamed, in order (its chunk log),
 * until it ends; whoever follows it (`stream`) reads that log from the start, then waits for more.
 * A follower holds no copy, only its position in the log, so a slow one never holds up the
 * generator or the others: whatever came since it last read reaches it as one piece. Whatever the
 * pieces, a follower's pieces add up to the stored output, byte for byte. A flight made by another
 * instance (fleet single-flight) streams nothing here: its followers get its output as one piece
 * when it is stored.
 *
 * Waiters: every load and follower waiting on a flight is one of its waiters until the flight
 * ends or the waiter leaves (its `departure` signal aborts: the client went away; a follower returns). With
 * `abandoned: 'cancel'`, a flight whose last waiter left is cancelled: taken out of the queue, or
 * its generator aborted, and nothing stored. `cancel(key)` cancels one for the admin surface.
 */

export type CachePolicy = 'CACHE_FIRST' | 'CACHE_ONLY' | 'NETWORK_ONLY' | 'NO_STORE';

/**
 * HIT: served from this instance's cache. SHARED_HIT: from the tier the instances share.
 * MISS: this request started the generation. COALESCED: joined a generation already in flight.
 * BYPASS: the policy skipped the cache and this request started the generation.
 */
export type CacheStatus = 'HIT' | 'SHARED_HIT' | 'MISS' | 'COALESCED' | 'BYPASS';

/** What becomes of a generation whose every waiter left: it runs to the end and is stored, or it is cancelled. */
export type AbandonedGenerations = 'finish' | 'cancel';
export const ABANDONED_GENERATIONS = ['finish', 'cancel'] as const satisfies readonly AbandonedGenerations[];
export const DEFAULT_ABANDONED_GENERATIONS: AbandonedGenerations = 'finish';

export interface LoadOptions {
  readonly policy: CachePolicy;
  /** TTL of what this load stores; default: the cache's; 0: no expiry. */
  readonly ttlSeconds?: number | undefined;
  /**
   * The operation the load is for: the generator queue takes the operations with queued
   * generations in turn. @default one operation shared by every load without one
   */
  readonly operation?: object | undefined;
  /**
   * The signal that the client of the load has gone, asked for only when the load joins a
   * generation in flight: the load then stops counting as one of its waiters (see `abandoned`).
   * @default the load counts until the generation ends
   */
  readonly departure?: (() => AbortSignal | undefined) | undefined;
}

/** A generation in flight, as the admin surface lists it. */
export interface InFlightGeneration {
  readonly key: string;
  readonly model: string;
  /** Epoch milliseconds when the first request asked for it. */
  readonly startedAt: number;
  /** Whether this instance's generator works on it; false while queued, or while another instance generates it. */
  readonly running: boolean;
  /** Loads and followers waiting for it. */
  readonly waiters: number;
  /** Pieces of text the generator streamed so far. */
  readonly chunks: number;
}

export interface GenerationResult {
  readonly record: GenerationRecord;
  readonly status: CacheStatus;
  /** When the stored entry expires; undefined when not stored or without expiry. */
  readonly expiresAt: number | undefined;
}

/** One piece of a streamed generation, as one follower receives it. */
export interface GenerationChunk {
  readonly key: string;
  readonly status: CacheStatus;
  /** Text that follows the previous pieces of this follower. */
  readonly delta: string;
  /** 0, 1, 2, ... for each piece this follower receives. */
  readonly index: number;
  /** On the last piece only: the generation, whose output all the pieces add up to. */
  readonly result: GenerationResult | undefined;
}

export interface GenerationStats extends CacheStoreStats {
  /** Lookups served from the cache, either tier. */
  readonly hits: number;
  /** Those of the hits served from the shared tier. */
  readonly sharedHits: number;
  readonly misses: number;
  /** hits / (hits + misses); 0 before any lookup. */
  readonly hitRate: number;
  readonly coalesced: number;
  readonly deduplicated: number;
  readonly generations: number;
  readonly generationErrors: number;
  /** Generations cancelled: abandoned by every waiter (with `abandoned: 'cancel'`) or by `cancel`. */
  readonly cancelled: number;
  readonly inFlight: number;
  readonly queued: number;
  readonly savedMs: number;
  /** Tokens (prompt and completion) of the records that hits and coalesced loads served. */
  readonly savedTokens: number;
  /** Epoch milliseconds of the start or the last reset. */
  readonly since: number;
}

export const DEFAULT_GENERATOR_CONCURRENCY = 4;
export const DEFAULT_GENERATOR_QUEUE_MAX = 1000;
export const DEFAULT_GENERATOR_TIMEOUT_MS = 300_000;
/** UTF-8 bytes of one generation's output: 4 MiB, a large image as base64. */
export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 2 ** 20;

export interface GenerationServiceOptions {
  readonly generator: Generator;
  readonly cache: CacheStore;
  /** What one request may ask. @default DEFAULT_INPUT_LIMITS */
  readonly limits?: InputLimits;
  /** Generations running at once. @default 4 */
  readonly concurrency?: number;
  /** Generations waiting for a slot; past it a new one fails with OVERLOADED. @default 1000 */
  readonly queueMax?: number;
  /** A generation running longer fails with GENERATION_TIMEOUT. @default 300000 */
  readonly timeoutMs?: number;
  /** A longer output fails with RESPONSE_TOO_LARGE and is not stored. @default 4 MiB */
  readonly maxOutputBytes?: number;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Single-flight across instances, for generations that are stored. @default none: this instance alone */
  readonly coordinator?: FlightCoordinator | undefined;
  /** What becomes of a generation whose every waiter left. @default 'finish' */
  readonly abandoned?: AbandonedGenerations;
}

interface FlightStorage {
  /** Whether the result is stored when it arrives; a storing joiner may turn it on. */
  store: boolean;
  ttlSeconds: number | undefined;
}

interface FlightResult {
  readonly record: GenerationRecord;
  readonly entry: CacheEntry | undefined;
  /** Whether another instance generated it. */
  readonly remote?: boolean;
}

interface Flight extends FlightStorage {
  readonly key: string;
  readonly model: string;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  promise: Promise<FlightResult>;
  /** Its place in the generator queue, once it has one. */
  task: QueuedTask | undefined;
  /** The pieces the generator streamed so far, in order. */
  readonly chunks: string[];
  /** UTF-8 bytes of the chunks, against the output limit. */
  bytes: number;
  /** Whether `promise` has settled. */
  settled: boolean;
  /** Followers waiting for a chunk or the end; each is called once, then dropped. */
  readonly sleepers: Set<() => void>;
  /** Loads and followers waiting for it (see `hold`). */
  waiters: number;
  /** Aborts with the reason when the flight is cancelled. */
  readonly cancel: AbortController;
  /** Whether it was cancelled because every waiter left: other instances then claim it again. */
  abandoned: boolean;
}

/** The operation of loads that name none. */
const ANY_OPERATION = {};

/** Counts since the service was created; they never go back, so metrics can export them as counters. */
export interface GenerationTotals {
  readonly hits: number;
  readonly sharedHits: number;
  readonly misses: number;
  readonly coalesced: number;
  readonly deduplicated: number;
  readonly generations: number;
  readonly generationErrors: number;
  readonly cancelled: number;
  readonly savedMs: number;
  readonly savedTokens: number;
}

/** One generator call that ended. */
export interface GenerationEvent {
  readonly key: string;
  readonly model: string;
  readonly durationMs: number;
  /** Undefined on success. */
  readonly error: GencacheError | undefined;
}

export interface GenerationServiceEvents {
  generation: [GenerationEvent];
}

const zeroTotals = () => ({
  hits: 0,
  sharedHits: 0,
  misses: 0,
  coalesced: 0,
  deduplicated: 0,
  generations: 0,
  generationErrors: 0,
  cancelled: 0,
  savedMs: 0,
  savedTokens: 0,
});

export class GenerationService {
  /** Each generator call that ends, for metrics and logs. */
  readonly events = new EventEmitter<GenerationServiceEvents>();
  readonly limits: InputLimits;
  readonly #generator: Generator;
  readonly #cache: CacheStore;
  readonly #queue: FairQueue;
  readonly #capacity: number;
  readonly #timeoutMs: number;
  readonly #maxOutputBytes: number;
  readonly #now: () => number;
  readonly #flights = new Map<string, Flight>();
  readonly #coordinator: FlightCoordinator | undefined;
  readonly #abandoned: AbandonedGenerations;
  /** The generations running, each with its own controller, for `close` to abort. */
  readonly #running = new Set<AbortController>();
  /** Why generations are refused once `close` has run. */
  #closed: GencacheError | undefined;
  #totals = zeroTotals();
  /** Totals at the last reset: statistics are the difference. */
  #baseline: GenerationTotals = zeroTotals();
  #since: number;

  constructor(options: GenerationServiceOptions) {
    this.#generator = options.generator;
    this.#cache = options.cache;
    this.limits = options.limits ?? DEFAULT_INPUT_LIMITS;
    const concurrency = options.concurrency ?? DEFAULT_GENERATOR_CONCURRENCY;
    this.#queue = new FairQueue(concurrency);
    this.#capacity = concurrency + (options.queueMax ?? DEFAULT_GENERATOR_QUEUE_MAX);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_GENERATOR_TIMEOUT_MS;
    this.#maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.#coordinator = options.coordinator;
    this.#abandoned = options.abandoned ?? DEFAULT_ABANDONED_GENERATIONS;
    this.#now = options.now ?? Date.now;
    this.#since = this.#now();
  }

  /**
   * Validates an input against the limits and the generator, applies the defaults and computes
   * its key. Throws BAD_USER_INPUT naming the offending field; never touches the cache.
   */
  prepare(input: GenerationInput): GenerationRequest {
    return toGenerationRequest(input, this.#generator, this.limits);
  }

  /**
   * The result of a request when the cache holds it in this process: a hit, counted as such,
   * answered synchronously. Undefined when the policy does not read the cache or the entry is not
   * at hand; nothing is counted then, and `loadMany` has the last word.
   */
  hitNow(request: GenerationRequest, { policy }: LoadOptions): GenerationResult | undefined {
    if (!readsCache(policy) || !this.#cache.settings.enabled) return undefined;
    const entry = this.#cache.getNow(request.key);
    return entry === undefined ? undefined : this.#hit(entry);
  }

  /**
   * Loads a batch of requests with distinct keys. Resolves to one item per request, in order: a
   * result, null (CACHE_ONLY and not cached), or the Error of that request; it never rejects.
   * The batch is looked up in the cache with one call of the storage seam.
   */
  loadMany(requests: readonly GenerationRequest[], options: LoadOptions): Promise<(GenerationResult | null | Error)[]> {
    if (!readsCache(options.policy) || !this.#cache.settings.enabled) return this.#loadFound(requests, undefined, options);
    let found: ReturnType<CacheStore['getMany']>;
    try {
      found = this.#cache.getMany(requests.map((request) => request.key));
    } catch {
      // A store that cannot answer is a miss for every key, never a failed request.
      found = [];
    }
    return found instanceof Promise
      ? found.then(
          (entries) => this.#loadFound(requests, entries, options),
          () => this.#loadFound(requests, [], options),
        )
      : this.#loadFound(requests, found, options);
  }

  /** The batch, given the entries the cache found for it (undefined: the cache was not read). */
  #loadFound(
    requests: readonly GenerationRequest[],
    entries: readonly (CacheEntry | undefined)[] | undefined,
    options: LoadOptions,
  ): Promise<(GenerationResult | null | Error)[]> {
    // Hits are answered synchronously; only generations are waited for, so that a batch of hits
    // costs no promise per key.
    const results: (GenerationResult | null | Error)[] = new Array(requests.length);
    let waiting: Promise<void>[] | undefined;
    requests.forEach((request, index) => {
      try {
        const result = this.#load(request, entries === undefined ? undefined : (entries[index] ?? null), options);
        if (result instanceof Promise) {
          (waiting ??= []).push(
            result.then(
              (value) => void (results[index] = value),
              (error: unknown) => void (results[index] = asError(error)),
            ),
          );
        } else {
          results[index] = result;
        }
      } catch (error) {
        results[index] = asError(error);
      }
    });
    return waiting === undefined ? Promise.resolve(results) : Promise.all(waiting).then(() => results);
  }

  /** Counts loads that the per-operation memoization answered without reaching the service. */
  noteDeduplicated(): void {
    this.#totals.deduplicated++;
  }

  /** Counts since creation, unaffected by `resetStats`. */
  totals(): GenerationTotals {
    return { ...this.#totals };
  }

  stats(): GenerationStats {
    const since = (name: keyof GenerationTotals) => this.#totals[name] - this.#baseline[name];
    const hits = since('hits');
    const misses = since('misses');
    return {
      ...this.#cache.stats(),
      hits,
      sharedHits: since('sharedHits'),
      misses,
      coalesced: since('coalesced'),
      deduplicated: since('deduplicated'),
      generations: since('generations'),
      generationErrors: since('generationErrors'),
      cancelled: since('cancelled'),
      savedMs: since('savedMs'),
      savedTokens: since('savedTokens'),
      hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
      inFlight: this.#queue.activeCount,
      queued: this.#queue.pendingCount,
      since: this.#since,
    };
  }

  resetStats(): GenerationStats {
    this.#baseline = { ...this.#totals };
    this.#since = this.#now();
    this.#cache.resetStats();
    return this.stats();
  }

  /** Aborts every running and queued generation; their waiters get GENERATION_FAILED. */
  close(): void {
    this.#closed ??= new GencacheError('GENERATION_FAILED', 'the server is shutting down');
    for (const running of this.#running) running.abort(this.#closed);
  }

  /** The generations in flight on this instance, oldest first. */
  inFlight(): InFlightGeneration[] {
    return Array.from(this.#flights.values(), (flight) => ({
      key: flight.key,
      model: flight.model,
      startedAt: flight.startedAt,
      running: flight.task?.started === true && !flight.cancel.signal.aborted,
      waiters: flight.waiters,
      chunks: flight.chunks.length,
    }));
  }

  /**
   * Cancels the generation in flight for a key: every waiter fails with GENERATION_CANCELLED (on
   * other instances too, when this one generates it), its generator is aborted or it leaves the
   * queue, and nothing is stored. False when none is in flight here.
   */
  cancel(key: string): boolean {
    const flight = this.#flights.get(key);
    return flight !== undefined && this.#cancelFlight(flight, new GencacheError('GENERATION_CANCELLED', 'an administrator cancelled this generation'));
  }

  /**
   * One request as a stream of pieces, for a client that shows the text as it comes. A hit is one
   * piece. Otherwise the request joins the flight of its key, or starts one, as `loadMany` does
   * (same statuses, counts, queue and storage), and gets every piece that flight streamed so far
   * as its first, then the rest as it comes; the last piece carries the generation. The stream
   * fails with NOT_FOUND under CACHE_ONLY when not cached, and with the flight's error when it
   * fails. Returning it (the subscriber left) takes effect at once, even while it waits: its
   * follower leaves the flight's waiters then.
   */
  stream(request: GenerationRequest, options: LoadOptions): AsyncIterableIterator<GenerationChunk> {
    return new Repeater<GenerationChunk>(async (push, stop) => {
      const { key } = request;
      let stopped = false;
      void stop.then(() => (stopped = true));
      let entry: CacheEntry | null | undefined;
      if (readsCache(options.policy) && this.#cache.settings.enabled) {
        entry = this.#cache.getNow(key);
        if (entry === undefined) {
          try {
            [entry] = await this.#cache.getMany([key]);
          } catch {
            // A store that cannot answer is a miss, as for `loadMany`.
          }
        }
        entry ??= null;
      }
      // A subscriber that left while the cache was read starts no flight.
      if (stopped) return;
      const joined = this.#join(request, entry, options);
      if (joined === null) throw new GencacheError('NOT_FOUND', 'not in the cache, and the policy CACHE_ONLY forbids generating it');
      if (!('flight' in joined)) {
        await push({ key, status: joined.status, delta: joined.record.output, index: 0, result: joined });
        return stop();
      }
      const { flight, status } = joined;
      const release = this.#hold(flight, undefined);
      let index = 0;
      let read = 0;
      /** Characters of the output this follower has received. */
      let sent = 0;
      try {
        while (!flight.settled) {
          if (read < flight.chunks.length) {
            const delta = flight.chunks.slice(read).join('');
            read = flight.chunks.length;
            sent += delta.length;
            await push({ key, status, delta, index: index++, result: undefined });
          } else {
            let wake!: () => void;
            const woken = new Promise<void>((resolve) => flight.sleepers.add((wake = resolve)));
            await Promise.race([woken, stop]);
            flight.sleepers.delete(wake);
          }
          if (stopped) return;
        }
        const result = this.#resultOf(await flight.promise, status);
        await push({ key, status: result.status, delta: result.record.output.slice(sent), index, result });
        return stop();
      } finally {
        release();
      }
    });
  }

  /** One request, given its cache entry: null when the cache had none, undefined when it was not read. */
  #load(
    request: GenerationRequest,
    entry: CacheEntry | null | undefined,
    options: LoadOptions,
  ): GenerationResult | null | Promise<GenerationResult | null> {
    const joined = this.#join(request, entry, options);
    if (joined === null || !('flight' in joined)) return joined;
    const { flight, status } = joined;
    const release = this.#hold(flight, options.departure?.());
    return flight.promise.then(
      (flown) => {
        release();
        return this.#resultOf(flown, status);
      },
      (error: unknown) => {
        release();
        throw error;
      },
    );
  }

  /** What a waiter of a flight gets: COALESCED when another instance made it, a generation saved. */
  #resultOf({ record, entry, remote }: FlightResult, status: CacheStatus): GenerationResult {
    const result: GenerationResult = { record, status: remote ? 'COALESCED' : status, expiresAt: entry?.expiresAt };
    if (result.status === 'COALESCED') this.#saved(record);
    return result;
  }

  /**
   * Counts a waiter of a flight until the returned function is called (only the first call
   * counts); a waiter with a signal also leaves when it aborts. The last waiter to leave a flight
   * that has not ended cancels it under `abandoned: 'cancel'`.
   */
  #hold(flight: Flight, signal: AbortSignal | undefined): () => void {
    flight.waiters++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      signal?.removeEventListener('abort', onAbort);
      flight.waiters--;
      if (flight.waiters === 0 && this.#abandoned === 'cancel' && !flight.settled) {
        flight.abandoned = true;
        this.#cancelFlight(flight, new GencacheError('GENERATION_CANCELLED', 'every client of this generation went away'));
      }
    };
    const onAbort = () => release();
    if (signal?.aborted) release();
    else signal?.addEventListener('abort', onAbort, { once: true });
    return release;
  }

  /** Cancels a flight that has not ended: its waiters fail with `reason` at once. */
  #cancelFlight(flight: Flight, reason: GencacheError): boolean {
    if (flight.settled || flight.cancel.signal.aborted) return false;
    this.#totals.cancelled++;
    flight.cancel.abort(reason);
    return true;
  }

  /**
   * A hit, null (CACHE_ONLY and not cached), or the flight of the request's key that it joined or
   * started, with its status; counted as such.
   */
  #join(
    request: GenerationRequest,
    entry: CacheEntry | null | undefined,
    { policy, ttlSeconds, operation = ANY_OPERATION }: LoadOptions,
  ): GenerationResult | null | { readonly flight: Flight; readonly status: CacheStatus } {
    const store = policy !== 'NO_STORE' && policy !== 'CACHE_ONLY';
    if (entry) return this.#hit(entry);
    if (entry === null) this.#totals.misses++;
    if (policy === 'CACHE_ONLY') return null;

    let flight = this.#flights.get(request.key);
    let status: CacheStatus;
    if (flight !== undefined) {
      this.#totals.coalesced++;
      status = 'COALESCED';
      // Still queued: this operation's turn may start it as well.
      if (flight.task !== undefined) this.#queue.share(flight.task, operation);
      if (store && !flight.store) {
        flight.store = true;
        flight.ttlSeconds = ttlSeconds;
      }
    } else {
      flight = this.#startFlight(request, operation, store, ttlSeconds, readsCache(policy));
      status = readsCache(policy) ? 'MISS' : 'BYPASS';
    }
    return { flight, status };
  }

  #hit(entry: CacheEntry): GenerationResult {
    this.#totals.hits++;
    if (entry.shared) this.#totals.sharedHits++;
    this.#totals.savedMs += entry.record.generationMs;
    this.#saved(entry.record);
    return { record: entry.record, status: entry.shared ? 'SHARED_HIT' : 'HIT', expiresAt: entry.expiresAt };
  }

  /** Counts the tokens of a record served without generating it again. */
  #saved(record: GenerationRecord): void {
    this.#totals.savedTokens += (record.promptTokens ?? 0) + (record.completionTokens ?? 0);
  }

  #startFlight(request: GenerationRequest, operation: object, store: boolean, ttlSeconds: number | undefined, reads: boolean): Flight {
    const { activeCount, pendingCount } = this.#queue;
    if (activeCount + pendingCount >= this.#capacity) {
      throw new GencacheError('OVERLOADED', `the generator queue is full (${activeCount} running, ${pendingCount} queued); retry later`);
    }
    // Its promise is set below, once the flight exists for `generate` to record its task in.
    const flight: Flight = {
      key: request.key,
      model: request.model,
      startedAt: this.#now(),
      store,
      ttlSeconds,
      promise: undefined as unknown as Promise<FlightResult>,
      task: undefined,
      chunks: [],
      bytes: 0,
      settled: false,
      sleepers: new Set(),
      waiters: 0,
      cancel: new AbortController(),
      abandoned: false,
    };
    const { signal } = flight.cancel;
    const generate = () => {
      if (signal.aborted) return Promise.reject(signal.reason as Error);
      const { promise, task } = this.#queue.run(operation, () => this.#run(request, flight));
      flight.task = task;
      return promise;
    };
    const flown = this.#coordinator !== undefined && store ? this.#coordinate(this.#coordinator, flight, generate, reads) : generate();
    // A cancelled flight fails its waiters at once, whatever it was doing: a queued generation
    // leaves the queue, a running one is aborted (`generate`), a wait for another instance ends.
    const cancelled = new Promise<never>((_resolve, reject) => {
      signal.addEventListener(
        'abort',
        () => {
          if (flight.task !== undefined) this.#queue.cancel(flight.task, signal.reason);
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
    flight.promise = Promise.race([flown, cancelled]).finally(() => {
      this.#flights.delete(request.key);
      flight.settled = true;
      wake(flight);
    });
    // Its followers may all have gone: its failure is theirs, never unhandled.
    flight.promise.catch(() => {});
    this.#flights.set(request.key, flight);
    return flight;
  }

  /**
   * A generation other instances may be making too: this instance generates it if the
   * coordinator says so (unless it was stored meanwhile), and otherwise waits for the instance
   * that does, then reads what it stored; a claim that lapses is looked at and made again.
   */
  async #coordinate(coordinator: FlightCoordinator, flight: Flight, generate: () => Promise<FlightResult>, reads: boolean): Promise<FlightResult> {
    const { key, cancel } = flight;
    for (;;) {
      cancel.signal.throwIfAborted();
      const claim = await coordinator.claim(key);
      if (claim.kind === 'generate') {
        // Another instance may have stored it between this instance's lookup and its claim.
        const stored = reads ? await this.#lookUp(key) : undefined;
        if (stored !== undefined) {
          claim.release({ ok: true });
          return stored;
        }
        try {
          const result = await generate();
          claim.release({ ok: true });
          return result;
        } catch (error) {
          // Abandoned here is not failed: the waiters elsewhere look, find nothing, and claim it.
          claim.release(flight.abandoned ? { ok: true } : outcomeOf(error));
          throw error;
        }
      }
      const outcome = await claim.settled;
      cancel.signal.throwIfAborted();
      if (outcome?.ok === false) throw new GencacheError(outcome.code, outcome.message);
      const stored = await this.#lookUp(key);
      if (stored !== undefined) return stored;
    }
  }

  /** What another instance stored for a key, counted as a coalesced load; undefined if nothing. */
  async #lookUp(key: string): Promise<FlightResult | undefined> {
    let entry: CacheEntry | undefined;
    try {
      [entry] = await this.#cache.getMany([key]);
    } catch {
      return undefined;
    }
    if (entry === undefined) return undefined;
    this.#totals.coalesced++;
    return { record: entry.record, entry, remote: true };
  }

  async #run(request: GenerationRequest, flight: Flight) {
    this.#totals.generations++;
    const started = performance.now();
    try {
      const output = await this.#generate(request, flight);
      const outputBytes = Buffer.byteLength(output.output);
      if (outputBytes > this.#maxOutputBytes) {
        throw new GencacheError('RESPONSE_TOO_LARGE', `the generation's output is ${outputBytes} bytes; the limit is ${this.#maxOutputBytes}`);
      }
      if (flight.chunks.length > 0 && !output.output.startsWith(flight.chunks.join(''))) {
        throw new GencacheError('GENERATION_FAILED', 'the generator failed', {
          cause: new Error(`the generator's ${flight.chunks.length} deltas do not add up to a prefix of its output`),
        });
      }
      const record: GenerationRecord = {
        key: request.key,
        prompt: request.prompt,
        model: request.model,
        parameters: request.parameters,
        output: output.output,
        contentType: output.contentType,
        createdAt: this.#now(),
        generationMs: performance.now() - started,
        // Only when reported: a record without usage keeps its JSON, and so its size, as before.
        ...(output.usage && { promptTokens: output.usage.promptTokens, completionTokens: output.usage.completionTokens }),
        // Only for a chat: a prompt's record keeps its JSON as before.
        ...(request.chat && { messages: request.messages }),
      };
      // Cancelled while the generator finished: its waiters have failed, nothing is stored.
      flight.cancel.signal.throwIfAborted();
      this.#emit(request, started, undefined);
      return { record, entry: flight.store ? await this.#store(record, flight.ttlSeconds) : undefined };
    } catch (error) {
      // A cancelled generation is counted as such, not as a failure of the generator.
      if (!flight.cancel.signal.aborted) this.#totals.generationErrors++;
      this.#emit(request, started, error as GencacheError);
      throw error;
    }
  }

  /** Stores a generation; a store that fails loses the entry, never the generation. */
  async #store(record: GenerationRecord, ttlSeconds: number | undefined): Promise<CacheEntry | undefined> {
    try {
      return await this.#cache.set(record, ttlSeconds);
    } catch {
      return undefined;
    }
  }

  #emit(request: GenerationRequest, started: number, error: GencacheError | undefined): void {
    if (this.events.listenerCount('generation') === 0) return;
    this.events.emit('generation', { key: request.key, model: request.model, durationMs: performance.now() - started, error });
  }

  /**
   * Runs the generator under the timeout, the shutdown signal and the flight's cancellation, whether or not it honours them,
   * and records what it streams in the flight's chunk log until it settles; a stream that passes
   * the output limit aborts it with RESPONSE_TOO_LARGE.
   */
  #generate(request: GenerationRequest, flight: Flight): Promise<GeneratorOutput> {
    // One controller for both the timeout and shutdown: a signal combined with a long-lived one
    // (AbortSignal.any) is kept by it on Node 20, one per generation, for the life of the process.
    if (this.#closed) return Promise.reject(this.#closed);
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new GencacheError('GENERATION_TIMEOUT', `the generator did not answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
    this.#running.add(controller);
    const { signal } = controller;
    const cancelled = flight.cancel.signal;
    const onCancel = () => controller.abort(cancelled.reason);
    cancelled.addEventListener('abort', onCancel, { once: true });
    let open = true;
    const onDelta = (delta: string) => {
      if (!open || signal.aborted || delta.length === 0) return;
      flight.bytes += Buffer.byteLength(delta);
      if (flight.bytes > this.#maxOutputBytes) {
        controller.abort(new GencacheError('RESPONSE_TOO_LARGE', `the generation's output is at least ${flight.bytes} bytes; the limit is ${this.#maxOutputBytes}`));
        return;
      }
      flight.chunks.push(delta);
      wake(flight);
    };
    return new Promise<GeneratorOutput>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#generator
        .generate(request, signal, onDelta)
        .then(resolve, (error: unknown) => reject(signal.aborted ? signal.reason : asGenerationFailure(error)))
        .finally(() => {
          open = false;
          clearTimeout(timer);
          this.#running.delete(controller);
          signal.removeEventListener('abort', onAbort);
          cancelled.removeEventListener('abort', onCancel);
        });
    });
  }
}

/** Calls the followers waiting on a flight, once each. */
function wake(flight: Flight): void {
  if (flight.sleepers.size === 0) return;
  const sleepers = [...flight.sleepers];
  flight.sleepers.clear();
  for (const sleeper of sleepers) sleeper();
}

/** Whether a policy serves from the cache when it can. */
const readsCache = (policy: CachePolicy): boolean => policy === 'CACHE_FIRST' || policy === 'CACHE_ONLY';

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * A generator's own failure for clients: a GencacheError passes as it is (its message was written
 * for them); any other error may carry internals (addresses, paths, upstream words), so clients
 * are told only that the generator failed, and the error is the cause, which the log shows.
 */
/** How a generation that failed with this error ended, for the waiters on other instances. */
function outcomeOf(error: unknown): FlightOutcome {
  const failure = error instanceof GencacheError ? error : asGenerationFailure(error);
  return { ok: false, code: failure.code, message: failure.message };
}

function asGenerationFailure(error: unknown): GencacheError {
  if (error instanceof GencacheError) return error;
  return new GencacheError('GENERATION_FAILED', 'the generator failed', { cause: error });
}
