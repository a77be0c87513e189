import { GencacheError } from '../errors.js';
import { listEntries, storingOrder, type EntryPage, type ListOptions } from './entry-listing.js';
import type { MemoryStore } from './memory-store.js';
import type { CacheSettings } from './settings.js';
import type { CacheEntry, CacheStore, CacheStoreStats, ClearResult, DeleteFilter, GenerationRecord, MaybePromise } from './store.js';

/**
 * Two tiers behind the storage seam: this process's LRU (L1) in front of a tier that every
 * instance shares (L2, Redis). A lookup reads L1, then the keys L1 lacks from L2 in one call, and
 * fills L1 with what L2 had; a store writes both. L2 is best effort: a shared tier that is down or
 * slow answers nothing and stores nothing (its own methods never reject), and the cache is L1.
 */

/** A record as the shared tier holds it. Times are epoch milliseconds. */
export interface SharedEntry {
  readonly record: GenerationRecord;
  readonly bytes: number;
  readonly storedAt: number;
  readonly expiresAt: number | undefined;
}

/** What the tiered store needs of a shared tier. No method rejects: a failure is an empty answer. */
export interface SharedTier {
  /** Whether it answers now. */
  readonly up: boolean;
  /** The entries of the keys, in order; undefined where absent, or for all when the tier fails. */
  getMany(keys: readonly string[]): Promise<(SharedEntry | undefined)[]>;
  /** Stores an entry until its `expiresAt` (none: no expiry); false when the tier failed. */
  set(entry: SharedEntry): Promise<boolean>;
  /** Removes the entries matching the filter (keys, model); without a filter, nothing. */
  delete(filter: DeleteFilter): Promise<{ removed: number; freedBytes: number }>;
  /** Removes every entry of this cache's namespace. */
  clear(): Promise<{ removed: number; freedBytes: number }>;
  /** Every entry, walking the whole tier; undefined when the tier fails. */
  entries(): Promise<SharedEntry[] | undefined>;
}

/** A change an administrator made, which the other instances make to their own local tier. */
export type CacheChange =
  | { readonly kind: 'clear' }
  | { readonly kind: 'delete'; readonly filter: DeleteFilter }
  | { readonly kind: 'configure'; readonly settings: CacheSettings };

export interface TieredStoreOptions {
  /** Tells the other instances of a change made here. @default nobody */
  readonly announce?: (change: CacheChange) => void;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

export class TieredStore implements CacheStore {
  readonly #local: MemoryStore;
  readonly #shared: SharedTier;
  readonly #announce: (change: CacheChange) => void;
  readonly #now: () => number;

  constructor(local: MemoryStore, shared: SharedTier, { announce = () => undefined, now = Date.now }: TieredStoreOptions = {}) {
    this.#local = local;
    this.#shared = shared;
    this.#announce = announce;
    this.#now = now;
  }

  get settings(): CacheSettings {
    return this.#local.settings;
  }

  get events(): MemoryStore['events'] {
    return this.#local.events;
  }

  /** The local tier alone: the shared tier never answers synchronously. */
  getNow(key: string): CacheEntry | undefined {
    return this.#local.getNow(key);
  }

  getMany(keys: readonly string[]): MaybePromise<(CacheEntry | undefined)[]> {
    const found = this.#local.getMany(keys);
    if (!this.#local.settings.enabled || !this.#shared.up) return found;
    const missing: number[] = [];
    found.forEach((entry, index) => entry === undefined && missing.push(index));
    if (missing.length === 0) return found;
    return this.#shared.getMany(missing.map((index) => keys[index]!)).then((shared) => {
      shared.forEach((entry, position) => {
        if (entry !== undefined) found[missing[position]!] = this.#fill(entry);
      });
      return found;
    });
  }

  async peek(key: string): Promise<CacheEntry | undefined> {
    const local = this.#local.peek(key);
    if (local !== undefined || !this.#local.settings.enabled || !this.#shared.up) return local;
    const [shared] = await this.#shared.getMany([key]);
    return shared === undefined ? undefined : { ...shared, hits: 0, lastAccessedAt: shared.storedAt, shared: true };
  }

  /** Stores in both tiers; the shared one only what the local one's byte bound would take. */
  async set(record: GenerationRecord, ttlSeconds?: number): Promise<CacheEntry | undefined> {
    const entry = this.#local.set(record, ttlSeconds);
    if (entry !== undefined) await this.#shared.set(entry);
    return entry;
  }

  async delete(filter: DeleteFilter): Promise<ClearResult> {
    const local = this.#local.delete(filter);
    const shared = await this.#shared.delete(filter);
    this.#announce({ kind: 'delete', filter });
    return { ...local, shared };
  }

  async clear(): Promise<ClearResult> {
    const local = this.#local.clear();
    const shared = await this.#shared.clear();
    this.#announce({ kind: 'clear' });
    return { ...local, shared };
  }

  /** Applies new settings here, and has the other instances apply them. */
  configure(update: Partial<CacheSettings>): CacheSettings {
    const settings = this.#local.configure(update);
    this.#announce({ kind: 'configure', settings });
    return settings;
  }

  /** A change another instance announced, made to the local tier (the shared one has it already). */
  applyPeerChange(change: CacheChange): void {
    switch (change.kind) {
      case 'clear':
        this.#local.clear('cleared on another instance');
        break;
      case 'delete':
        this.#local.delete(change.filter);
        break;
      case 'configure':
        this.#local.configure(change.settings);
        break;
    }
  }

  /**
   * A page of the local tier's entries, or of the shared tier's (a walk of all of them, in the
   * order they were stored: the shared tier keeps no recency). Throws a `TypeError` for a cursor
   * it did not make, and SHARED_TIER_UNAVAILABLE when the shared tier does not answer.
   */
  async list(options: ListOptions): Promise<EntryPage> {
    if (options.tier !== 'SHARED') return this.#local.list(options);
    const shared = await this.#shared.entries();
    if (shared === undefined) throw new GencacheError('SHARED_TIER_UNAVAILABLE', 'the shared tier (Redis) does not answer; try again, or list this instance\'s cache');
    return listEntries(storingOrder(shared.map((entry) => ({ ...entry, hits: 0, lastAccessedAt: entry.storedAt }))), options);
  }

  stats(): CacheStoreStats {
    return { ...this.#local.stats(), sharedTier: this.#shared.up };
  }

  resetStats(): void {
    this.#local.resetStats();
  }

  /**
   * A shared entry put into the local tier for the rest of its life, marked as found in the
   * shared tier; undefined when its life is over (the shared tier's clock may run behind).
   */
  #fill(shared: SharedEntry): CacheEntry | undefined {
    const left = shared.expiresAt === undefined ? 0 : shared.expiresAt - this.#now();
    if (shared.expiresAt !== undefined && left <= 0) return undefined;
    const local = this.#local.set(shared.record, left / 1000);
    return { ...(local ?? { ...shared, hits: 0, lastAccessedAt: shared.storedAt }), shared: true };
  }
}
