import type { MemoryStore } from '../cache/memory-store.js';
import { TieredStore } from '../cache/tiered-store.js';
import type { Logger } from '../logger.js';
import { createFleetBus, type FleetBus } from './bus.js';
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

/** What an instance that shares Redis with others is made of. */
export interface Fleet {
  readonly link: RedisLink;
  readonly bus: FleetBus;
  /** The local cache in front of the shared tier. */
  readonly cache: TieredStore;
  readonly coordinator: RedisFlightCoordinator;
  close(): Promise<void>;
}

/** Joins the instances sharing Redis: the shared tier behind `local`, single-flight and the bus. */
export function createFleet(options: FleetOptions, local: MemoryStore, logger: Logger, now?: () => number): Fleet {
  const link = new RedisLink({ url: options.redisUrl, commandTimeoutMs: options.commandTimeoutMs, logger });
  const bus = createFleetBus(link, options.namespace);
  return {
    link,
    bus,
    cache: new TieredStore(local, new RedisSharedTier(link, options.namespace, now), now),
    coordinator: new RedisFlightCoordinator(link, bus, options.namespace, options.lockTtlMs),
    close: () => link.close(),
  };
}
