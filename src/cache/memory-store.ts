import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import { listEntries, type EntryPage, type EntrySource, type ListOptions } from './entry-listing.js';
import { checkCacheSettings, type CacheSettings } from './settings.js';
import type {
  CacheEntry,
  CacheEvent,
  CacheStore,
  CacheStoreEvents,
  CacheStoreStats,
  ClearResult,
  DeleteFilter,
  EvictionBound,
  GenerationRecord,
} from './store.js';

/**
 * The in-memory result cache: an `lru-cache` bounded by entries (`max`) and by the UTF-8 bytes of
 * the stored records (`maxSize`), with a default TTL that a request may override. It answers every
 * call of the storage seam synchronously.
 *
 * Invariants: after every `set` and every `configure`, `entries <= maxEntries` and
 * `bytes <= maxBytes`; a record larger than `maxBytes` is never stored and evicts nothing;
 * `evictions` counts entries pushed out by a bound, `expirations` entries whose TTL ran out.
 * Statistics are read from lru-cache's own counts; expired entries are purged before a reading
 * only once the earliest expiry has passed, so a reading walks the entries at most once per
 * expiry, never on every call.
 *
 * Every set, every hit and every restored entry gives the entry a use stamp, one more than the last
 * given: the stamps strictly increase from the least to the most recently used entry, because
 * those are exactly the calls that move an entry to lru-cache's most recent place (a peek, a listing or a move into a
 * cache with new bounds, which keeps the order, leave both alone). The listing names positions in
 * the recency orders by these stamps; at a million uses a second they stay exact integers for
 * centuries.
 */

export interface MemoryStoreOptions extends CacheSettings {
  /** Clock in epoch milliseconds, for TTLs and entry times. @default Date.now */
  readonly now?: () => number;
}

/** An entry as a snapshot keeps it: everything but its size, which the store measures again. */
export type RestoredEntry = Omit<CacheEntry, 'bytes' | 'shared'>;

export interface RestoreResult {
  /** Entries now held. */
  readonly restored: number;
  /** Entries whose TTL had run out. */
  readonly expired: number;
  /** Entries left out: older than those that filled the bounds, larger than `maxBytes` alone, a key given again, or all when the cache is off. */
  readonly dropped: number;
}

interface Totals {
  readonly evictions: { maxEntries: number; maxBytes: number };
  expirations: number;
}

export class MemoryStore implements CacheStore {
  /** Every change of the cache, as it happens. Listeners run synchronously: keep them cheap. */
  readonly events = new EventEmitter<CacheStoreEvents>();
  readonly #now: () => number;
  #settings: CacheSettings;
  #lru: LRUCache<string, CacheEntry>;
  #peakBytes = 0;
  #totals: Totals = { evictions: { maxEntries: 0, maxBytes: 0 }, expirations: 0 };
  /** The earliest instant an entry may expire; Infinity when none can. */
  #nextExpiry = Infinity;
  /** Totals at the last reset: statistics are the difference. */
  #baseline = { evictions: 0, expirations: 0 };
  /** Set while `clear` runs, so that its removals make one CLEAR event rather than one each. */
  #clearing = false;
  /** Set while an insert into a full cache is about to evict for the entry bound. */
  #entryBoundEvictionDue = false;
  /** The use stamp of each entry held; kept beside the entries so that their shape stays the seam's. */
  readonly #lastUse = new WeakMap<CacheEntry, number>();
  #lastUseGiven = 0;
  /** What the listing reads: the LRU's own order, walked without touching recency. */
  readonly #listingSource: EntrySource = {
    mostRecentFirst: () => this.#lru.values(),
    leastRecentFirst: () => definedOnly(this.#lru.rvalues()),
    lastUse: (entry) => {
      const use = this.#lastUse.get(entry);
      if (use === undefined) throw new Error(`cache entry ${JSON.stringify(entry.record.key)} is held without a use stamp`);
      return use;
    },
  };

  constructor(options: MemoryStoreOptions) {
    // Every `cacheEvents` subscriber listens, besides metrics and logs: many listeners are the
    // design, not a leak, and Node's warning past ten would be a stray non-JSON log line.
    this.events.setMaxListeners(0);
    this.#now = options.now ?? Date.now;
    this.#settings = checkCacheSettings({
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
      this.#lastUse.set(entry, ++this.#lastUseGiven);
    }
    return entry;
  }

  getNow(key: string): CacheEntry | undefined {
    return this.get(key);
  }

  getMany(keys: readonly string[]): (CacheEntry | undefined)[] {
    return keys.map((key) => this.get(key));
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
    this.#lastUse.set(entry, ++this.#lastUseGiven);
    if (entry.expiresAt !== undefined && entry.expiresAt < this.#nextExpiry) this.#nextExpiry = entry.expiresAt;
    this.#peakBytes = Math.max(this.#peakBytes, this.#lru.calculatedSize);
    this.#emit({ type: 'SET', at: storedAt, key: record.key, model: record.model, bytes });
    return entry;
  }

  /**
   * Removes the entries that match every given filter: `keys` (any of them) and `model`. Without
   * a filter it removes nothing; use `clear` to remove everything.
   */
  delete(filter: DeleteFilter): ClearResult {
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
    this.#purgeExpired();
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
  configure(update: Partial<CacheSettings>): CacheSettings {
    const next = checkCacheSettings({ ...this.#settings, ...update });
    this.#settings = next;
    if (!next.enabled) {
      if (this.#lru.size > 0) this.clear('disabled');
    } else if (next.maxEntries !== this.#lru.max || next.maxBytes !== this.#lru.maxSize) {
      // Against the bounds in force, not the old settings: bounds changed while the cache was off
      // apply when it is turned on. lru-cache's bounds are fixed at construction: evict the least
      // recent while over a new bound (inserting into a smaller cache would drop a record larger
      // than the new maxBytes without an EVICT), then move the rest, least recent first, into a
      // cache with the new bounds.
      this.#purgeExpired();
      while (this.#lru.size > next.maxEntries) {
        this.#entryBoundEvictionDue = true;
        this.#lru.pop();
      }
      while (this.#lru.calculatedSize > next.maxBytes) this.#lru.pop();
      const previous = this.#lru;
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
    this.#purgeExpired();
    yield* this.#lru.values();
  }

  /** Entries from least to most recently used, the order of eviction; expired ones are dropped first. */
  *leastRecentFirst(): IterableIterator<CacheEntry> {
    this.#purgeExpired();
    yield* definedOnly(this.#lru.rvalues());
  }

  /**
   * Puts back, into an empty store, entries that a store held before (a snapshot), given from
   * least to most recently used. Each keeps its record, times and hit count, and they keep their
   * order. What is held is what setting them one by one would leave, without its events: the
   * expired ones are skipped, a record larger than `maxBytes` alone is skipped, and of the rest
   * the most recent that fit both bounds are kept.
   *
   * A restore is not a change of the cache that anyone made: it emits no event (no SET for
   * `cacheEvents` subscribers and metrics), counts no eviction or expiry for what it leaves out,
   * and no lookup; the bytes it restores count towards `peakBytes`. Throws an `Error` when the
   * store holds entries already, whose places among the restored ones would be a guess.
   */
  restore(entries: Iterable<RestoredEntry>): RestoreResult {
    if (this.#lru.size > 0) throw new Error(`restore needs an empty cache; entries held: ${this.#lru.size}`);
    const given = [...entries];
    if (!this.#settings.enabled) return { restored: 0, expired: 0, dropped: given.length };
    const now = this.#now();
    // Served up to and including `expiresAt`, as lru-cache serves them.
    const live = given.filter((entry) => entry.expiresAt === undefined || entry.expiresAt >= now);
    const { maxEntries, maxBytes } = this.#settings;
    const kept: CacheEntry[] = [];
    const keys = new Set<string>();
    let bytes = 0;
    // From the most recent down, as an LRU would keep them: stop at the first that does not fit.
    for (let index = live.length - 1; index >= 0 && kept.length < maxEntries; index--) {
      const { record, storedAt, expiresAt, hits, lastAccessedAt } = live[index]!;
      if (keys.has(record.key)) continue;
      const size = Buffer.byteLength(JSON.stringify(record));
      if (size > maxBytes) continue;
      if (bytes + size > maxBytes) break;
      keys.add(record.key);
      bytes += size;
      kept.push({ record, bytes: size, storedAt, expiresAt, hits, lastAccessedAt });
    }
    for (let index = kept.length - 1; index >= 0; index--) {
      const entry = kept[index]!;
      const ttl = entry.expiresAt === undefined ? 0 : entry.expiresAt - entry.storedAt;
      this.#insert(entry.record.key, entry, { size: entry.bytes, ttl, start: entry.storedAt });
      this.#lastUse.set(entry, ++this.#lastUseGiven);
      if (entry.expiresAt !== undefined && entry.expiresAt < this.#nextExpiry) this.#nextExpiry = entry.expiresAt;
    }
    this.#peakBytes = Math.max(this.#peakBytes, this.#lru.calculatedSize);
    return { restored: kept.length, expired: given.length - live.length, dropped: live.length - kept.length };
  }

  /** A page of entries; the recency orders are the LRU's, `LEAST_RECENT` the order of eviction. */
  list(options: ListOptions): EntryPage {
    this.#purgeExpired();
    return listEntries(this.#listingSource, options);
  }

  stats(): CacheStoreStats {
    if (this.#now() > this.#nextExpiry) this.#purgeExpired();
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

  resetStats(): void {
    this.#peakBytes = this.#lru.calculatedSize;
    this.#baseline = { evictions: evictions(this.#totals), expirations: this.#totals.expirations };
  }

  /** Drops the expired entries (each an EXPIRE) and finds the next expiry among those left. */
  #purgeExpired(): void {
    this.#lru.purgeStale();
    let next = Infinity;
    for (const entry of this.#lru.values()) {
      if (entry.expiresAt !== undefined && entry.expiresAt < next) next = entry.expiresAt;
    }
    this.#nextExpiry = next;
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

const evictions = (totals: Totals): number => totals.evictions.maxEntries + totals.evictions.maxBytes;

/** lru-cache types `rvalues` as yielding `V | undefined` but yields only values held. */
function* definedOnly<T>(values: Iterable<T | undefined>): Generator<T> {
  for (const value of values) if (value !== undefined) yield value;
}
