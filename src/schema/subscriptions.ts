import { Repeater, SlidingBuffer } from 'graphql-yoga';
import type { CacheEvent } from '../cache/store.js';
import { badUserInput } from '../errors.js';
import type { GenerationStats } from '../generation/service.js';
import { builder } from './builder.js';
import { CacheConfig } from './cache-admin.js';
import { CacheStats, statsOf, StatsScope } from './statistics.js';

export const MIN_STATS_INTERVAL_MS = 100;
export const MAX_STATS_INTERVAL_MS = 60_000;
/** Events kept for a subscriber that reads slower than they come; the oldest go first. */
const EVENT_BUFFER = 1000;

const CacheEventType = builder.enumType('CacheEventType', {
  values: {
    SET: { description: 'A generation was stored.' },
    EVICT: { description: 'An entry was pushed out by the entry or byte bound (reason: maxEntries or maxBytes).' },
    EXPIRE: { description: 'An entry outlived its TTL.' },
    DELETE: { description: 'An entry was removed on request.' },
    CLEAR: { description: 'Every entry was removed.' },
    CONFIG: { description: 'The cache settings changed.' },
  } as const,
});

type AnyInstanceEvent = CacheEvent & { readonly instance?: string };

const CacheEventRef = builder.objectRef<AnyInstanceEvent>('CacheEvent').implement({
  description: 'One change of the result cache, of this instance or of another sharing its Redis.',
  fields: (t) => ({
    type: t.field({ type: CacheEventType, resolve: (event) => event.type }),
    instance: t.string({
      description: 'The instance whose cache changed (INSTANCE_ID, or host name and pid).',
      resolve: (event, _args, { instanceId }) => event.instance ?? instanceId,
    }),
    at: t.field({ type: 'DateTime', resolve: (event) => new Date(event.at) }),
    key: t.id({ nullable: true, resolve: (event) => ('key' in event ? event.key : null) }),
    model: t.string({ nullable: true, resolve: (event) => ('model' in event ? event.model : null) }),
    bytes: t.float({
      nullable: true,
      description: 'Bytes of the entry; for CLEAR, bytes freed.',
      resolve: (event) => ('bytes' in event ? event.bytes : null),
    }),
    reason: t.string({
      nullable: true,
      description: 'EVICT: the bound (maxEntries, maxBytes); CLEAR: cleared or disabled.',
      resolve: (event) => ('reason' in event ? event.reason : null),
    }),
    removed: t.int({ nullable: true, description: 'CLEAR: entries removed.', resolve: (event) => ('removed' in event ? event.removed : null) }),
    config: t.field({
      type: CacheConfig,
      nullable: true,
      description: 'CONFIG: the new settings.',
      resolve: (event) => ('settings' in event ? event.settings : null),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  cacheStats: t.field({
    type: CacheStats,
    description: `Cache statistics: the current value at once, then one every intervalMs (${MIN_STATS_INTERVAL_MS} to ${MAX_STATS_INTERVAL_MS}).`,
    args: { intervalMs: t.arg.int({ defaultValue: 1000 }), scope: t.arg({ type: StatsScope, defaultValue: 'INSTANCE' }) },
    subscribe: (_root, { intervalMs, scope }, context) => {
      const interval = intervalMs ?? 1000;
      if (interval < MIN_STATS_INTERVAL_MS || interval > MAX_STATS_INTERVAL_MS) {
        throw badUserInput(`intervalMs must be from ${MIN_STATS_INTERVAL_MS} to ${MAX_STATS_INTERVAL_MS}, got ${interval}`);
      }
      const { service, statsFeed } = context;
      // Only the latest statistics matter to a subscriber that falls behind.
      if (scope === 'FLEET' && context.fleetStats !== undefined) {
        // Read from Redis for each subscriber: one SCAN and MGET an interval.
        return new Repeater<GenerationStats>(async (push, stop) => {
          await push(await statsOf(scope, context));
          const timer = setInterval(() => void statsOf(scope, context).then(push), interval);
          await stop;
          clearInterval(timer);
        }, new SlidingBuffer(1));
      }
      return new Repeater<GenerationStats>(async (push, stop) => {
        await push(service.stats());
        const unsubscribe = statsFeed.subscribe(interval, (stats) => void push(stats));
        await stop;
        unsubscribe();
      }, new SlidingBuffer(1));
    },
    resolve: (stats) => stats,
  }),
  cacheEvents: t.field({
    type: CacheEventRef,
    description: 'Every change of the cache as it happens, on every instance sharing its Redis: SET, EVICT, EXPIRE, DELETE, CLEAR, CONFIG. Admin.',
    authScopes: { admin: true },
    subscribe: (_root, _args, { cacheEvents }) =>
      new Repeater<AnyInstanceEvent>(async (push, stop) => {
        const listener = (event: AnyInstanceEvent) => void push(event);
        cacheEvents.on('event', listener);
        await stop;
        cacheEvents.off('event', listener);
      }, new SlidingBuffer(EVENT_BUFFER)),
    resolve: (event) => event,
  }),
}));
