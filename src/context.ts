import DataLoader from 'dataloader';
import type { AdminAccess, AdminAuthenticator, AdminCredentials } from './auth.js';
import type { EventEmitter } from 'node:events';
import type { CacheEvent, CacheStore } from './cache/store.js';
import type { FleetStats } from './fleet/fleet-stats.js';
import { GencacheError } from './errors.js';
import type { GenerationRequest } from './generation/generator.js';
import type { CacheStatus, GenerationChunk, GenerationResult, GenerationService, GenerationStats, LoadOptions } from './generation/service.js';
import type { StatsFeed } from './generation/stats-feed.js';
import type { Logger } from './logger.js';

type GenerationLoader = DataLoader<GenerationRequest, GenerationResult | null, string>;

/** What the resolvers of every operation share. */
export interface ContextDependencies {
  readonly service: GenerationService;
  /** The result cache, for the admin surface. */
  readonly cache: CacheStore;
  /** Statistics on timers shared by the `cacheStats` subscribers. */
  readonly statsFeed: StatsFeed<GenerationStats>;
  readonly logger: Logger;
  readonly authenticate: AdminAuthenticator;
  /** This instance's name, which its cache events carry. @default 'local' */
  readonly instanceId?: string;
  /** The cache events to stream: of this instance, or of every instance of a fleet. @default the cache's */
  readonly cacheEvents?: EventEmitter<{ event: [CacheEvent & { readonly instance?: string }] }>;
  /** The statistics of every instance summed; undefined when this one is alone. */
  readonly fleetStats?: (() => Promise<FleetStats>) | undefined;
  /**
   * Cancels the generation in flight for a key: true when it was in flight here. @default this
   * instance's (`service.cancel`); in a fleet, every instance's
   */
  readonly cancelGeneration?: ((key: string) => boolean) | undefined;
  /** UTF-8 bytes of the outputs one response may carry. @default 32 MiB */
  readonly maxResponseBytes?: number;
}

/** UTF-8 bytes of the generation outputs of one response. */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 2 ** 20;

/** What each operation's resolvers see. */
export interface Context extends Omit<ContextDependencies, 'authenticate' | 'maxResponseBytes' | 'instanceId' | 'cacheEvents' | 'cancelGeneration'> {
  readonly instanceId: string;
  cancelGeneration(key: string): boolean;
  readonly cacheEvents: NonNullable<ContextDependencies['cacheEvents']>;
  /** Whether this operation may use the admin surface; worked out on first use. */
  adminAccess(): AdminAccess;
  /**
   * Loads one generation: a duplicate of a key this operation loaded already is answered by the
   * operation's memo (DataLoader's, one per policy and TTL); a hit at hand is answered at once,
   * with no promise; the rest go to the service in one batch a tick. Null: CACHE_ONLY and not cached.
   */
  load(request: GenerationRequest, options: LoadOptions): GenerationResult | null | Promise<GenerationResult | null>;
  /** Streams one generation (`GenerationService.stream`), with this operation's turn in the generator queue. */
  stream(request: GenerationRequest, options: LoadOptions): AsyncIterableIterator<GenerationChunk>;
  /**
   * Key and status per response path of each generation served; becomes `extensions.cache`.
   * Undefined until the first generation is served.
   */
  cacheReport: Record<string, { key: string; status: CacheStatus }> | undefined;
  /**
   * A generation's output, counted into this response: past the response limit it is refused
   * with RESPONSE_TOO_LARGE instead, so that no response grows without bound.
   */
  respondWith(output: string): string;
}

/**
 * DataLoader's memo cache, counting the loads it answers: each one is a duplicate collapsed
 * inside the operation.
 */
class CountingPromiseMap<V> extends Map<string, V> {
  constructor(private readonly onHit: () => void) {
    super();
  }

  override get(key: string): V | undefined {
    const value = super.get(key);
    if (value !== undefined) this.onHit();
    return value;
  }
}

/**
 * Creates the context of one operation, with fresh loaders; the only place loaders are made.
 * Credentials are read only when an admin field asks: most operations never do; the signal of
 * the client's departure (`departure`) only when a load waits for a generation.
 */
export function createContext(
  { service, cache, statsFeed, logger, authenticate, maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES, instanceId = 'local', cacheEvents = cache.events, fleetStats, cancelGeneration = (key) => service.cancel(key) }: ContextDependencies,
  credentials: () => AdminCredentials,
  departure: () => AbortSignal | undefined = () => undefined,
): Context {
  const loaders = new Map<string, { readonly loader: GenerationLoader; readonly memo: CountingPromiseMap<unknown> }>();
  // This operation's turn in the generator queue.
  const operation = {};
  let access: AdminAccess | undefined;
  let responseBytes = 0;
  return {
    service,
    cache,
    statsFeed,
    logger,
    instanceId,
    cacheEvents,
    fleetStats,
    cancelGeneration,
    adminAccess: () => (access ??= authenticate(credentials())),
    cacheReport: undefined,
    load(request, options) {
      const id = `${options.policy}:${options.ttlSeconds ?? ''}`;
      let memoised = loaders.get(id);
      if (memoised === undefined) {
        const memo = new CountingPromiseMap<Promise<GenerationResult | null>>(() => service.noteDeduplicated());
        const loader: GenerationLoader = new DataLoader((requests) => service.loadMany(requests, { ...options, operation, departure }), {
          cacheKeyFn: (each) => each.key,
          cacheMap: memo,
        });
        memoised = { loader, memo };
        loaders.set(id, memoised);
      }
      const { loader, memo } = memoised;
      if (!memo.has(request.key)) {
        const hit = service.hitNow(request, options);
        if (hit !== undefined) {
          // Later duplicates in this operation are the memo's, as if the batch had loaded it.
          loader.prime(request, hit);
          return hit;
        }
      }
      return loader.load(request);
    },
    stream: (request, options) => service.stream(request, { ...options, operation }),
    respondWith(output) {
      // Characters bound bytes from below: most outputs are counted without encoding them.
      const bytes = output.length * 3 <= maxResponseBytes - responseBytes ? output.length : Buffer.byteLength(output);
      responseBytes += bytes;
      if (responseBytes > maxResponseBytes) {
        throw new GencacheError('RESPONSE_TOO_LARGE', `the outputs of this response pass ${maxResponseBytes} bytes; ask for fewer generations at once`);
      }
      return output;
    },
  };
}
