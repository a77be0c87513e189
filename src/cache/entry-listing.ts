import type { CacheEntry } from './store.js';

/**
 * Pages through cache entries in a stable order. A cursor names a position in that order (the
 * sort value and the key of the last entry seen), not an offset, so entries that come and go
 * between pages neither repeat nor skip the entries that stay.
 */

export type EntryOrder = 'MOST_RECENT' | 'LEAST_RECENT' | 'LARGEST' | 'MOST_HITS';

export interface ListOptions {
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

type Position = readonly [value: number, key: string];

const SORT_VALUE: Record<EntryOrder, (entry: CacheEntry) => number> = {
  MOST_RECENT: (entry) => -entry.lastAccessedAt,
  LEAST_RECENT: (entry) => entry.lastAccessedAt,
  LARGEST: (entry) => -entry.bytes,
  MOST_HITS: (entry) => -entry.hits,
};

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

export function listEntries(entries: Iterable<CacheEntry>, options: ListOptions): EntryPage {
  const sortValue = SORT_VALUE[options.orderBy];
  const positioned: { entry: CacheEntry; position: Position }[] = [];
  for (const entry of entries) {
    if (options.model === undefined || entry.record.model === options.model) {
      positioned.push({ entry, position: [sortValue(entry), entry.record.key] });
    }
  }
  positioned.sort((a, b) => compare(a.position, b.position));

  let start = 0;
  if (options.after !== undefined) {
    const after = decodeCursor(options.after);
    while (start < positioned.length && compare(positioned[start]!.position, after) <= 0) start++;
  }
  const page = positioned.slice(start, start + options.first);
  return {
    items: page.map(({ entry, position }) => ({ entry, cursor: encodeCursor(position) })),
    hasNextPage: start + page.length < positioned.length,
    hasPreviousPage: start > 0,
    totalCount: positioned.length,
  };
}
