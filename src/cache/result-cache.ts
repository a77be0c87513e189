import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import { MAX_CACHE_ENTRIES, MAX_CACHE_BYTES, MAX_TTL_SECONDS, type CacheSettings } from '../config.js';

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

/** Which bound pushed an entry out. */
export type EvictionBound = 'maxEntries' | 'maxBytes';

/**
 * What happened in the cache. SET: stored; EVICT: pushed out by a bound; EXPIRE: TTL ran out;
 * DELETE: removed on request; CLEAR: all removed; CONFIG: settings changed.
 */
export type CacheEvent =
  | { readonly type: 'SET'; readonly at: number; readonly key: string; readonly model: string; readonly bytes: number }
  | {
      readonly type: 'EVICT';
      readonly at: number;
      readonly key: string;
      readonly model: string;
      readonly bytes: number;
      readonly reason: EvictionBound;
    }
  | { readonly type: 'EXPIRE' | 'DELETE'; readonly at: number; readonly key: string; readonly model: string; readonly bytes: number }
  | { readonly type: 'CLEAR'; readonly at: number; readonly removed: number; readonly bytes: number; readonly reason: string }
  | { readonly type: 'CONFIG'; readonly at: number; readonly settings: CacheSettings };

export interface ResultCacheEvents {
  event: [CacheEvent];
}

/** Counts since the cache was created; they never go back, so metrics can export them as counters. */
export interface ResultCacheTotals {
  readonly evictions: { readonly maxEntries: number; readonly maxBytes: number };
  readonly expirations: number;
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
  /** Every change of the cache, as it happens. Listeners run synchronously: keep them cheap. */
  readonly events = new EventEmitter<ResultCacheEvents>();
  readonly #now: () => number;
  #settings: CacheSettings;
  #lru: LRUCache<string, CacheEntry>;
  #peakBytes = 0;
  #totals = { evictions: { maxEntries: 0, maxBytes: 0 }, expirations: 0 };
  /** Totals at the last reset: statistics are the difference. */
  #baseline = { evictions: 0, expirations: 0 };
  /** Set while `clear` runs, so that its removals make one CLEAR event rather than one each. */
  #clearing = false;
  /** Set while an insert into a full cache is about to evict for the entry bound. */
  #entryBoundEvictionDue = false;

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
    this.#insert(record.key, entry, { size: bytes, ttl });
    this.#peakBytes = Math.max(this.#peakBytes, this.#lru.calculatedSize);
    this.#emit({ type: 'SET', at: storedAt, key: record.key, model: record.model, bytes });
    return entry;
  }

  /**
   * Removes the entries that match every given filter: `keys` (any of them) and `model`. Without
   * a filter it removes nothing; use `clear` to remove everything.
   */
  delete(filter: { readonly keys?: readonly string[]; readonly model?: string }): ClearResult {
    const { keys, model } = filter;
    if (keys === undefined && model === undefined) return { removed: 0, freedBytes: 0 };
    const candidates = keys ?? [...this.#lru.keys()];
    let removed = 0;
    let freedBytes = 0;
    for (const key of candidates) {
      const entry = this.#lru.peek(key);
      if (entry === undefined || (model !== undefined && entry.record.model !== model)) continue;
      this.#lru.delete(key);
      removed++;
      freedBytes += entry.bytes;
    }
    return { removed, freedBytes };
  }

  clear(reason = 'cleared'): ClearResult {
    this.#lru.purgeStale();
    const result = { removed: this.#lru.size, freedBytes: this.#lru.calculatedSize };
    this.#clearing = true;
    try {
      this.#lru.clear();
    } finally {
      this.#clearing = false;
    }
    this.#emit({ type: 'CLEAR', at: this.#now(), removed: result.removed, bytes: result.freedBytes, reason });
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
      if (this.#lru.size > 0) this.clear('disabled');
    } else if (next.maxEntries !== current.maxEntries || next.maxBytes !== current.maxBytes) {
      // lru-cache bounds are fixed at construction: move the live entries, least recent first,
      // into a cache with the new bounds, which evicts from the least recent end while over them.
      const previous = this.#lru;
      previous.purgeStale();
      this.#lru = this.#createLru(next);
      for (const [key, { value: entry }] of previous.dump()) {
        const ttl = entry.expiresAt === undefined ? 0 : entry.expiresAt - entry.storedAt;
        this.#insert(key, entry, { size: entry.bytes, ttl, start: entry.storedAt });
      }
    }
    this.#emit({ type: 'CONFIG', at: this.#now(), settings: next });
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
      evictions: evictions(this.#totals) - this.#baseline.evictions,
      expirations: this.#totals.expirations - this.#baseline.expirations,
    };
  }

  /** Counts since creation, unaffected by `resetStats`. */
  totals(): ResultCacheTotals {
    this.#lru.purgeStale();
    return { evictions: { ...this.#totals.evictions }, expirations: this.#totals.expirations };
  }

  resetStats(): void {
    this.#peakBytes = this.#lru.calculatedSize;
    this.#baseline = { evictions: evictions(this.#totals), expirations: this.#totals.expirations };
  }

  /**
   * lru-cache makes room for a new key in a full cache by evicting one entry for the entry bound,
   * and then evicts while over the byte bound: which bound an eviction is for is told here.
   */
  #insert(key: string, entry: CacheEntry, options: LRUCache.SetOptions<string, CacheEntry, unknown>): void {
    this.#entryBoundEvictionDue = this.#lru.info(key) === undefined && this.#lru.size >= this.#lru.max;
    try {
      this.#lru.set(key, entry, options);
    } finally {
      this.#entryBoundEvictionDue = false;
    }
  }

  #emit(event: CacheEvent): void {
    if (this.events.listenerCount('event') > 0) this.events.emit('event', event);
  }

  #createLru(settings: CacheSettings): LRUCache<string, CacheEntry> {
    return new LRUCache<string, CacheEntry>({
      max: settings.maxEntries,
      maxSize: settings.maxBytes,
      ttl: settings.defaultTtlSeconds * 1000,
      // Staleness is checked against the injected clock on every read, never a cached reading.
      ttlResolution: 0,
      perf: { now: this.#now },
      dispose: (entry, key, reason) => {
        if (reason === 'set' || this.#clearing) return;
        const at = this.#now();
        const about = { at, key, model: entry.record.model, bytes: entry.bytes };
        const expired = entry.expiresAt !== undefined && entry.expiresAt < at;
        const bound: EvictionBound = this.#entryBoundEvictionDue ? 'maxEntries' : 'maxBytes';
        if (reason === 'evict') this.#entryBoundEvictionDue = false;
        if (reason === 'expire' || (reason === 'evict' && expired)) {
          this.#totals.expirations++;
          this.#emit({ type: 'EXPIRE', ...about });
        } else if (reason === 'evict') {
          this.#totals.evictions[bound]++;
          this.#emit({ type: 'EVICT', ...about, reason: bound });
        } else {
          this.#emit({ type: 'DELETE', ...about });
        }
      },
    });
  }
}

const evictions = (totals: ResultCacheTotals): number => totals.evictions.maxEntries + totals.evictions.maxBytes;

/** Checks every setting; throws a `TypeError` naming each invalid one, in one message. */
function checkSettings(settings: CacheSettings): CacheSettings {
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
