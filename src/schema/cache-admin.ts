import type { EntryOrder } from '../cache/entry-listing.js';
import type { CacheSettings } from '../cache/settings.js';
import type { CacheEntry, ClearResult } from '../cache/store.js';
import type { Context } from '../context.js';
import type { InFlightGeneration } from '../generation/service.js';
import { badUserInput } from '../errors.js';
import { builder } from './builder.js';
import { Generation } from './generation.js';
import { CacheStats } from './statistics.js';

/** Most entries one page of `cacheEntries` returns. */
export const MAX_PAGE_SIZE = 1000;
/** Most keys one `evictCacheEntries` names. */
export const MAX_EVICT_KEYS = 1000;

const admin = { admin: true } as const;

export const CacheConfig = builder.objectRef<CacheSettings>('CacheConfig').implement({
  description: 'The settings of the result cache; the admin surface changes them at run time.',
  fields: (t) => ({
    enabled: t.exposeBoolean('enabled'),
    maxEntries: t.exposeInt('maxEntries'),
    maxBytes: t.exposeFloat('maxBytes'),
    defaultTtlSeconds: t.exposeInt('defaultTtlSeconds', { description: '0: entries do not expire.' }),
  }),
});

const CacheConfigInput = builder.inputType('CacheConfigInput', {
  description: 'Settings to change; a field left out keeps its value. Invalid fields change nothing.',
  fields: (t) => ({
    enabled: t.boolean(),
    maxEntries: t.int({ description: 'From 1 to 1000000.' }),
    maxBytes: t.float({ description: 'A whole number of bytes, from 1 to 2^40.' }),
    defaultTtlSeconds: t.int({ description: 'From 0 (no expiry) to 31536000 (a year).' }),
  }),
});

const SharedClearResult = builder.objectRef<NonNullable<ClearResult['shared']>>('SharedClearResult').implement({
  description: 'What the shared tier (Redis) removed.',
  fields: (t) => ({
    removed: t.exposeInt('removed'),
    freedBytes: t.exposeFloat('freedBytes'),
  }),
});

const CacheClearResult = builder.objectRef<ClearResult>('CacheClearResult').implement({
  description: "What this instance's cache removed, and the shared tier's.",
  fields: (t) => ({
    removed: t.exposeInt('removed'),
    freedBytes: t.exposeFloat('freedBytes'),
    shared: t.field({
      type: SharedClearResult,
      nullable: true,
      description: 'What the shared tier removed; null without one (no REDIS_URL).',
      resolve: ({ shared }) => shared ?? null,
    }),
  }),
});

const CacheTier = builder.enumType('CacheTier', {
  values: {
    LOCAL: { description: "This instance's cache." },
    SHARED: { description: 'The cache tier the instances share (Redis).' },
  } as const,
});

const CacheEntryOrder = builder.enumType('CacheEntryOrder', {
  values: {
    MOST_RECENT: { description: 'Most recently used first.' },
    LEAST_RECENT: { description: 'Least recently used first: the next to be evicted.' },
    LARGEST: { description: 'Most bytes first.' },
    MOST_HITS: { description: 'Most hits first.' },
  } as const,
});

export const CacheEntryRef = builder.objectRef<CacheEntry>('CacheEntry').implement({
  description: 'One cached generation and its bookkeeping.',
  fields: (t) => ({
    key: t.id({ resolve: (entry) => entry.record.key }),
    model: t.string({ resolve: (entry) => entry.record.model }),
    prompt: t.string({ resolve: (entry) => entry.record.prompt }),
    bytes: t.int({ description: 'UTF-8 bytes of the stored record.', resolve: (entry) => entry.bytes }),
    hits: t.exposeInt('hits'),
    createdAt: t.field({ type: 'DateTime', resolve: (entry) => new Date(entry.record.createdAt) }),
    lastAccessedAt: t.field({ type: 'DateTime', resolve: (entry) => new Date(entry.lastAccessedAt) }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (entry) => (entry.expiresAt === undefined ? null : new Date(entry.expiresAt)),
    }),
    generation: t.field({
      type: Generation,
      resolve: (entry) => ({ record: entry.record, status: 'HIT' as const, expiresAt: entry.expiresAt }),
    }),
  }),
});

const InFlightGenerationRef = builder.objectRef<InFlightGeneration>('InFlightGeneration').implement({
  description: 'A generation in flight on this instance.',
  fields: (t) => ({
    key: t.id({ resolve: (flight) => flight.key }),
    model: t.exposeString('model'),
    startedAt: t.field({ type: 'DateTime', description: 'When the first request asked for it.', resolve: (flight) => new Date(flight.startedAt) }),
    running: t.exposeBoolean('running', {
      description: "Whether this instance's generator works on it: false while it waits for a generator slot, or while another instance generates it.",
    }),
    waiters: t.exposeInt('waiters', { description: 'Requests and streams waiting for it.' }),
    chunks: t.exposeInt('chunks', { description: 'Pieces of text the generator streamed so far.' }),
  }),
});

function logAdmin(context: Context, action: string, details: Record<string, unknown>): void {
  context.logger.info({ admin: action, ...details }, `admin: ${action}`);
}

builder.queryFields((t) => ({
  cacheConfig: t.field({
    type: CacheConfig,
    resolve: (_root, _args, { cache }) => cache.settings,
  }),
  cacheEntries: t.connection(
    {
      type: CacheEntryRef,
      description: `Cached entries in an order, a page at a time (first: 0 to ${MAX_PAGE_SIZE}). Admin.`,
      authScopes: admin,
      // The plugin adds `first` (default 50, set in builder.ts), `after`, `last` and `before`.
      args: {
        orderBy: t.arg({ type: CacheEntryOrder, defaultValue: 'MOST_RECENT' }),
        model: t.arg.string(),
        tier: t.arg({
          type: CacheTier,
          defaultValue: 'LOCAL',
          description: "LOCAL: this instance's cache. SHARED: the Redis tier, walked whole (SCAN), its recency orders those of storing.",
        }),
      },
      resolve: async (_root, args, { cache }) => {
        if (args.tier === 'SHARED' && cache.stats().sharedTier === undefined) {
          throw badUserInput('tier SHARED: there is no shared tier (REDIS_URL is not set)');
        }
        // Cursors name a position in one order, read forward only: refuse backward paging rather than ignore it.
        if (args.last != null || args.before != null) {
          throw badUserInput('cacheEntries pages forward only: use first and after, not last or before');
        }
        const first = args.first ?? 50;
        if (first < 0 || first > MAX_PAGE_SIZE) throw badUserInput(`first must be from 0 to ${MAX_PAGE_SIZE}, got ${first}`);
        let page;
        try {
          page = await cache.list({
            tier: args.tier ?? 'LOCAL',
            first,
            after: args.after ?? undefined,
            orderBy: (args.orderBy ?? 'MOST_RECENT') satisfies EntryOrder,
            model: args.model ?? undefined,
          });
        } catch (error) {
          if (error instanceof TypeError) throw badUserInput(`after: ${error.message}`);
          throw error;
        }
        return {
          edges: page.items.map(({ entry, cursor }) => ({ cursor, node: entry })),
          pageInfo: {
            hasNextPage: page.hasNextPage,
            hasPreviousPage: page.hasPreviousPage,
            startCursor: page.items[0]?.cursor ?? null,
            endCursor: page.items.at(-1)?.cursor ?? null,
          },
          totalCount: page.totalCount,
        };
      },
    },
    {
      name: 'CacheEntryConnection',
      description: 'A page of cache entries (Relay connection).',
      fields: (c) => ({
        totalCount: c.exposeInt('totalCount', { description: 'Entries that match the filter, on all pages.' }),
      }),
    },
    { name: 'CacheEntryEdge' },
  ),
  inFlightGenerations: t.field({
    type: [InFlightGenerationRef],
    description: 'The generations in flight on this instance, oldest first. Admin.',
    authScopes: admin,
    resolve: (_root, _args, { service }) => service.inFlight(),
  }),
  cacheEntry: t.field({
    type: CacheEntryRef,
    nullable: true,
    description: 'One cached entry by key, without counting a hit or refreshing its recency. Admin.',
    authScopes: admin,
    args: { key: t.arg.id({ required: true }) },
    resolve: async (_root, { key }, { cache }) => (await cache.peek(String(key))) ?? null,
  }),
}));

builder.mutationFields((t) => ({
  updateCacheConfig: t.field({
    type: CacheConfig,
    description: 'Changes cache settings at once; a shrink evicts least recently used entries first. Admin.',
    authScopes: admin,
    args: { input: t.arg({ type: CacheConfigInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const update: Partial<Record<keyof CacheSettings, unknown>> = {};
      for (const [name, value] of Object.entries(input)) {
        if (value === null) throw badUserInput(`${name} must not be null; leave it out to keep its value`);
        if (value !== undefined) update[name as keyof CacheSettings] = value;
      }
      const before = context.cache.settings;
      let after: CacheSettings;
      try {
        after = await context.cache.configure(update as Partial<CacheSettings>);
      } catch (error) {
        if (error instanceof TypeError) throw badUserInput(error.message);
        throw error;
      }
      logAdmin(context, 'updateCacheConfig', { before, after });
      return after;
    },
  }),
  clearCache: t.field({
    type: CacheClearResult,
    description: 'Removes every entry. Admin.',
    authScopes: admin,
    resolve: async (_root, _args, context) => {
      const result = await context.cache.clear();
      logAdmin(context, 'clearCache', { ...result });
      return result;
    },
  }),
  evictCacheEntries: t.field({
    type: CacheClearResult,
    description: 'Removes the entries that match every given filter: any of `keys`, and `model`. Admin.',
    authScopes: admin,
    args: { keys: t.arg.idList(), model: t.arg.string() },
    resolve: async (_root, { keys, model }, context) => {
      if (keys == null && model == null) {
        throw badUserInput('give keys, model or both; clearCache removes everything');
      }
      if (keys && keys.length > MAX_EVICT_KEYS) {
        throw badUserInput(`keys has ${keys.length} items; the limit is ${MAX_EVICT_KEYS}`);
      }
      const result = await context.cache.delete({ keys: keys?.map(String), model: model ?? undefined });
      logAdmin(context, 'evictCacheEntries', { keys: keys?.length, model, ...result });
      return result;
    },
  }),
  cancelGeneration: t.field({
    type: 'Boolean',
    description:
      'Cancels the generation in flight for a key, on every instance: every request and stream waiting for it fails with GENERATION_CANCELLED, the generator is stopped, nothing is stored. False when none is in flight on this instance (the others are told all the same). Admin.',
    authScopes: admin,
    args: { key: t.arg.id({ required: true }) },
    resolve: (_root, { key }, context) => {
      const cancelled = context.cancelGeneration(String(key));
      logAdmin(context, 'cancelGeneration', { key: String(key), cancelled });
      return cancelled;
    },
  }),
  resetCacheStats: t.field({
    type: CacheStats,
    description: 'Starts the statistics again from zero. Admin.',
    authScopes: admin,
    resolve: (_root, _args, context) => {
      const stats = context.service.resetStats();
      logAdmin(context, 'resetCacheStats', {});
      return stats;
    },
  }),
}));
