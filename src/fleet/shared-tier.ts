import type { SharedEntry, SharedTier } from '../cache/tiered-store.js';
import type { DeleteFilter } from '../cache/store.js';
import type { RedisLink } from './redis-link.js';

/** Names the record format's version: a new format takes a new namespace and never reads the old. */
export const DEFAULT_CACHE_NAMESPACE = 'gencache:v1:';

/** Keys a SCAN step asks for, and a batch of MGET or UNLINK when walking the namespace. */
const SCAN_COUNT = 500;

/**
 * The shared tier in Redis: each entry a string key under the cache's namespace (which names the
 * format's version, so that another format is never read), holding the entry as JSON and
 * expiring with it (PX). A batch is read with one MGET; the namespace is walked with SCAN, never
 * KEYS. Every failure counts on the link and answers empty.
 */
export class RedisSharedTier implements SharedTier {
  readonly #link: RedisLink;
  readonly #prefix: string;
  readonly #now: () => number;

  constructor(link: RedisLink, namespace: string, now: () => number = Date.now) {
    this.#link = link;
    this.#prefix = `${namespace}entry:`;
    this.#now = now;
  }

  get up(): boolean {
    return this.#link.up;
  }

  async getMany(keys: readonly string[]): Promise<(SharedEntry | undefined)[]> {
    try {
      const values = await this.#link.client.mget(keys.map((key) => this.#prefix + key));
      return values.map((value, index) => parseEntry(value, keys[index]!));
    } catch (error) {
      this.#link.failed(error);
      return keys.map(() => undefined);
    }
  }

  async set(entry: SharedEntry): Promise<boolean> {
    const value = JSON.stringify(entry);
    const redisKey = this.#prefix + entry.record.key;
    try {
      if (entry.expiresAt === undefined) {
        await this.#link.client.set(redisKey, value);
      } else {
        const left = entry.expiresAt - this.#now();
        if (left <= 0) return true;
        await this.#link.client.set(redisKey, value, 'PX', Math.ceil(left));
      }
      return true;
    } catch (error) {
      this.#link.failed(error);
      return false;
    }
  }

  async delete({ keys, model }: DeleteFilter): Promise<{ removed: number; freedBytes: number }> {
    if (keys === undefined && model === undefined) return { removed: 0, freedBytes: 0 };
    const matches = (entry: SharedEntry | undefined): entry is SharedEntry => entry !== undefined && (model === undefined || entry.record.model === model);
    if (keys !== undefined) return this.#remove(keys.map((key) => this.#prefix + key), matches);
    const { removed, freedBytes } = await this.#walk((batch) => this.#remove(batch, matches));
    return { removed, freedBytes };
  }

  async clear(): Promise<{ removed: number; freedBytes: number }> {
    const { removed, freedBytes } = await this.#walk((batch) => this.#remove(batch, (entry): entry is SharedEntry => entry !== undefined));
    return { removed, freedBytes };
  }

  async entries(): Promise<SharedEntry[] | undefined> {
    const found: SharedEntry[] = [];
    let failed = false;
    const { complete } = await this.#walk(async (batch) => {
      if (batch.length === 0) return { removed: 0, freedBytes: 0 };
      try {
        const values = await this.#link.client.mget(batch);
        values.forEach((value, index) => {
          const entry = parseEntry(value, batch[index]!.slice(this.#prefix.length));
          if (entry !== undefined) found.push(entry);
        });
      } catch (error) {
        this.#link.failed(error);
        failed = true;
      }
      return { removed: 0, freedBytes: 0 };
    });
    return failed || !complete ? undefined : found;
  }

  /** Removes those of the Redis keys whose entries match; what was removed. */
  async #remove(redisKeys: readonly string[], matches: (entry: SharedEntry | undefined) => entry is SharedEntry) {
    if (redisKeys.length === 0) return { removed: 0, freedBytes: 0 };
    try {
      const values = await this.#link.client.mget([...redisKeys]);
      const doomed: string[] = [];
      let freedBytes = 0;
      values.forEach((value, index) => {
        const redisKey = redisKeys[index]!;
        const entry = parseEntry(value, redisKey.slice(this.#prefix.length));
        if (!matches(entry)) return;
        doomed.push(redisKey);
        freedBytes += entry.bytes;
      });
      const removed = doomed.length === 0 ? 0 : await this.#link.client.unlink(...doomed);
      return { removed, freedBytes };
    } catch (error) {
      this.#link.failed(error);
      return { removed: 0, freedBytes: 0 };
    }
  }

  /** Applies `step` to each batch of the namespace's entry keys (SCAN), adding up what it removed. */
  async #walk(step: (batch: string[]) => Promise<{ removed: number; freedBytes: number }>) {
    const total = { removed: 0, freedBytes: 0, complete: true };
    try {
      for await (const batch of this.#link.client.scanStream({ match: `${escapeGlob(this.#prefix)}*`, count: SCAN_COUNT }) as AsyncIterable<string[]>) {
        const { removed, freedBytes } = await step(batch);
        total.removed += removed;
        total.freedBytes += freedBytes;
      }
    } catch (error) {
      this.#link.failed(error);
      total.complete = false;
    }
    return total;
  }
}

/** An entry as stored, or undefined for a value that is absent or not an entry of this key. */
function parseEntry(value: string | null, key: string): SharedEntry | undefined {
  if (value === null) return undefined;
  try {
    const entry = JSON.parse(value) as SharedEntry;
    return entry?.record?.key === key && typeof entry.bytes === 'number' ? entry : undefined;
  } catch {
    return undefined;
  }
}

/** A literal for a SCAN MATCH pattern. */
const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, '\\$&');
