import type { GenerationStats } from '../generation/service.js';
import { builder } from './builder.js';

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
    inFlight: t.exposeInt('inFlight', { description: 'Generations running now.' }),
    queued: t.exposeInt('queued', { description: 'Generations waiting for a generator slot.' }),
    savedMs: t.exposeFloat('savedMs', { description: 'Generator time that hits saved.' }),
    since: t.field({ type: 'DateTime', resolve: ({ since }) => new Date(since) }),
  }),
});

builder.queryFields((t) => ({
  cacheStats: t.field({
    type: CacheStats,
    resolve: (_root, _args, { service }) => service.stats(),
  }),
}));
