import type { CacheEntry } from './store.js';

/**
 * Pages through cache entries in a stable order. A cursor names a position in that order (the
 * sort value and the key of the last entry seen), not an offset, so entries that come and go
 * between pages neither repeat nor skip the entries that stay.
 *
 * The recency orders are the store's own LRU order, not a sort by `lastAccessedAt`: entries used
 * in the same millisecond have one access time but distinct places in the LRU, and
 * `LEAST_RECENT` must list exactly the order of eviction. Their sort value is the entry's use
 * stamp (`EntrySource.lastUse`), which orders the entries as the LRU does and, unlike an index in
 * the LRU, does not move when other entries are used: a cursor stays a valid position however the
 * entries are touched between pages. An entry used since the cursor was made has a newer stamp and
 * so a new place: after the cursor in `LEAST_RECENT` (it is listed again, where the LRU now has
 * it), before it in `MOST_RECENT` (it is not).
 */

export type EntryOrder = 'MOST_RECENT' | 'LEAST_RECENT' | 'LARGEST' | 'MOST_HITS';

export interface ListOptions {
  /** The tier to list: this process's cache, or the one the instances share. @default 'LOCAL' */
  readonly tier?: 'LOCAL' | 'SHARED' | undefined;
  readonly first: number;
  readonly after?: string | undefined;
  readonly orderBy: EntryOrder;
  readonly model?: string | undefined;
}

export interface EntryPage {
  readonly items: readonly { readonly entry: CacheEntry; readonly cursor: string }[];
  readonly hasNextPage: boolean;
  readonly hasPreviousPage: boolean;
  /** Entries that match the filter, on every page. */
  readonly totalCount: number;
}

/** The entries of a store, as its LRU orders them, with what a cursor needs to name a place there. */
export interface EntrySource {
  /** The entries from most to least recently used. */
  mostRecentFirst(): Iterable<CacheEntry>;
  /** The entries from least to most recently used: the order of eviction. */
  leastRecentFirst(): Iterable<CacheEntry>;
  /**
   * The entry's use stamp: a number given at its last set or lookup, greater than every stamp
   * given before. It must strictly increase along `leastRecentFirst`, and an entry's stamp may
   * change only when it moves to the most recent place.
   */
  lastUse(entry: CacheEntry): number;
}

type Position = readonly [value: number, key: string];

interface Positioned {
  readonly entry: CacheEntry;
  readonly position: Position;
}

const SORT_VALUE: Record<'LARGEST' | 'MOST_HITS', (entry: CacheEntry) => number> = {
  LARGEST: (entry) => -entry.bytes,
  MOST_HITS: (entry) => -entry.hits,
};

/**
 * A source of entries that have no recency of their own (the shared tier's): the recency orders
 * are those of storing, the latest stored taken as the most recently used.
 */
export function storingOrder(entries: readonly CacheEntry[]): EntrySource {
  const ordered = [...entries].sort((a, b) => a.storedAt - b.storedAt || (a.record.key < b.record.key ? -1 : a.record.key > b.record.key ? 1 : 0));
  // Strictly increasing along the order, ties of storedAt apart by their place.
  const stamps = new Map(ordered.map((entry, index) => [entry, entry.storedAt + index / (ordered.length + 1)]));
  return {
    mostRecentFirst: () => ordered.toReversed(),
    leastRecentFirst: () => ordered,
    lastUse: (entry) => stamps.get(entry)!,
  };
}

/** Ascending by value, then by key, so that ties have one order too. */
const compare = (a: Position, b: Position): number => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);

export const encodeCursor = (position: Position): string => Buffer.from(JSON.stringify(position)).toString('base64url');

/** The position a cursor names; throws a `TypeError` when it is not one this module made. */
export function decodeCursor(cursor: string): Position {
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    position = undefined;
  }
  if (!Array.isArray(position) || position.length !== 2 || typeof position[0] !== 'number' || typeof position[1] !== 'string') {
    throw new TypeError(`not a cursor of this listing: ${JSON.stringify(cursor)}`);
  }
  return [position[0], position[1]];
}

/**
 * A page of the source's entries in `options.orderBy`. The recency orders walk the LRU once
 * (O(n), no sort); the other orders sort the matching entries (O(n log n)).
 */
export function listEntries(source: EntrySource, options: ListOptions): EntryPage {
  const after = options.after === undefined ? undefined : decodeCursor(options.after);
  const matches = (entry: CacheEntry): boolean => options.model === undefined || entry.record.model === options.model;
  const { orderBy } = options;
  let ordered: Iterable<Positioned>;
  if (orderBy === 'LEAST_RECENT' || orderBy === 'MOST_RECENT') {
    ordered = inRecencyOrder(source, orderBy, matches);
  } else {
    const sortValue = SORT_VALUE[orderBy];
    const positioned: Positioned[] = [];
    for (const entry of source.mostRecentFirst()) {
      if (matches(entry)) positioned.push({ entry, position: [sortValue(entry), entry.record.key] });
    }
    ordered = positioned.sort((a, b) => compare(a.position, b.position));
  }
  return pageOf(ordered, after, options.first);
}

/** Ascending positions: the use stamp for `LEAST_RECENT`, its negation for `MOST_RECENT`. */
function* inRecencyOrder(
  source: EntrySource,
  orderBy: 'LEAST_RECENT' | 'MOST_RECENT',
  matches: (entry: CacheEntry) => boolean,
): Generator<Positioned> {
  const leastRecentFirst = orderBy === 'LEAST_RECENT';
  for (const entry of leastRecentFirst ? source.leastRecentFirst() : source.mostRecentFirst()) {
    if (!matches(entry)) continue;
    const use = source.lastUse(entry);
    yield { entry, position: [leastRecentFirst ? use : -use, entry.record.key] };
  }
}

/** One pass over entries in ascending position: those at or before `after` are skipped, not listed. */
function pageOf(ordered: Iterable<Positioned>, after: Position | undefined, first: number): EntryPage {
  const items: { entry: CacheEntry; cursor: string }[] = [];
  let skipped = 0;
  let totalCount = 0;
  for (const { entry, position } of ordered) {
    totalCount++;
    if (after !== undefined && compare(position, after) <= 0) skipped++;
    else if (items.length < first) items.push({ entry, cursor: encodeCursor(position) });
  }
  return {
    items,
    hasNextPage: skipped + items.length < totalCount,
    hasPreviousPage: skipped > 0,
    totalCount,
  };
}
