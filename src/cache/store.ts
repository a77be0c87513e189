import type { EventEmitter } from 'node:events';
import type { EntryPage, ListOptions } from './entry-listing.js';
import type { CacheSettings } from './settings.js';
import type { ChatMessage } from '../generation/generator.js';

/**
 * The storage seam: what the generation service and the admin surface need of a result cache.
 * The in-memory LRU (`MemoryStore`) implements it; a shared tier is a second implementation.
 * Methods may answer synchronously or with a promise: the in-memory store always answers at once,
 * so that a cache hit costs no promise.
 */

export type MaybePromise<T> = T | Promise<T>;

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
  /** Tokens the generation spent, when its generator reported them; absent otherwise. */
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  /** The messages of a chat that is not one USER message; absent for a prompt. */
  readonly messages?: readonly ChatMessage[];
}

export interface CacheEntry {
  readonly record: GenerationRecord;
  /** Set on an entry a lookup found in the shared tier rather than in this process. */
  readonly shared?: true;
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

/** An event of one of the instances sharing a cache, and which. */
export type InstanceCacheEvent = CacheEvent & { readonly instance: string };

export interface CacheStoreEvents {
  event: [CacheEvent];
}

export interface CacheStoreStats {
  readonly enabled: boolean;
  readonly entries: number;
  readonly maxEntries: number;
  readonly bytes: number;
  readonly maxBytes: number;
  readonly peakBytes: number;
  /** Entries pushed out by a bound since the last reset. */
  readonly evictions: number;
  /** Entries whose TTL ran out since the last reset. */
  readonly expirations: number;
  /** Whether the shared tier answers; undefined when there is none. */
  readonly sharedTier?: boolean | undefined;
}

export interface ClearResult {
  readonly removed: number;
  readonly freedBytes: number;
  /** What the shared tier removed, when there is one. */
  readonly shared?: { readonly removed: number; readonly freedBytes: number } | undefined;
}

/** Entries to remove: those matching every filter given (any of `keys`, and `model`). */
export interface DeleteFilter {
  readonly keys?: readonly string[] | undefined;
  readonly model?: string | undefined;
}

export interface CacheStore {
  readonly settings: CacheSettings;
  /** Every change of the cache, as it happens. Listeners run synchronously: keep them cheap. */
  readonly events: EventEmitter<CacheStoreEvents>;
  /**
   * The entry of a key if the store holds it in this process, counted as a hit; undefined
   * otherwise (absent, expired, disabled, or held only by a remote tier), without counting
   * anything: `getMany` then has the last word. This is what lets a cache hit be answered
   * synchronously, without a promise or a batch.
   */
  getNow(key: string): CacheEntry | undefined;
  /** The entries of the keys, in order, each counted as a hit; undefined for a key absent, expired, or when disabled. */
  getMany(keys: readonly string[]): MaybePromise<(CacheEntry | undefined)[]>;
  /** The entry of a key without counting a hit or touching its recency. */
  peek(key: string): MaybePromise<CacheEntry | undefined>;
  /**
   * Stores a record for `ttlSeconds` (default: the configured TTL; 0: no expiry). Resolves the
   * entry, or undefined when the cache is disabled or the record alone exceeds `maxBytes`.
   */
  set(record: GenerationRecord, ttlSeconds?: number): MaybePromise<CacheEntry | undefined>;
  /** Removes the entries matching the filter; without a filter, nothing. */
  delete(filter: DeleteFilter): MaybePromise<ClearResult>;
  clear(): MaybePromise<ClearResult>;
  /** Applies new settings at once; throws a `TypeError` naming each invalid one, changing nothing. */
  configure(update: Partial<CacheSettings>): MaybePromise<CacheSettings>;
  /** A page of entries in an order. Throws a `TypeError` for a cursor it did not make. */
  list(options: ListOptions): MaybePromise<EntryPage>;
  /** A snapshot of the statistics; cheap, never a walk of the entries. */
  stats(): CacheStoreStats;
  /** Starts evictions, expirations and the peak again from now. */
  resetStats(): void;
}
