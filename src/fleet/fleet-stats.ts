import type { GenerationStats } from '../generation/service.js';
import type { RedisLink } from './redis-link.js';

/** Each instance publishes its statistics this often… */
export const STATS_PUBLISH_INTERVAL_MS = 1_000;
/** …and they expire after this long, so that an instance that died drops out of the sum. */
const STATS_TTL_MS = 3_000;
const SCAN_COUNT = 100;

/** Statistics of several instances as one, with how many instances they are. */
export interface FleetStats extends GenerationStats {
  readonly instances: number;
}

/** Counts and sizes add up; the hit rate is the fleet's; `since` is the earliest; `sharedTier` is this instance's view. */
export function sumStats(own: GenerationStats, others: readonly GenerationStats[]): FleetStats {
  const all = [own, ...others];
  const sum = (name: keyof GenerationStats) => all.reduce((total, stats) => total + ((stats[name] as number | undefined) ?? 0), 0);
  const hits = sum('hits');
  const misses = sum('misses');
  return {
    enabled: all.some((stats) => stats.enabled),
    entries: sum('entries'),
    maxEntries: sum('maxEntries'),
    bytes: sum('bytes'),
    maxBytes: sum('maxBytes'),
    peakBytes: sum('peakBytes'),
    evictions: sum('evictions'),
    expirations: sum('expirations'),
    sharedTier: own.sharedTier,
    hits,
    sharedHits: sum('sharedHits'),
    misses,
    hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
    coalesced: sum('coalesced'),
    deduplicated: sum('deduplicated'),
    generations: sum('generations'),
    generationErrors: sum('generationErrors'),
    cancelled: sum('cancelled'),
    inFlight: sum('inFlight'),
    queued: sum('queued'),
    savedMs: sum('savedMs'),
    savedTokens: sum('savedTokens'),
    since: Math.min(...all.map((stats) => stats.since)),
    instances: all.length,
  };
}

/**
 * The fleet's statistics in Redis: each instance writes its own every second under its name with
 * a short expiry; the fleet's are this instance's own, summed with those of every other that is
 * there. With Redis away they are this instance's alone.
 */
export class FleetStatsBoard {
  readonly #link: RedisLink;
  readonly #prefix: string;
  readonly #instanceId: string;
  readonly #own: () => GenerationStats;
  readonly #timer: NodeJS.Timeout;

  constructor(link: RedisLink, namespace: string, instanceId: string, own: () => GenerationStats) {
    this.#link = link;
    this.#prefix = `${namespace}stats:`;
    this.#instanceId = instanceId;
    this.#own = own;
    this.#timer = setInterval(() => void this.#publish(), STATS_PUBLISH_INTERVAL_MS).unref();
    void this.#publish();
  }

  async read(): Promise<FleetStats> {
    const own = this.#own();
    if (!this.#link.up) return sumStats(own, []);
    const others: GenerationStats[] = [];
    try {
      for await (const keys of this.#link.client.scanStream({ match: `${this.#prefix}*`, count: SCAN_COUNT }) as AsyncIterable<string[]>) {
        const theirs = keys.filter((key) => key !== this.#prefix + this.#instanceId);
        if (theirs.length === 0) continue;
        for (const value of await this.#link.client.mget(theirs)) {
          if (value !== null) others.push(JSON.parse(value) as GenerationStats);
        }
      }
    } catch (error) {
      this.#link.failed(error);
      return sumStats(own, []);
    }
    return sumStats(own, others);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #publish(): Promise<void> {
    if (!this.#link.up) return;
    try {
      await this.#link.client.set(this.#prefix + this.#instanceId, JSON.stringify(this.#own()), 'PX', STATS_TTL_MS);
    } catch (error) {
      this.#link.failed(error);
    }
  }
}
