import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EntryOrder } from '../src/cache/entry-listing.js';
import { MemoryStore } from '../src/cache/memory-store.js';
import type { CacheSettings } from '../src/cache/settings.js';
import type { CacheEntry, CacheEvent, DeleteFilter, EvictionBound, GenerationRecord } from '../src/cache/store.js';

/**
 * Model-based test of `MemoryStore`: random sequences of lookups, sets, deletes, clears,
 * reconfigurations and clock steps run against the store and against a reference written here,
 * and after each command the two must agree.
 *
 * The reference is an LRU in its plainest form: a Map in recency order (least recent first), a
 * bound on entries and on bytes, evicting the least recent while over either, and a TTL per entry.
 * What it states about expiry is what lru-cache does, which a user of "an LRU with TTL" may not
 * expect:
 * - expiry is lazy: an expired entry stays held, counting against both bounds, until something
 *   looks at it (a get of its key, a listing, `stats`, `clear`, a change of bounds), and only then
 *   counts as an expiration;
 * - a set evicts the least recent entry even when a more recent one has expired; an expired entry
 *   that a bound pushes out counts as an expiration, not an eviction;
 * - a set over an expired entry of the same key replaces it: neither expiration nor eviction;
 * - `delete` does not remove (or count) an expired entry, and `clear` does not count it as removed.
 * Observing is not free: `stats()` and the listing purge expired entries, so the model purges at
 * every full check too. A clock step or a set may skip that check (checking only what `peek`
 * shows), so that the next command meets entries that expired unobserved.
 *
 * The store keeps no totals of hits and misses (the generation service does): the test counts them
 * from what the store answered and compares them with the model's, and compares each entry's
 * `hits`.
 */

// lru-cache treats a start time of 0 as "no start", so the clock never reads 0.
const START = 1_000_000;
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'] as const;
const MODELS = ['m1', 'm2'] as const;

const record = (key: string, model: string, output: string): GenerationRecord => ({
  key,
  prompt: 'p',
  model,
  parameters: {},
  output,
  contentType: 'text/plain',
  createdAt: 0,
  generationMs: 0,
});

const bytesOf = (value: GenerationRecord): number => Buffer.byteLength(JSON.stringify(value));

interface ModelEntry {
  readonly record: GenerationRecord;
  readonly bytes: number;
  readonly storedAt: number;
  readonly expiresAt: number | undefined;
  hits: number;
  lastAccessedAt: number;
}

/** How often each thing happened over all runs, so that the test cannot pass vacuously. */
const seen = {
  hits: 0,
  misses: 0,
  evictions: { maxEntries: 0, maxBytes: 0 },
  expirations: 0,
  expiredPushedOut: 0,
  rejectedTooLarge: 0,
  configureEvictions: 0,
  deleted: 0,
  /** Listings where two entries used in the same millisecond are held against their key order. */
  sameMillisecondAgainstKeyOrder: 0,
};

class Model {
  now = START;
  settings: CacheSettings;
  /** Entries held, least recently used first; an expired one stays until something looks. */
  readonly held = new Map<string, ModelEntry>();
  peakBytes = 0;
  /** Since the last reset, as `stats()` reports them. */
  evictions = 0;
  expirations = 0;
  /** Since the start, as the events tell them. */
  readonly events = { SET: 0, EVICT: { maxEntries: 0, maxBytes: 0 }, EXPIRE: 0, DELETE: 0, CLEAR: 0, CONFIG: 0 };
  lookups = 0;
  hits = 0;
  misses = 0;

  constructor(settings: CacheSettings) {
    this.settings = settings;
  }

  expired(entry: ModelEntry): boolean {
    return entry.expiresAt !== undefined && this.now > entry.expiresAt;
  }

  bytes(): number {
    let total = 0;
    for (const entry of this.held.values()) total += entry.bytes;
    return total;
  }

  /** The entry a peek sees: held, not expired, and the cache on. */
  live(key: string): ModelEntry | undefined {
    const entry = this.held.get(key);
    return this.settings.enabled && entry !== undefined && !this.expired(entry) ? entry : undefined;
  }

  /** Most recently used first, as the store lists them. */
  order(): ModelEntry[] {
    return [...this.held.values()].reverse();
  }

  #expire(key: string): void {
    this.held.delete(key);
    this.expirations++;
    this.events.EXPIRE++;
    seen.expirations++;
  }

  #evictLeastRecent(bound: EvictionBound, during: 'set' | 'configure'): void {
    const [key, entry] = this.held.entries().next().value!;
    if (this.expired(entry)) {
      this.#expire(key);
      seen.expiredPushedOut++;
      return;
    }
    this.held.delete(key);
    this.evictions++;
    this.events.EVICT[bound]++;
    seen.evictions[bound]++;
    if (during === 'configure') seen.configureEvictions++;
  }

  purge(): void {
    for (const [key, entry] of this.held) if (this.expired(entry)) this.#expire(key);
  }

  get(key: string): ModelEntry | undefined {
    this.lookups++;
    const entry = this.settings.enabled ? this.held.get(key) : undefined;
    if (entry !== undefined && this.expired(entry)) this.#expire(key);
    if (entry === undefined || this.expired(entry)) {
      this.misses++;
      seen.misses++;
      return undefined;
    }
    this.held.delete(key);
    this.held.set(key, entry);
    entry.hits++;
    entry.lastAccessedAt = this.now;
    this.hits++;
    seen.hits++;
    return entry;
  }

  set(value: GenerationRecord, ttlSeconds: number | undefined): ModelEntry | undefined {
    if (!this.settings.enabled) return undefined;
    const bytes = bytesOf(value);
    if (bytes > this.settings.maxBytes) {
      seen.rejectedTooLarge++;
      return undefined;
    }
    const ttl = (ttlSeconds ?? this.settings.defaultTtlSeconds) * 1000;
    const entry: ModelEntry = {
      record: value,
      bytes,
      storedAt: this.now,
      expiresAt: ttl > 0 ? this.now + ttl : undefined,
      hits: 0,
      lastAccessedAt: this.now,
    };
    if (this.held.has(value.key)) this.held.delete(value.key);
    else if (this.held.size >= this.settings.maxEntries) this.#evictLeastRecent('maxEntries', 'set');
    this.held.set(value.key, entry);
    while (this.bytes() > this.settings.maxBytes) this.#evictLeastRecent('maxBytes', 'set');
    this.peakBytes = Math.max(this.peakBytes, this.bytes());
    this.events.SET++;
    return entry;
  }

  delete(filter: DeleteFilter): { removed: number; freedBytes: number } {
    let removed = 0;
    let freedBytes = 0;
    if (filter.keys === undefined && filter.model === undefined) return { removed, freedBytes };
    for (const key of filter.keys ?? [...this.held.keys()]) {
      const entry = this.held.get(key);
      if (entry === undefined || this.expired(entry)) continue;
      if (filter.model !== undefined && entry.record.model !== filter.model) continue;
      this.held.delete(key);
      removed++;
      freedBytes += entry.bytes;
      this.events.DELETE++;
      seen.deleted++;
    }
    return { removed, freedBytes };
  }

  clear(): { removed: number; freedBytes: number } {
    this.purge();
    const result = { removed: this.held.size, freedBytes: this.bytes() };
    this.held.clear();
    this.events.CLEAR++;
    return result;
  }

  configure(update: Partial<CacheSettings>): void {
    const next = { ...this.settings, ...update };
    const boundsChanged = next.maxEntries !== this.settings.maxEntries || next.maxBytes !== this.settings.maxBytes;
    this.settings = next;
    if (!next.enabled) {
      if (this.held.size > 0) this.clear();
    } else if (boundsChanged) {
      this.purge();
      while (this.held.size > next.maxEntries) this.#evictLeastRecent('maxEntries', 'configure');
      while (this.bytes() > next.maxBytes) this.#evictLeastRecent('maxBytes', 'configure');
    }
    this.events.CONFIG++;
  }

  resetStats(): void {
    this.peakBytes = this.bytes();
    this.evictions = 0;
    this.expirations = 0;
  }
}

interface Real {
  readonly store: MemoryStore;
  readonly clock: { now: number };
  /** Lookups made and what they found, counted from what the store answered (it keeps no totals). */
  readonly lookups: { hits: number; misses: number };
  readonly events: Model['events'];
}

function expectSameEntry(actual: CacheEntry | undefined, expected: ModelEntry | undefined): void {
  if (expected === undefined) {
    expect(actual).toBeUndefined();
    return;
  }
  expect(actual).toBeDefined();
  expect(describeEntry(actual!)).toEqual(describeEntry(expected));
}

const describeEntry = (entry: CacheEntry | ModelEntry) => ({
  key: entry.record.key,
  model: entry.record.model,
  output: entry.record.output,
  bytes: entry.bytes,
  storedAt: entry.storedAt,
  expiresAt: entry.expiresAt,
  hits: entry.hits,
  lastAccessedAt: entry.lastAccessedAt,
});

/** What can be compared without looking at entries in a way that purges expired ones. */
function checkWithoutPurging(model: Model, real: Real): void {
  expect(real.store.settings).toEqual(model.settings);
  for (const key of KEYS) expectSameEntry(real.store.peek(key), model.live(key));
  expect(real.lookups).toEqual({ hits: model.hits, misses: model.misses });
  expect(real.lookups.hits + real.lookups.misses).toBe(model.lookups);
  expect(real.events).toEqual(model.events);
}

/** The keys of every page of `first: 2` in turn, each from the cursor the last one ended on. */
function listInPagesOfTwo(store: MemoryStore, orderBy: EntryOrder): string[] {
  const keys: string[] = [];
  let after: string | undefined;
  for (let pages = 0; pages <= KEYS.length; pages++) {
    const page = store.list({ first: 2, after, orderBy });
    keys.push(...page.items.map((item) => item.entry.record.key));
    if (!page.hasNextPage) return keys;
    after = page.items.at(-1)!.cursor;
  }
  throw new Error(`${orderBy} did not end after ${KEYS.length} pages`);
}

/** Everything: statistics, the entries in recency order, the listing; purges like the store. */
function checkAll(model: Model, real: Real): void {
  const stats = real.store.stats();
  model.purge();
  const bytes = model.bytes();
  expect(stats).toEqual({
    enabled: model.settings.enabled,
    entries: model.held.size,
    maxEntries: model.settings.maxEntries,
    bytes,
    maxBytes: model.settings.maxBytes,
    peakBytes: model.peakBytes,
    evictions: model.evictions,
    expirations: model.expirations,
  });
  expect(stats.entries).toBeLessThanOrEqual(stats.maxEntries);
  expect(stats.bytes).toBeLessThanOrEqual(stats.maxBytes);
  expect([...real.store.entries()].map(describeEntry)).toEqual(model.order().map(describeEntry));
  // The recency orders list exactly the LRU's order, LEAST_RECENT the order of eviction, also among
  // entries used in the same millisecond; paged two at a time, the cursors give the same order.
  const leastRecentFirst = [...model.held.keys()];
  const held = [...model.held.values()];
  const againstKeyOrder = (entry: ModelEntry, i: number) =>
    i > 0 && entry.lastAccessedAt === held[i - 1]!.lastAccessedAt && entry.record.key < held[i - 1]!.record.key;
  if (held.some(againstKeyOrder)) seen.sameMillisecondAgainstKeyOrder++;
  for (const [orderBy, expected] of [
    ['MOST_RECENT', [...leastRecentFirst].reverse()],
    ['LEAST_RECENT', leastRecentFirst],
  ] as const) {
    const page = real.store.list({ first: KEYS.length, orderBy });
    expect(page.totalCount).toBe(model.held.size);
    expect(page.items.map((item) => item.entry.record.key)).toEqual(expected);
    expect(listInPagesOfTwo(real.store, orderBy)).toEqual(expected);
  }
  checkWithoutPurging(model, real);
}

type StoreCommand = fc.Command<Model, Real>;

/**
 * A command that `act`s on both sides, then checks them: in full, or, when it does not `look`,
 * only what can be read without purging expired entries, so that they stay for the next command.
 */
abstract class CheckedCommand implements StoreCommand {
  constructor(readonly look = true) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    this.act(model, real);
    if (this.look) checkAll(model, real);
    else checkWithoutPurging(model, real);
  }
  abstract act(model: Model, real: Real): void;
  abstract toString(): string;
}

function countLookups(real: Real, found: readonly (CacheEntry | undefined)[]): void {
  for (const entry of found) {
    if (entry === undefined) real.lookups.misses++;
    else real.lookups.hits++;
  }
}

class GetMany extends CheckedCommand {
  constructor(readonly keys: readonly string[]) {
    super();
  }
  act(model: Model, real: Real): void {
    const found = real.store.getMany(this.keys);
    countLookups(real, found);
    const expected = this.keys.map((each) => model.get(each));
    // Described after all the lookups: a key asked twice is one entry object, hit twice.
    const described = (entries: readonly (CacheEntry | ModelEntry | undefined)[]) =>
      entries.map((entry) => entry && describeEntry(entry));
    expect(described(found)).toEqual(described(expected));
  }
  toString(): string {
    return `getMany(${JSON.stringify(this.keys)})`;
  }
}

class GetNow extends CheckedCommand {
  constructor(readonly key: string) {
    super();
  }
  act(model: Model, real: Real): void {
    const found = real.store.getNow(this.key);
    countLookups(real, [found]);
    expectSameEntry(found, model.get(this.key));
  }
  toString(): string {
    return `getNow(${this.key})`;
  }
}

class Peek extends CheckedCommand {
  constructor(readonly key: string) {
    super();
  }
  act(model: Model, real: Real): void {
    expectSameEntry(real.store.peek(this.key), model.live(this.key));
  }
  toString(): string {
    return `peek(${this.key})`;
  }
}

class SetRecord extends CheckedCommand {
  constructor(
    readonly value: GenerationRecord,
    readonly ttlSeconds: number | undefined,
    look: boolean,
  ) {
    super(look);
  }
  act(model: Model, real: Real): void {
    expectSameEntry(real.store.set(this.value, this.ttlSeconds), model.set(this.value, this.ttlSeconds));
  }
  toString(): string {
    const { key, model, output } = this.value;
    const ttl = this.ttlSeconds === undefined ? '' : `, ${this.ttlSeconds}`;
    const unobserved = this.look ? '' : ', unobserved';
    return `set(${key}/${model}, ${bytesOf(this.value)} bytes${output.includes('é') ? ' (é)' : ''}${ttl}${unobserved})`;
  }
}

class Delete extends CheckedCommand {
  constructor(readonly filter: DeleteFilter) {
    super();
  }
  act(model: Model, real: Real): void {
    expect(real.store.delete(this.filter)).toEqual(model.delete(this.filter));
  }
  toString(): string {
    return `delete(${JSON.stringify(this.filter)})`;
  }
}

class Clear extends CheckedCommand {
  act(model: Model, real: Real): void {
    expect(real.store.clear()).toEqual(model.clear());
  }
  toString(): string {
    return 'clear()';
  }
}

class Configure extends CheckedCommand {
  constructor(readonly update: Partial<CacheSettings>) {
    super();
  }
  act(model: Model, real: Real): void {
    model.configure(this.update);
    expect(real.store.configure(this.update)).toEqual(model.settings);
  }
  toString(): string {
    return `configure(${JSON.stringify(this.update)})`;
  }
}

class ResetStats extends CheckedCommand {
  act(model: Model, real: Real): void {
    real.store.resetStats();
    model.resetStats();
  }
  toString(): string {
    return 'resetStats()';
  }
}

/** Moves both clocks; whole seconds land exactly on an expiresAt, one more millisecond passes it. */
class Advance extends CheckedCommand {
  constructor(
    readonly ms: number,
    look: boolean,
  ) {
    super(look);
  }
  act(model: Model, real: Real): void {
    model.now += this.ms;
    real.clock.now += this.ms;
  }
  toString(): string {
    return `advance(${this.ms}ms${this.look ? '' : ', unobserved'})`;
  }
}

// Half the keys twice as likely: more hits and overwrites, while the rest still push entries out.
const key = fc.oneof(fc.constantFrom(...KEYS.slice(0, 3)), fc.constantFrom(...KEYS));
// Bounds spread evenly (fast-check leans integers to their ends): from room for one bare record
// (about 120 bytes) up to room for all six keys, with the ends now and then.
const maxEntries = fc.noBias(fc.integer({ min: 1, max: KEYS.length }));
const maxBytes = fc.oneof({ weight: 4, arbitrary: fc.noBias(fc.integer({ min: 150, max: 2500 })) }, fc.constantFrom(150, 2500));
// Seconds; 0 is no expiry. (A pick among constants leans to the first.)
const ttlSeconds = fc.constantFrom(1, 0, 2, 0, 3);

const command: fc.Arbitrary<StoreCommand> = fc.oneof(
  { weight: 8, arbitrary: fc.array(key, { minLength: 1, maxLength: 3 }).map((keys) => new GetMany(keys)) },
  { weight: 6, arbitrary: key.map((each) => new GetNow(each)) },
  { weight: 2, arbitrary: key.map((each) => new Peek(each)) },
  {
    weight: 14,
    arbitrary: fc
      .record({
        key,
        model: fc.constantFrom(...MODELS),
        // 'é' is one UTF-16 unit but two UTF-8 bytes.
        unit: fc.constantFrom('x', 'x', 'é'),
        // Mostly small, so that several fit; now and then one near or over maxBytes.
        length: fc.oneof(
          { weight: 10, arbitrary: fc.noBias(fc.integer({ min: 0, max: 80 })) },
          fc.integer({ min: 0, max: 1300 }),
        ),
        ttlSeconds: fc.option(ttlSeconds, { nil: undefined }),
        look: fc.constantFrom(true, true, false),
      })
      .map(({ key, model, unit, length, ttlSeconds, look }) => {
        return new SetRecord(record(key, model, unit.repeat(length)), ttlSeconds, look);
      }),
  },
  {
    weight: 2,
    arbitrary: fc
      .record(
        {
          keys: fc.array(key, { minLength: 0, maxLength: 3 }),
          model: fc.constantFrom(...MODELS),
        },
        { requiredKeys: [] },
      )
      .map((filter) => new Delete(filter)),
  },
  { weight: 1, arbitrary: fc.constant(new Clear()) },
  {
    weight: 3,
    arbitrary: fc
      .record(
        {
          // Off one time in six it is given: often enough to cover it, rarely enough to store.
          enabled: fc.constantFrom(true, true, true, true, true, false),
          maxEntries,
          maxBytes,
          defaultTtlSeconds: ttlSeconds,
        },
        { requiredKeys: [] },
      )
      .map((update) => new Configure(update)),
  },
  { weight: 1, arbitrary: fc.constant(new ResetStats()) },
  {
    weight: 6,
    arbitrary: fc
      .record({
        ms: fc.oneof(fc.constantFrom(1000, 1, 2000, 3000), fc.noBias(fc.integer({ min: 0, max: 3000 }))),
        look: fc.constantFrom(true, false, false),
      })
      .map(({ ms, look }) => new Advance(ms, look)),
  },
);

describe('MemoryStore against a reference LRU', () => {
  it('agrees with the reference after every command of a random sequence', () => {
    fc.assert(
      fc.property(
        fc.record({ maxEntries, maxBytes, defaultTtlSeconds: ttlSeconds }),
        fc.commands([command], { maxCommands: 60, size: 'max' }),
        (initial, commands) => {
          const settings: CacheSettings = { enabled: true, ...initial };
          const clock = { now: START };
          const store = new MemoryStore({ ...settings, now: () => clock.now });
          const real: Real = {
            store,
            clock,
            lookups: { hits: 0, misses: 0 },
            events: { SET: 0, EVICT: { maxEntries: 0, maxBytes: 0 }, EXPIRE: 0, DELETE: 0, CLEAR: 0, CONFIG: 0 },
          };
          store.events.on('event', (event: CacheEvent) => {
            if (event.type === 'EVICT') real.events.EVICT[event.reason]++;
            else real.events[event.type]++;
          });
          fc.modelRun(() => ({ model: new Model(settings), real }), commands);
        },
      ),
      { numRuns: 400 },
    );

    expect(seen.hits).toBeGreaterThan(0);
    expect(seen.misses).toBeGreaterThan(0);
    expect(seen.evictions.maxEntries).toBeGreaterThan(0);
    expect(seen.evictions.maxBytes).toBeGreaterThan(0);
    expect(seen.expirations).toBeGreaterThan(0);
    expect(seen.expiredPushedOut).toBeGreaterThan(0);
    expect(seen.rejectedTooLarge).toBeGreaterThan(0);
    expect(seen.configureEvictions).toBeGreaterThan(0);
    expect(seen.deleted).toBeGreaterThan(0);
    expect(seen.sameMillisecondAgainstKeyOrder).toBeGreaterThan(0);
  });
});
