import type { Context } from '../context.js';
import type { FleetStats } from '../fleet/fleet-stats.js';
import type { GenerationStats } from '../generation/service.js';
import { builder } from './builder.js';

export const StatsScope = builder.enumType('StatsScope', {
  values: {
    INSTANCE: { description: 'This instance.' },
    FLEET: { description: 'Every instance sharing its Redis, summed (this instance alone without REDIS_URL).' },
  } as const,
});

/** The statistics of a scope: this instance's, or the fleet's. */
export const statsOf = async (scope: 'INSTANCE' | 'FLEET' | null | undefined, { service, fleetStats }: Context): Promise<GenerationStats | FleetStats> =>
  scope === 'FLEET' && fleetStats !== undefined ? fleetStats() : service.stats();

export const CacheStats = builder.objectRef<GenerationStats>('CacheStats').implement({
  description: 'Statistics of the result cache and the generator since the start or the last reset.',
  fields: (t) => ({
    enabled: t.exposeBoolean('enabled'),
    entries: t.exposeInt('entries'),
    maxEntries: t.exposeInt('maxEntries'),
    bytes: t.exposeFloat('bytes', { description: 'UTF-8 bytes of the stored records.' }),
    maxBytes: t.exposeFloat('maxBytes'),
    peakBytes: t.exposeFloat('peakBytes'),
    hits: t.exposeInt('hits', { description: 'Lookups served from the cache, either tier.' }),
    sharedHits: t.exposeInt('sharedHits', { description: 'Those of the hits served from the shared tier (Redis).' }),
    sharedTier: t.boolean({
      nullable: true,
      description: 'Whether the shared tier (Redis) answers; null when there is none (no REDIS_URL).',
      resolve: ({ sharedTier }) => sharedTier ?? null,
    }),
    misses: t.exposeInt('misses'),
    hitRate: t.exposeFloat('hitRate', { description: 'hits / (hits + misses); 0 before any lookup.' }),
    coalesced: t.exposeInt('coalesced', { description: 'Loads that joined a generation already in flight.' }),
    deduplicated: t.exposeInt('deduplicated', { description: 'Duplicate loads collapsed inside one operation.' }),
    evictions: t.exposeInt('evictions', { description: 'Entries pushed out by the entry or byte bound.' }),
    expirations: t.exposeInt('expirations'),
    generations: t.exposeInt('generations', { description: 'Generator calls started.' }),
    generationErrors: t.exposeInt('generationErrors', { description: 'Generator calls that failed or timed out.' }),
    cancelled: t.exposeInt('cancelled', {
      description: 'Generations cancelled: by cancelGeneration, or, with ABANDONED_GENERATIONS=cancel, when every client of one went away. Nothing of them is stored.',
    }),
    inFlight: t.exposeInt('inFlight', { description: 'Generations running now.' }),
    queued: t.exposeInt('queued', { description: 'Generations waiting for a generator slot.' }),
    savedMs: t.exposeFloat('savedMs', { description: 'Generator time that hits saved.' }),
    // Float, as savedMs: a count of tokens outgrows GraphQL's 32-bit Int.
    savedTokens: t.exposeFloat('savedTokens', {
      description: 'Tokens (prompt and completion) that hits and coalesced loads did not spend: those their records cost when generated.',
    }),
    since: t.field({ type: 'DateTime', resolve: ({ since }) => new Date(since) }),
    instances: t.int({
      description: 'Instances summed: 1 for INSTANCE, and for FLEET those that published their statistics in the last seconds.',
      resolve: (stats) => ('instances' in stats ? (stats as FleetStats).instances : 1),
    }),
  }),
});

builder.queryFields((t) => ({
  cacheStats: t.field({
    type: CacheStats,
    args: { scope: t.arg({ type: StatsScope, defaultValue: 'INSTANCE' }) },
    resolve: (_root, { scope }, context) => statsOf(scope, context),
  }),
}));
