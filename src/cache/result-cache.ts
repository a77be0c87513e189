import { LRUCache } from 'lru-cache';
import type { CacheSettings } from '../config.js';

/**
 * The result cache across operations: an `lru-cache` bounded by entries (`max`) and by the UTF-8
 * bytes of the stored records (`maxSize`), with a default TTL that a request may override.
 *
 * Invariants: after every `set` and every `configure`, `entries <= maxEntries` and
 * `bytes <= maxBytes`; a record larger than `maxBytes` is never stored and evicts nothing;
 * `evictions` counts entries pushed out by a bound, `expirations` entries whose TTL ran out.
 */

/** A finished generation as it is stored and served. Times are epoch milliseconds. */
export interface GenerationRecord {
  readonly key: string;
  readonly prompt: string;
  readonly model: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly output: string;
  readonly contentType: string;
  readonly createdAt: number;
  /** What the generator took when it ran. */
  readonly generationMs: number;
}

export interface CacheEntry {
  readonly record: GenerationRecord;
  /** UTF-8 bytes of the record as JSON: what counts against `maxBytes`. */
  readonly bytes: number;
  readonly storedAt: number;
  /** The last instant the entry is served; undefined when it does not expire. */
  readonly expiresAt: number | undefined;
  hits: number;
  lastAccessedAt: number;
}

export interface ResultCacheStats {
  readonly enabled: boolean;
  readonly entries: number;
  readonly maxEntries: number;
  readonly bytes: number;
  readonly maxBytes: number;
  readonly peakBytes: number;
  readonly evictions: number;
  readonly expirations: number;
}

export interface ClearResult {
  readonly removed: number;
  readonly freedBytes: number;
}

export interface ResultCacheOptions extends CacheSettings {
  /** Clock in epoch milliseconds, for TTLs and entry times. @default Date.now */
  readonly now?: () => number;
}

export type ResultCacheSettingsUpdate = Partial<CacheSettings>;

export class ResultCache {
  readonly #now: () => number;
  #settings: CacheSettings;
  #lru: LRUCache<string, CacheEntry>;
  #peakBytes = 0;
  #evictions = 0;
  #expirations = 0;

  constructor(options: ResultCacheOptions) {
    this.#now = options.now ?? Date.now;
    this.#settings = checkSettings({
      enabled: options.enabled,
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes,
      defaultTtlSeconds: options.defaultTtlSeconds,
    });
    this.#lru = this.#createLru(this.#settings);
  }

  get settings(): CacheSettings {
    return this.#settings;
  }

  /** The entry of a key, counted as a hit on it; undefined when absent, expired or disabled. */
  get(key: string): CacheEntry | undefined {
    if (!this.#settings.enabled) return undefined;
    const entry = this.#lru.get(key);
    if (entry !== undefined) {
      entry.hits++;
      entry.lastAccessedAt = this.#now();
    }
    return entry;
  }

  /** The entry of a key without touching its recency or hit count. */
  peek(key: string): CacheEntry | undefined {
    return this.#settings.enabled ? this.#lru.peek(key) : undefined;
  }

  /**
   * Stores a record for `ttlSeconds` (default: the configured TTL; 0: no expiry). Returns the
   * entry, or undefined when the cache is disabled or the record alone exceeds `maxBytes`.
   */
  set(record: GenerationRecord, ttlSeconds: number = this.#settings.defaultTtlSeconds): CacheEntry | undefined {
    if (!this.#settings.enabled) return undefined;
    const bytes = Buffer.byteLength(JSON.stringify(record));
    if (bytes > this.#settings.maxBytes) return undefined;
    const storedAt = this.#now();
    const ttl = ttlSeconds * 1000;
    const entry: CacheEntry = {
      record,
      bytes,
      storedAt,
      expiresAt: ttl > 0 ? storedAt + ttl : undefined,
      hits: 0,
      lastAccessedAt: storedAt,
    };
    this.#lru.set(record.key, entry, { size: bytes, ttl });
    this.#peakBytes = Math.max(this.#peakBytes, this.#lru.calculatedSize);
    return entry;
  }

  delete(key: string): boolean {
    return this.#lru.delete(key);
  }

  clear(): ClearResult {
    const result = { removed: this.#lru.size, freedBytes: this.#lru.calculatedSize };
    this.#lru.clear();
    return result;
  }

  /**
   * Applies new settings at once. Entries that still fit are kept; while over a new bound, the
   * least recently used go first. Turning the cache off drops its entries. Throws a `TypeError`
   * naming the first invalid setting, and then changes nothing.
   */
  configure(update: ResultCacheSettingsUpdate): CacheSettings {
    const next = checkSettings({ ...this.#settings, ...update });
    const current = this.#settings;
    this.#settings = next;
    if (!next.enabled) {
      this.#lru.clear();
    } else if (next.maxEntries !== current.maxEntries || next.maxBytes !== current.maxBytes) {
      // lru-cache bounds are fixed at construction: move the live entries, least recent first,
      // into a cache with the new bounds, which evicts from the least recent end while over them.
      const previous = this.#lru;
      previous.purgeStale();
      this.#lru = this.#createLru(next);
      for (const [key, { value: entry }] of previous.dump()) {
        const ttl = entry.expiresAt === undefined ? 0 : entry.expiresAt - entry.storedAt;
        this.#lru.set(key, entry, { size: entry.bytes, ttl, start: entry.storedAt });
      }
    }
    return next;
  }

  /** Entries from most to least recently used; expired ones are dropped first. */
  *entries(): IterableIterator<CacheEntry> {
    this.#lru.purgeStale();
    yield* this.#lru.values();
  }

  stats(): ResultCacheStats {
    this.#lru.purgeStale();
    return {
      enabled: this.#settings.enabled,
      entries: this.#lru.size,
      maxEntries: this.#settings.maxEntries,
      bytes: this.#lru.calculatedSize,
      maxBytes: this.#settings.maxBytes,
      peakBytes: this.#peakBytes,
      evictions: this.#evictions,
      expirations: this.#expirations,
    };
  }

  resetStats(): void {
    this.#peakBytes = this.#lru.calculatedSize;
    this.#evictions = 0;
    this.#expirations = 0;
  }

  #createLru(settings: CacheSettings): LRUCache<string, CacheEntry> {
    return new LRUCache<string, CacheEntry>({
      max: settings.maxEntries,
      maxSize: settings.maxBytes,
      ttl: settings.defaultTtlSeconds * 1000,
      // Staleness is checked against the injected clock on every read, never a cached reading.
      ttlResolution: 0,
      perf: { now: this.#now },
      dispose: (entry, _key, reason) => {
        const expired = entry.expiresAt !== undefined && entry.expiresAt < this.#now();
        if (reason === 'expire' || (reason === 'evict' && expired)) this.#expirations++;
        else if (reason === 'evict') this.#evictions++;
      },
    });
  }
}

function checkSettings(settings: CacheSettings): CacheSettings {
  const { enabled, maxEntries, maxBytes, defaultTtlSeconds } = settings;
  if (typeof enabled !== 'boolean') throw new TypeError(`enabled must be a boolean, got ${String(enabled)}`);
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new TypeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  }
  if (!Number.isSafeInteger(defaultTtlSeconds) || defaultTtlSeconds < 0) {
    throw new TypeError(`defaultTtlSeconds must be a non-negative integer, got ${defaultTtlSeconds}`);
  }
  return Object.freeze({ enabled, maxEntries, maxBytes, defaultTtlSeconds });
}
