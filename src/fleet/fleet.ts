import { EventEmitter } from 'node:events';
import type { MemoryStore } from '../cache/memory-store.js';
import type { CacheEvent, InstanceCacheEvent } from '../cache/store.js';
import { TieredStore, type CacheChange } from '../cache/tiered-store.js';
import type { GenerationStats } from '../generation/service.js';
import type { Logger } from '../logger.js';
import { createFleetBus, type FleetBus } from './bus.js';
import { FleetStatsBoard, type FleetStats } from './fleet-stats.js';
import { RedisFlightCoordinator } from './flight-lock.js';
import { RedisLink } from './redis-link.js';
import { RedisSharedTier } from './shared-tier.js';

/** How an instance joins a fleet. */
export interface FleetOptions {
  readonly redisUrl: string;
  /** Prefix of every key and channel of this cache in Redis. */
  readonly namespace: string;
  readonly commandTimeoutMs: number;
  readonly lockTtlMs: number;
  /** This instance's name among the others. */
  readonly instanceId: string;
}

export interface FleetEvents {
  event: [InstanceCacheEvent];
}

/** What an instance that shares Redis with others is made of. */
export interface Fleet {
  readonly link: RedisLink;
  readonly bus: FleetBus;
  /** The local cache in front of the shared tier; administrative changes reach every instance. */
  readonly cache: TieredStore;
  readonly coordinator: RedisFlightCoordinator;
  /**
   * Settles when the connection is made and the instance hears the others (its subscriptions in
   * place), or when the first attempt failed: the instance then serves alone until Redis answers.
   */
  readonly connected: Promise<void>;
  /** The cache events of every instance, each with the instance it came from. */
  readonly events: EventEmitter<FleetEvents>;
  /** Publishes this instance's statistics for the others' fleet sums, from now on. */
  publishStats(own: () => GenerationStats): void;
  /** This instance's statistics summed with those of the others. */
  stats(): Promise<FleetStats>;
  /** Tells the other instances to cancel their generation of a key (an administrator's cancelGeneration). */
  announceCancel(key: string): void;
  /** Calls `cancel` with each key another instance announces. */
  onCancel(cancel: (key: string) => void): void;
  close(): Promise<void>;
}

/** How long a start waits for its subscriptions at most. */
const SUBSCRIBE_WAIT_MS = 2_000;

interface Message<T> {
  readonly from: string;
  readonly body: T;
}

/**
 * Joins the instances sharing Redis: the shared tier behind `local`, single-flight, and on the
 * bus the administrative changes (clear, delete, configure) and the cache events of each.
 */
export function createFleet(options: FleetOptions, local: MemoryStore, logger: Logger, now?: () => number): Fleet {
  const { instanceId: self, namespace } = options;
  const link = new RedisLink({ url: options.redisUrl, commandTimeoutMs: options.commandTimeoutMs, logger });
  const bus = createFleetBus(link, namespace);
  const cache = new TieredStore(local, new RedisSharedTier(link, namespace, now), {
    announce: (change) => bus.publish<Message<CacheChange>>('changes', { from: self, body: change }),
    now,
  });
  bus.subscribe<Message<CacheChange>>('changes', ({ from, body }) => {
    if (from === self) return;
    try {
      cache.applyPeerChange(body);
    } catch (error) {
      logger.warn({ err: error, from, change: body }, 'fleet: a change announced by another instance could not be made here');
    }
  });

  const events = new EventEmitter<FleetEvents>();
  // One listener per cacheEvents subscriber.
  events.setMaxListeners(0);
  local.events.on('event', (event) => {
    events.emit('event', { ...event, instance: self });
    bus.publish<Message<CacheEvent>>('events', { from: self, body: event });
  });
  bus.subscribe<Message<CacheEvent>>('events', ({ from, body }) => {
    if (from !== self) events.emit('event', { ...body, instance: from });
  });

  let board: FleetStatsBoard | undefined;
  const coordinator = new RedisFlightCoordinator(link, bus, namespace, options.lockTtlMs);
  return {
    link,
    bus,
    cache,
    coordinator,
    // A subscription made while Redis is away waits for it: bounded, so a start is never held.
    connected: link.connected.then(() =>
      link.up ? Promise.race([bus.subscribed(), new Promise<void>((resolve) => setTimeout(resolve, SUBSCRIBE_WAIT_MS).unref())]) : undefined,
    ),
    events,
    publishStats: (own) => {
      board ??= new FleetStatsBoard(link, namespace, self, own);
    },
    stats: () => {
      if (board === undefined) throw new Error('fleet statistics are read before they are published');
      return board.read();
    },
    announceCancel: (key) => bus.publish<Message<string>>('cancels', { from: self, body: key }),
    onCancel: (cancel) => {
      bus.subscribe<Message<string>>('cancels', ({ from, body }) => {
        if (from !== self && typeof body === 'string') cancel(body);
      });
    },
    close: async () => {
      board?.stop();
      await link.close();
    },
  };
}
