import DataLoader from 'dataloader';
import type { InputLimits } from './config.js';
import type { GenerationRequest } from './generation/generator.js';
import type { CacheStatus, GenerationResult, GenerationService, LoadOptions } from './generation/service.js';

export type GenerationLoader = DataLoader<GenerationRequest, GenerationResult | null, string>;

/** What each operation's resolvers see. */
export interface Context {
  readonly service: GenerationService;
  readonly limits: InputLimits;
  /** The operation's loader for one policy and TTL: duplicate keys within the operation load once. */
  generationLoader(options: LoadOptions): GenerationLoader;
  /** Key and status per response path of each generation served; becomes `extensions.cache`. */
  readonly cacheReport: Map<string, { key: string; status: CacheStatus }>;
}

export interface ContextDependencies {
  readonly service: GenerationService;
  readonly limits: InputLimits;
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

/** Creates the context of one operation, with fresh loaders; the only place loaders are made. */
export function createContext({ service, limits }: ContextDependencies): Context {
  const loaders = new Map<string, GenerationLoader>();
  return {
    service,
    limits,
    cacheReport: new Map(),
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
