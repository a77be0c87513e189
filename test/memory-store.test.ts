import fc from 'fast-check';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { EntryOrder } from '../src/cache/entry-listing.js';
import { MemoryStore, type MemoryStoreOptions } from '../src/cache/memory-store.js';
import type { GenerationRecord } from '../src/cache/store.js';

// lru-cache treats a start time of 0 as "no start", so the clock never reads 0.
const START = 1_000_000;

const record = (key: string, output = '', extra: Partial<GenerationRecord> = {}): GenerationRecord => ({
  key,
  prompt: 'p',
  model: 'sim-1',
  parameters: { maxTokens: 64 },
  output,
  contentType: 'text/plain',
  createdAt: 0,
  generationMs: 0,
  ...extra,
});

const bytesOf = (value: GenerationRecord): number => Buffer.byteLength(JSON.stringify(value));

/** A record whose JSON is exactly `bytes` UTF-8 bytes long (ASCII output pads it). */
function recordOfSize(key: string, bytes: number): GenerationRecord {
  const padding = bytes - bytesOf(record(key));
  if (padding < 0) throw new RangeError(`a record keyed ${key} takes at least ${bytesOf(record(key))} bytes`);
  const sized = record(key, 'x'.repeat(padding));
  expect(bytesOf(sized)).toBe(bytes);
  return sized;
}

function setup(options: Partial<MemoryStoreOptions> = {}) {
  const clock = { now: START };
  const cache = new MemoryStore({
    enabled: true,
    maxEntries: 100,
    maxBytes: 1_000_000,
    defaultTtlSeconds: 0,
    now: () => clock.now,
    ...options,
  });
  const keys = (): string[] => [...cache.entries()].map((entry) => entry.record.key);
  return { cache, clock, keys };
}

describe('LRU order', () => {
  it('lists entries from most to least recently used', () => {
    const { cache, keys } = setup();
    for (const key of ['a', 'b', 'c']) cache.set(record(key));
    expect(keys()).toEqual(['c', 'b', 'a']);
    cache.get('a');
    expect(keys()).toEqual(['a', 'c', 'b']);
  });

  it('evicts the least recently used entry first after gets', () => {
    const { cache, keys } = setup({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) cache.set(record(key));
    cache.get('a');
    cache.get('b');
    cache.set(record('d'));
    expect(keys()).toEqual(['d', 'b', 'a']);
    expect(cache.get('c')).toBeUndefined();
    expect(cache.stats().evictions).toBe(1);
  });

  it('does not refresh recency on peek', () => {
    const { cache, keys } = setup({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) cache.set(record(key));
    cache.peek('a');
    cache.set(record('d'));
    expect(keys()).toEqual(['d', 'c', 'b']);
  });

  it('moves a key set again to the front without counting an eviction', () => {
    const { cache, keys } = setup({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) cache.set(record(key));
    cache.set(record('a', 'new'));
    expect(keys()).toEqual(['a', 'c', 'b']);
    expect(cache.peek('a')?.record.output).toBe('new');
    expect(cache.stats()).toMatchObject({ entries: 3, evictions: 0 });
  });
});

describe('listing in recency order', () => {
  const listed = (cache: MemoryStore, orderBy: EntryOrder, after?: string) =>
    cache.list({ first: 10, after, orderBy }).items.map((item) => item.entry.record.key);
  const cursorAfter = (cache: MemoryStore, orderBy: EntryOrder, first: number) => {
    const page = cache.list({ first, orderBy });
    return { keys: page.items.map((item) => item.entry.record.key), after: page.items.at(-1)!.cursor };
  };

  it('lists LEAST_RECENT in the order of eviction, also for entries used in the same millisecond', () => {
    // The clock stands still: every entry is stored and used at START.
    const { cache, keys } = setup({ maxEntries: 3 });
    for (const key of ['b', 'a', 'c']) cache.set(record(key));
    cache.get('b');

    expect(listed(cache, 'LEAST_RECENT')).toEqual(['a', 'c', 'b']);
    expect(listed(cache, 'MOST_RECENT')).toEqual(['b', 'c', 'a']);
    expect(keys()).toEqual(['b', 'c', 'a']);
    // Listing touched nothing: the first listed is the next evicted.
    cache.set(record('d'));
    expect(keys()).toEqual(['d', 'b', 'c']);
  });

  it('continues LEAST_RECENT from a cursor whose entry was used, with the used entries where the LRU now has them', () => {
    const { cache } = setup();
    for (const key of ['a', 'b', 'c', 'd', 'e']) cache.set(record(key));
    const first = cursorAfter(cache, 'LEAST_RECENT', 2);
    expect(first.keys).toEqual(['a', 'b']);

    cache.get('b');
    cache.delete({ keys: ['c'] });
    cache.set(record('f'));

    const second = cache.list({ first: 10, after: first.after, orderBy: 'LEAST_RECENT' });
    expect(second.items.map((item) => item.entry.record.key)).toEqual(['d', 'e', 'b', 'f']);
    expect(second).toMatchObject({ totalCount: 5, hasPreviousPage: true, hasNextPage: false });
  });

  it('continues MOST_RECENT from a cursor whose entry was used, without the entries used since', () => {
    const { cache } = setup();
    for (const key of ['a', 'b', 'c', 'd', 'e']) cache.set(record(key));
    const first = cursorAfter(cache, 'MOST_RECENT', 2);
    expect(first.keys).toEqual(['e', 'd']);

    cache.get('d');
    cache.get('b');
    cache.delete({ keys: ['c'] });
    cache.set(record('f'));

    expect(listed(cache, 'MOST_RECENT')).toEqual(['f', 'b', 'd', 'e', 'a']);
    // b moved ahead of the cursor by its use; a, unused, is not skipped.
    expect(listed(cache, 'MOST_RECENT', first.after)).toEqual(['a']);
  });

  it('keeps the order and the cursors across a change of bounds', () => {
    const { cache } = setup();
    for (const key of ['b', 'c', 'a']) cache.set(record(key));
    cache.get('b');
    const first = cursorAfter(cache, 'LEAST_RECENT', 1);

    cache.configure({ maxEntries: 50 });

    expect(first.keys).toEqual(['c']);
    expect(listed(cache, 'LEAST_RECENT', first.after)).toEqual(['a', 'b']);
  });

  it('refuses a cursor it did not make with a TypeError, even when empty', () => {
    const { cache } = setup();
    for (const orderBy of ['LEAST_RECENT', 'MOST_RECENT'] as const) {
      expect(() => cache.list({ first: 1, after: 'not-a-cursor', orderBy })).toThrow(TypeError);
    }
  });
});

describe('bounds', () => {
  it('measures an entry as the UTF-8 bytes of its record as JSON', () => {
    const { cache } = setup();
    const ascii = cache.set(record('a', 'e'.repeat(10)));
    const accented = cache.set(record('b', 'é'.repeat(10)));
    expect(accented?.bytes).toBe(bytesOf(record('b', 'é'.repeat(10))));
    // 'é' is one UTF-16 unit but two UTF-8 bytes.
    expect(accented!.bytes - ascii!.bytes).toBe(10);
    expect(cache.stats().bytes).toBe(ascii!.bytes + accented!.bytes);
  });

  it('holds both bounds and matches a reference LRU after every operation of a random sequence', () => {
    const operation = fc.oneof(
      {
        arbitrary: fc.record({
          kind: fc.constant('set' as const),
          key: fc.integer({ min: 0, max: 11 }),
          output: fc.string({ unit: 'grapheme', maxLength: 120 }),
        }),
        weight: 4,
      },
      { arbitrary: fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 11 }) }), weight: 1 },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 200, max: 1500 }),
        fc.array(operation, { minLength: 1, maxLength: 120 }),
        (maxEntries, maxBytes, operations) => {
          const { cache, keys } = setup({ maxEntries, maxBytes });
          // The reference: keys from most to least recently used, and their sizes.
          let order: string[] = [];
          const sizes = new Map<string, number>();
          let evictions = 0;
          const total = () => order.reduce((sum, key) => sum + (sizes.get(key) ?? 0), 0);

          for (const step of operations) {
            const key = `k${String(step.key).padStart(2, '0')}`;
            if (step.kind === 'get') {
              const hit = cache.get(key);
              expect(hit !== undefined).toBe(order.includes(key));
              if (hit !== undefined) order = [key, ...order.filter((other) => other !== key)];
            } else {
              const value = record(key, step.output);
              const bytes = bytesOf(value);
              const entry = cache.set(value);
              if (bytes > maxBytes) {
                expect(entry).toBeUndefined();
              } else {
                expect(entry?.bytes).toBe(bytes);
                order = [key, ...order.filter((other) => other !== key)];
                sizes.set(key, bytes);
                while (order.length > maxEntries || total() > maxBytes) {
                  order.pop();
                  evictions++;
                }
              }
            }

            const stats = cache.stats();
            const entries = [...cache.entries()];
            expect(stats.entries).toBeLessThanOrEqual(maxEntries);
            expect(stats.bytes).toBeLessThanOrEqual(maxBytes);
            expect(stats.entries).toBe(entries.length);
            expect(stats.bytes).toBe(entries.reduce((sum, each) => sum + each.bytes, 0));
            for (const each of entries) expect(each.bytes).toBe(bytesOf(each.record));
            expect(keys()).toEqual(order);
            expect(stats.evictions).toBe(evictions);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('counts the evictions the entry bound causes', () => {
    const { cache, keys } = setup({ maxEntries: 2 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) cache.set(record(key));
    expect(keys()).toEqual(['e', 'd']);
    expect(cache.stats()).toMatchObject({ entries: 2, evictions: 3, expirations: 0 });
  });

  it('counts the evictions the byte bound causes', () => {
    const { cache, keys } = setup({ maxBytes: 1000 });
    for (const key of ['a', 'b', 'c']) cache.set(recordOfSize(key, 300));
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 900, evictions: 0 });

    cache.set(recordOfSize('d', 300));
    expect(keys()).toEqual(['d', 'c', 'b']);
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 900, evictions: 1 });

    cache.set(recordOfSize('e', 700));
    expect(keys()).toEqual(['e', 'd']);
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 1000, evictions: 3 });
  });

  it('tells the bound of each eviction when one insert overflows both', () => {
    const { cache, keys } = setup({ maxEntries: 3, maxBytes: 1000 });
    const reasons: string[] = [];
    cache.events.on('event', (event) => event.type === 'EVICT' && reasons.push(`${event.key}:${event.reason}`));
    for (const key of ['a', 'b', 'c']) cache.set(recordOfSize(key, 300));

    // A fourth key: room for one more entry (a), then for 400 more bytes (b).
    cache.set(recordOfSize('d', 500));

    expect(keys()).toEqual(['d', 'c']);
    expect(reasons).toEqual(['a:maxEntries', 'b:maxBytes']);
    expect(cache.stats().evictions).toBe(2);

    // Replacing a key's entry in a full cache never evicts for the entry bound.
    cache.set(recordOfSize('e', 150));
    cache.set(recordOfSize('e', 450));
    expect(keys()).toEqual(['e', 'd']);
    expect(reasons.slice(2)).toEqual(['c:maxBytes']);
    expect(cache.stats().evictions).toBe(3);
  });

  it('stores a record of exactly maxBytes, evicting everything else', () => {
    const { cache, keys } = setup({ maxBytes: 1000 });
    for (const key of ['a', 'b']) cache.set(recordOfSize(key, 300));
    expect(cache.set(recordOfSize('big', 1000))?.bytes).toBe(1000);
    expect(keys()).toEqual(['big']);
    expect(cache.stats()).toMatchObject({ bytes: 1000, evictions: 2 });
  });

  it('does not store a record larger than maxBytes and evicts nothing for it', () => {
    const { cache, keys } = setup({ maxBytes: 1000 });
    for (const key of ['a', 'b', 'c']) cache.set(recordOfSize(key, 300));
    expect(cache.set(recordOfSize('big', 1001))).toBeUndefined();
    expect(cache.get('big')).toBeUndefined();
    expect(keys()).toEqual(['c', 'b', 'a']);
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 900, evictions: 0 });
  });

  it('keeps the stored entry of a key when a record too large for maxBytes is set under it', () => {
    const { cache } = setup({ maxBytes: 1000 });
    cache.set(recordOfSize('a', 300));
    expect(cache.set(recordOfSize('a', 1001))).toBeUndefined();
    expect(cache.peek('a')?.bytes).toBe(300);
  });
});

describe('TTL', () => {
  it('sets expiresAt to storedAt plus the default TTL', () => {
    const { cache } = setup({ defaultTtlSeconds: 60 });
    const entry = cache.set(record('a'));
    expect(entry).toMatchObject({ storedAt: START, expiresAt: START + 60_000 });
  });

  it('serves an entry until its TTL runs out', () => {
    const { cache, clock } = setup({ defaultTtlSeconds: 60 });
    cache.set(record('a'));
    clock.now = START + 59_999;
    expect(cache.get('a')?.record.key).toBe('a');
    expect(cache.stats().expirations).toBe(0);
  });

  it('drops an entry once its TTL has run out and counts the expiration', () => {
    const { cache, clock } = setup({ defaultTtlSeconds: 60 });
    cache.set(record('a'));
    clock.now = START + 60_001;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0, expirations: 1, evictions: 0 });
  });

  it('serves an entry through its expiresAt and drops it one millisecond later', () => {
    const { cache, clock } = setup({ defaultTtlSeconds: 60 });
    const entry = cache.set(record('a'));
    clock.now = entry!.expiresAt!;
    expect(cache.get('a')?.record.key).toBe('a');
    clock.now += 1;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.stats().expirations).toBe(1);
  });

  it('counts expirations found by stats() without a get', () => {
    const { cache, clock } = setup({ defaultTtlSeconds: 10 });
    for (const key of ['a', 'b', 'c']) cache.set(record(key));
    clock.now = START + 10_001;
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0, expirations: 3, evictions: 0 });
  });

  it('lets a per-set ttlSeconds override the default', () => {
    const { cache, clock } = setup({ defaultTtlSeconds: 60 });
    expect(cache.set(record('short'), 5)?.expiresAt).toBe(START + 5_000);
    cache.set(record('default'));
    clock.now = START + 5_001;
    expect(cache.get('short')).toBeUndefined();
    expect(cache.get('default')?.record.key).toBe('default');
    expect(cache.stats().expirations).toBe(1);
  });

  it('never expires an entry set with ttlSeconds 0 under a default TTL', () => {
    const { cache, clock } = setup({ defaultTtlSeconds: 60 });
    expect(cache.set(record('a'), 0)?.expiresAt).toBeUndefined();
    clock.now = START + 10 * 365 * 86_400_000;
    expect(cache.get('a')?.record.key).toBe('a');
    expect(cache.stats().expirations).toBe(0);
  });

  it('never expires entries under a default TTL of 0', () => {
    const { cache, clock } = setup({ defaultTtlSeconds: 0 });
    expect(cache.set(record('a'))?.expiresAt).toBeUndefined();
    clock.now = START + 10 * 365 * 86_400_000;
    expect(cache.get('a')?.record.key).toBe('a');
    expect(cache.stats()).toMatchObject({ entries: 1, expirations: 0 });
  });

  it('expires a per-set TTL under a default TTL of 0', () => {
    const { cache, clock } = setup({ defaultTtlSeconds: 0 });
    expect(cache.set(record('a'), 10)?.expiresAt).toBe(START + 10_000);
    clock.now = START + 10_001;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.stats().expirations).toBe(1);
  });

  it('counts an expired entry pushed out by a bound as an expiration, not an eviction', () => {
    const { cache, clock, keys } = setup({ maxEntries: 1, defaultTtlSeconds: 1 });
    cache.set(record('a'));
    clock.now = START + 5_000;
    cache.set(record('b'));
    expect(keys()).toEqual(['b']);
    expect(cache.stats()).toMatchObject({ expirations: 1, evictions: 0 });
  });

  it('keeps entry TTLs across a configure that rebuilds the bounds', () => {
    const { cache, clock } = setup({ maxEntries: 10, defaultTtlSeconds: 60 });
    cache.set(record('a'));
    cache.configure({ maxEntries: 20 });
    clock.now = START + 59_000;
    expect(cache.get('a')?.record.key).toBe('a');
    clock.now = START + 60_001;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.stats().expirations).toBe(1);
  });
});

describe('configure', () => {
  it('keeps the n most recently used when maxEntries shrinks to n, evicting least recent first', () => {
    const { cache, keys } = setup({ maxEntries: 10 });
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) cache.set(record(key));
    cache.get('b');
    cache.get('a');
    expect(keys()).toEqual(['a', 'b', 'f', 'e', 'd', 'c']);
    expect(cache.configure({ maxEntries: 3 }).maxEntries).toBe(3);
    expect(keys()).toEqual(['a', 'b', 'f']);
    expect(cache.stats()).toMatchObject({ entries: 3, maxEntries: 3, evictions: 3 });
  });

  it('keeps the most recently used that fit when maxBytes shrinks, evicting least recent first', () => {
    const { cache, keys } = setup({ maxBytes: 2000 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) cache.set(recordOfSize(key, 300));
    cache.get('a');
    expect(cache.configure({ maxBytes: 1000 }).maxBytes).toBe(1000);
    expect(keys()).toEqual(['a', 'e', 'd']);
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 900, maxBytes: 1000, evictions: 2 });
  });

  it('keeps every entry, in order, when the bounds grow', () => {
    const { cache, keys } = setup({ maxEntries: 3, maxBytes: 1000 });
    for (const key of ['a', 'b', 'c']) cache.set(recordOfSize(key, 300));
    cache.get('a');
    cache.configure({ maxEntries: 10, maxBytes: 5000 });
    expect(keys()).toEqual(['a', 'c', 'b']);
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 900, evictions: 0 });
    cache.set(recordOfSize('d', 300));
    cache.set(recordOfSize('e', 300));
    expect(cache.stats()).toMatchObject({ entries: 5, bytes: 1500, evictions: 0 });
  });

  it('keeps hits and times of the entries it keeps', () => {
    const { cache, clock } = setup({ maxEntries: 10 });
    cache.set(record('a'));
    clock.now = START + 500;
    cache.get('a');
    cache.configure({ maxEntries: 5 });
    expect(cache.peek('a')).toMatchObject({ hits: 1, storedAt: START, lastAccessedAt: START + 500 });
  });

  const invalid: readonly (readonly [string, Partial<MemoryStoreOptions>])[] = [
    ['maxEntries', { maxEntries: 0 }],
    ['maxEntries', { maxEntries: 2.5 }],
    ['maxEntries', { maxEntries: Number.NaN }],
    ['maxBytes', { maxBytes: -1 }],
    ['maxBytes', { maxBytes: 1.5 }],
    ['defaultTtlSeconds', { defaultTtlSeconds: -5 }],
    ['defaultTtlSeconds', { defaultTtlSeconds: 0.5 }],
    // The valid part of an update is not applied either.
    ['maxBytes', { maxEntries: 1, maxBytes: -1 }],
  ];

  it.each(invalid)('throws a TypeError naming %s for %o and changes nothing', (setting, update) => {
    const { cache, keys } = setup({ maxEntries: 4, maxBytes: 5000, defaultTtlSeconds: 30 });
    for (const key of ['a', 'b', 'c']) cache.set(recordOfSize(key, 300));
    const settings = cache.settings;
    const stats = cache.stats();
    const order = keys();

    expect(() => cache.configure(update)).toThrow(TypeError);
    expect(() => cache.configure(update)).toThrow(new RegExp(`^${setting} `));
    expect(cache.settings).toEqual(settings);
    expect(cache.stats()).toEqual(stats);
    expect(keys()).toEqual(order);
    expect(cache.set(record('d'))?.expiresAt).toBe(START + 30_000);
  });

  it('throws a TypeError naming the setting from the constructor', () => {
    expect(() => setup({ maxEntries: 0 })).toThrow(/^maxEntries /);
    expect(() => setup({ maxBytes: -1 })).toThrow(/^maxBytes /);
    expect(() => setup({ defaultTtlSeconds: -5 })).toThrow(/^defaultTtlSeconds /);
  });

  it('applies a new default TTL to later sets', () => {
    const { cache } = setup({ defaultTtlSeconds: 0 });
    cache.configure({ defaultTtlSeconds: 30 });
    expect(cache.set(record('a'))?.expiresAt).toBe(START + 30_000);
  });

  it('drops every entry when the cache is turned off', () => {
    const { cache, keys } = setup();
    for (const key of ['a', 'b']) cache.set(record(key));
    cache.configure({ enabled: false });
    expect(cache.get('a')).toBeUndefined();
    cache.configure({ enabled: true });
    expect(keys()).toEqual([]);
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0, evictions: 0 });
  });
});

describe('clear and disabled', () => {
  it('returns the removed count and freed bytes from clear()', () => {
    const { cache } = setup();
    for (const key of ['a', 'b', 'c']) cache.set(recordOfSize(key, 300));
    expect(cache.clear()).toEqual({ removed: 3, freedBytes: 900 });
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0, evictions: 0 });
    expect(cache.clear()).toEqual({ removed: 0, freedBytes: 0 });
  });

  it('stores nothing when disabled', () => {
    const { cache, keys } = setup({ enabled: false });
    expect(cache.set(record('a'))).toBeUndefined();
    expect(cache.get('a')).toBeUndefined();
    expect(cache.peek('a')).toBeUndefined();
    expect(keys()).toEqual([]);
    expect(cache.stats()).toMatchObject({ enabled: false, entries: 0, bytes: 0 });
  });
});

describe('hits and access times', () => {
  it('counts a hit and records the clock on get', () => {
    const { cache, clock } = setup();
    cache.set(record('a'));
    clock.now = START + 1_000;
    expect(cache.get('a')).toMatchObject({ hits: 1, storedAt: START, lastAccessedAt: START + 1_000 });
    clock.now = START + 2_500;
    expect(cache.get('a')).toMatchObject({ hits: 2, lastAccessedAt: START + 2_500 });
  });

  it('leaves hits and lastAccessedAt alone on peek', () => {
    const { cache, clock } = setup();
    cache.set(record('a'));
    clock.now = START + 1_000;
    expect(cache.peek('a')).toMatchObject({ hits: 0, lastAccessedAt: START });
  });

  it('returns undefined from get for a key never stored', () => {
    const { cache } = setup();
    expect(cache.get('missing')).toBeUndefined();
  });
});

describe('events', () => {
  it('takes many listeners (one per cacheEvents subscriber) without a MaxListenersExceededWarning', async () => {
    const { cache } = setup();
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const listeners = Array.from({ length: 50 }, () => () => undefined);
      for (const listener of listeners) cache.events.on('event', listener);
      await nextMacrotask();

      expect(cache.events.listenerCount('event')).toBe(50);
      expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
