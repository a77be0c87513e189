import DataLoader from 'dataloader';
import type { AdminAccess, AdminAuthenticator, AdminCredentials } from './auth.js';
import type { CacheStore } from './cache/store.js';
import type { GenerationRequest } from './generation/generator.js';
import type { CacheStatus, GenerationResult, GenerationService, GenerationStats, LoadOptions } from './generation/service.js';
import type { StatsFeed } from './generation/stats-feed.js';
import type { Logger } from './logger.js';

export type GenerationLoader = DataLoader<GenerationRequest, GenerationResult | null, string>;

/** What the resolvers of every operation share. */
export interface ContextDependencies {
  readonly service: GenerationService;
  /** The result cache, for the admin surface. */
  readonly cache: CacheStore;
  /** Statistics on timers shared by the `cacheStats` subscribers. */
  readonly statsFeed: StatsFeed<GenerationStats>;
  readonly logger: Logger;
  readonly authenticate: AdminAuthenticator;
}

/** What each operation's resolvers see. */
export interface Context extends Omit<ContextDependencies, 'authenticate'> {
  /** Whether this operation may use the admin surface; worked out on first use. */
  adminAccess(): AdminAccess;
  /** The operation's loader for one policy and TTL: duplicate keys within the operation load once. */
  generationLoader(options: LoadOptions): GenerationLoader;
  /**
   * Key and status per response path of each generation served; becomes `extensions.cache`.
   * Undefined until the first generation is served.
   */
  cacheReport: Record<string, { key: string; status: CacheStatus }> | undefined;
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
 * Credentials are read only when an admin field asks: most operations never do.
 */
export function createContext(
  { service, cache, statsFeed, logger, authenticate }: ContextDependencies,
  credentials: () => AdminCredentials,
): Context {
  const loaders = new Map<string, GenerationLoader>();
  let access: AdminAccess | undefined;
  return {
    service,
    cache,
    statsFeed,
    logger,
    adminAccess: () => (access ??= authenticate(credentials())),
    cacheReport: undefined,
    generationLoader(options) {
      const id = `${options.policy}:${options.ttlSeconds ?? ''}`;
      let loader = loaders.get(id);
      if (loader === undefined) {
        loader = new DataLoader((requests) => service.loadMany(requests, options), {
          cacheKeyFn: (request) => request.key,
          cacheMap: new CountingPromiseMap(() => service.noteDeduplicated()),
        });
        loaders.set(id, loader);
      }
      return loader;
    },
  };
}
