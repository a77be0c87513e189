/**
 * The settings of the result cache: their defaults, their bounds and their check. The cache owns
 * them; the configuration reads the environment into them.
 */

export interface CacheSettings {
  /** `false` turns the result cache off; memoization per operation stays. @default true */
  readonly enabled: boolean;
  /** Most entries kept. @default 1000 */
  readonly maxEntries: number;
  /** Most UTF-8 bytes of stored records kept. @default 512 MiB */
  readonly maxBytes: number;
  /** Time to live of an entry when a request names none; 0 means entries do not expire. @default 86400 */
  readonly defaultTtlSeconds: number;
}

export const DEFAULT_MAX_ENTRIES = 1000;
export const DEFAULT_MAX_BYTES = 512 * 2 ** 20;
export const DEFAULT_TTL_SECONDS = 86_400;
/** Longest TTL, default or per request: a year. */
export const MAX_TTL_SECONDS = 31_536_000;
/** lru-cache preallocates its index arrays for `max` entries, so the entry bound is capped. */
export const MAX_CACHE_ENTRIES = 1_000_000;
/** 1 TiB. */
export const MAX_CACHE_BYTES = 2 ** 40;

/** Checks every setting; throws a `TypeError` naming each invalid one, in one message. */
export function checkCacheSettings(settings: CacheSettings): CacheSettings {
  const { enabled, maxEntries, maxBytes, defaultTtlSeconds } = settings;
  const problems: string[] = [];
  const wholeIn = (name: string, value: unknown, min: number, max: number) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
    }
  };
  if (typeof enabled !== 'boolean') problems.push(`enabled must be a boolean, got ${String(enabled)}`);
  wholeIn('maxEntries', maxEntries, 1, MAX_CACHE_ENTRIES);
  wholeIn('maxBytes', maxBytes, 1, MAX_CACHE_BYTES);
  wholeIn('defaultTtlSeconds', defaultTtlSeconds, 0, MAX_TTL_SECONDS);
  if (problems.length > 0) throw new TypeError(problems.join('; '));
  return Object.freeze({ enabled, maxEntries, maxBytes, defaultTtlSeconds });
}
