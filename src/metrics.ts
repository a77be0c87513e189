import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheEvent, CacheStore } from './cache/store.js';
import type { Generator } from './generation/generator.js';
import type { GenerationEvent, GenerationService, GenerationStats, GenerationTotals } from './generation/service.js';

/**
 * Prometheus metrics of the service. Counts on the request path are read from the service's
 * monotonic totals when Prometheus scrapes, so a cache hit pays nothing for them; cache events
 * and generator calls, which happen only on stores and misses, are counted as they happen.
 * `resetCacheStats` never moves a counter backwards. A scrape reads the service once: every
 * metric of one scrape comes from the same snapshot.
 *
 * Names, as the ecosystems expect them:
 * - Node's process metrics keep prom-client's standard names (`process_*`, `nodejs_*`), with no
 *   prefix, so stock Node.js dashboards read them.
 * - The service's own are `gencache_<subsystem>_<name>_<unit>`: subsystems `cache`, `generation`,
 *   `shared_tier` and `graphql`; base units (`seconds`, `bytes`) in the name; counters end in
 *   `_total`, and nothing else does. `promtool check metrics` finds nothing in them
 *   (test/metrics.test.ts).
 *
 * Label vocabularies, each one everywhere it is used:
 * - `outcome`: `ok`, or the lower-cased code of the error (`generation_failed`,
 *   `generation_timeout`, `overloaded`, ...): `outcomeOf`.
 * - `status` (GraphQL requests): `ok`, or `error` when the result has errors.
 * - `operation` (GraphQL requests): the operation's name when it is one of the known documents
 *   (schema/operations), `anonymous`, or `other`: a bounded set (src/plugins/use-operation-metrics.ts).
 * - `reason` (evictions): `max_entries`, `max_bytes`, `expired`, `deleted`, `cleared`.
 */

export interface Metrics {
  readonly registry: Registry;
  /** Stops listening to the service; the registry keeps its last values. */
  detach(): void;
}

/** Seconds; a generation takes from milliseconds (a cached upstream) to minutes (a GPU). */
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * Seconds; a GraphQL request served from the cache takes a fraction of a millisecond, one that
 * waits for a generation as long as the generator.
 */
const REQUEST_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** `ok`, or the error's code lower-cased: the one vocabulary of every `outcome` label. */
export const outcomeOf = (error: { readonly code: string } | undefined): string => (error === undefined ? 'ok' : error.code.toLowerCase());

/** The `status` label of a GraphQL request. */
export type RequestStatus = 'ok' | 'error';

/** Per-operation counts and latencies of GraphQL requests, recorded by `useOperationMetrics`. */
export interface GraphQlRequestMetrics {
  /** `gencache_graphql_requests_total{operation,status}`; a subscription counts once, when it starts. */
  readonly requests: Counter<'operation' | 'status'>;
  /** `gencache_graphql_request_duration_seconds{operation}`: queries and mutations, not subscriptions. */
  readonly durations: Histogram<'operation'>;
}

const requestMetricsByRegistry = new WeakMap<Registry, GraphQlRequestMetrics>();

/**
 * The GraphQL request metrics of a registry, registered on first use: every GraphQL server over
 * one registry (the app's, and a second one a test or the benchmark builds beside it) records
 * into the same ones.
 */
export function graphQlRequestMetrics(registry: Registry): GraphQlRequestMetrics {
  let metrics = requestMetricsByRegistry.get(registry);
  if (metrics === undefined) {
    metrics = {
      requests: new Counter({
        name: 'gencache_graphql_requests_total',
        help: 'GraphQL requests over HTTP (the fast lane included) by operation (a known name, anonymous or other) and status (ok, or error when the result has errors); a subscription counts once, when it starts.',
        labelNames: ['operation', 'status'] as const,
        registers: [registry],
      }),
      durations: new Histogram({
        name: 'gencache_graphql_request_duration_seconds',
        help: 'Time from the GraphQL parameters of a request to its result, by operation; queries and mutations only.',
        labelNames: ['operation'] as const,
        buckets: REQUEST_DURATION_BUCKETS,
        registers: [registry],
      }),
    };
    requestMetricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

export interface MetricsOptions {
  readonly service: GenerationService;
  /** The result cache, whose events are counted. */
  readonly cache: CacheStore;
  /** Node's process metrics (`process_*`, `nodejs_*`). @default true */
  readonly defaultMetrics?: boolean;
  /** The connection to the shared tier, when there is one. */
  readonly sharedTier?: { readonly up: boolean; readonly errors: number } | undefined;
  /** The generator, whose readiness each scrape asks. */
  readonly generator?: Pick<Generator, 'checkReady'> | undefined;
}

/** How long a scrape waits for the generator's readiness. */
const GENERATOR_CHECK_MS = 2_000;

export function createMetrics({ service, cache, defaultMetrics = true, sharedTier, generator }: MetricsOptions): Metrics {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry });

  // prom-client calls every collect() of a scrape in one synchronous loop: the snapshot taken by
  // the first is dropped once that loop is done.
  let snapshot: { readonly stats: GenerationStats; readonly totals: GenerationTotals } | undefined;
  const read = () => {
    if (snapshot === undefined) {
      snapshot = { stats: service.stats(), totals: service.totals() };
      queueMicrotask(() => (snapshot = undefined));
    }
    return snapshot;
  };
  const totals = () => read().totals;
  const stats = () => read().stats;

  const fromTotals = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  fromTotals('gencache_cache_hits_total', 'Lookups served from the result cache, either tier.', () => totals().hits);
  fromTotals('gencache_cache_shared_hits_total', 'Lookups served from the shared tier (Redis).', () => totals().sharedHits);
  fromTotals('gencache_cache_misses_total', 'Lookups the result cache could not serve.', () => totals().misses);
  fromTotals('gencache_cache_coalesced_total', 'Loads that joined a generation already in flight.', () => totals().coalesced);
  fromTotals('gencache_cache_deduplicated_total', 'Duplicate loads collapsed inside one operation.', () => totals().deduplicated);
  fromTotals('gencache_cache_saved_seconds_total', 'Generator time that cache hits saved.', () => totals().savedMs / 1000);
  fromTotals('gencache_cache_saved_tokens_total', 'Tokens that cache hits and coalesced loads did not spend.', () => totals().savedTokens);
  fromTotals(
    'gencache_generation_cancelled_total',
    'Generations cancelled, by cancelGeneration or (ABANDONED_GENERATIONS=cancel) when every client of one went away; none stored.',
    () => totals().cancelled,
  );

  const evictions = new Counter({
    name: 'gencache_cache_evictions_total',
    help: 'Entries that left the result cache, by reason: max_entries, max_bytes (pushed out by a bound), expired, deleted, cleared.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const stores = new Counter({
    name: 'gencache_cache_stores_total',
    help: 'Generations stored in the result cache.',
    registers: [registry],
  });
  for (const reason of ['max_entries', 'max_bytes', 'expired', 'deleted', 'cleared']) evictions.inc({ reason }, 0);

  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('gencache_cache_entries', 'Entries in the result cache.', () => stats().entries);
  gauge('gencache_cache_bytes', 'UTF-8 bytes of the records in the result cache.', () => stats().bytes);
  gauge('gencache_cache_max_entries', 'Entry bound of the result cache.', () => stats().maxEntries);
  gauge('gencache_cache_max_bytes', 'Byte bound of the result cache.', () => stats().maxBytes);
  gauge('gencache_cache_enabled', '1 when the result cache is on.', () => (stats().enabled ? 1 : 0));
  gauge('gencache_generation_in_flight', 'Generations running on the generator.', () => stats().inFlight);
  gauge('gencache_generation_queued', 'Generations waiting for a generator slot.', () => stats().queued);
  if (generator !== undefined) {
    // Asked at each scrape, as /ready asks it: an upstream model server that stopped answering shows
    // here, while /ready stays 200 (hits are still served).
    new Gauge({
      name: 'gencache_generator_up',
      help: '1 when the generator can take work (for openai, the upstream answers GET /models).',
      registers: [registry],
      async collect() {
        try {
          await generator.checkReady?.(AbortSignal.timeout(GENERATOR_CHECK_MS));
          this.set(1);
        } catch {
          this.set(0);
        }
      },
    });
  }
  if (sharedTier !== undefined) {
    gauge('gencache_shared_tier_up', '1 while the shared tier (Redis) answers.', () => (sharedTier.up ? 1 : 0));
    fromTotals('gencache_shared_tier_errors_total', 'Commands to the shared tier (Redis) that failed, and connection errors.', () => sharedTier.errors);
  }

  const durations = new Histogram({
    name: 'gencache_generation_duration_seconds',
    help: 'Generator calls by model and outcome (ok, or the error code lower-cased: generation_failed, generation_timeout, ...).',
    labelNames: ['model', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  graphQlRequestMetrics(registry);

  const onGeneration = ({ model, durationMs, error }: GenerationEvent) => durations.observe({ model, outcome: outcomeOf(error) }, durationMs / 1000);
  const onCacheEvent = (event: CacheEvent) => {
    switch (event.type) {
      case 'SET':
        stores.inc();
        break;
      case 'EVICT':
        evictions.inc({ reason: event.reason === 'maxEntries' ? 'max_entries' : 'max_bytes' });
        break;
      case 'EXPIRE':
        evictions.inc({ reason: 'expired' });
        break;
      case 'DELETE':
        evictions.inc({ reason: 'deleted' });
        break;
      case 'CLEAR':
        evictions.inc({ reason: 'cleared' }, event.removed);
        break;
      case 'CONFIG':
        break;
    }
  };
  service.events.on('generation', onGeneration);
  cache.events.on('event', onCacheEvent);

  return {
    registry,
    detach() {
      service.events.off('generation', onGeneration);
      cache.events.off('event', onCacheEvent);
    },
  };
}
