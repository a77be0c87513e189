import { hash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { MemoryStore, type MemoryStoreOptions } from '../src/cache/memory-store.js';
import {
  CacheSnapshots,
  moveAside,
  readSnapshot,
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  writeSnapshot,
  type CacheSnapshotsOptions,
  type SnapshotEntry,
} from '../src/cache/snapshot.js';
import type { CacheEntry, GenerationRecord } from '../src/cache/store.js';
import { CacheStatsDocument, GenerationDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, postOperation } from './helpers/harness.js';
import { captureLogs } from './helpers/logs.js';
import { logLine, logLines, parseLog, serverEnv, startServer } from './helpers/server-process.js';

// lru-cache treats a start time of 0 as "no start", so the clock never reads 0.
const START = 1_764_300_000_000;
const GENERATOR_ID = 'simulated/1';

let directory: string;
let path: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'gencache-snapshot-'));
  path = join(directory, 'snapshot');
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

const record = (key: string, output = `output of ${key}`, extra: Partial<GenerationRecord> = {}): GenerationRecord => ({
  key,
  prompt: `prompt of ${key}`,
  model: 'sim-1',
  parameters: { maxTokens: 64 },
  output,
  contentType: 'text/plain',
  createdAt: START,
  generationMs: 1_250,
  ...extra,
});

const bytesOf = (value: GenerationRecord): number => Buffer.byteLength(JSON.stringify(value));

/** A record whose JSON is exactly `bytes` UTF-8 bytes long. */
function recordOfSize(key: string, bytes: number): GenerationRecord {
  const sized = record(key, 'x'.repeat(bytes - bytesOf(record(key, ''))));
  expect(bytesOf(sized)).toBe(bytes);
  return sized;
}

interface Clock {
  now: number;
}

const storeOn = (clock: Clock, options: Partial<MemoryStoreOptions> = {}): MemoryStore =>
  new MemoryStore({ enabled: true, maxEntries: 100, maxBytes: 1_000_000, defaultTtlSeconds: 0, now: () => clock.now, ...options });

/** Snapshots of a store at the test's path, logging into `lines`. */
function snapshotsOf(store: MemoryStore, clock: Clock, options: Partial<CacheSnapshotsOptions> = {}) {
  const { logger, lines } = captureLogs('info');
  const snapshots = new CacheSnapshots({ path, store, generatorId: GENERATOR_ID, logger, now: () => clock.now, intervalSeconds: 0, ...options });
  const logged = (msg: string) => lines.filter((line) => line['msg'] === msg);
  return { snapshots, lines, logged };
}

/** What a snapshot would keep of every entry, least recently used first. */
const held = (store: MemoryStore): Omit<CacheEntry, 'shared'>[] => [...store.leastRecentFirst()].map((entry) => ({ ...entry }));
const keysOf = (entries: Iterable<{ readonly record: GenerationRecord }>): string[] => [...entries].map((entry) => entry.record.key);

/** Writes the store as the snapshot at the test's path through `CacheSnapshots`, and returns the file's bytes. */
async function writeFrom(store: MemoryStore, clock: Clock, generatorId = GENERATOR_ID): Promise<Buffer> {
  const { snapshots } = snapshotsOf(store, clock, { generatorId });
  await snapshots.open();
  expect(await snapshots.write()).toBe(true);
  return readFile(path);
}

/** A fresh store loaded from the snapshot at the test's path. */
async function loadInto(clock: Clock, options: Partial<MemoryStoreOptions> = {}) {
  const store = storeOn(clock, options);
  const loaded = snapshotsOf(store, clock);
  await loaded.snapshots.open();
  return { store, ...loaded };
}

const isMissing = (at: string) => stat(at).then(
  () => false,
  (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
);

describe('a snapshot round trip', () => {
  it('keeps keys, records, times, hit counts and the recency order', async () => {
    const clock = { now: START };
    const before = storeOn(clock);
    before.set(record('a', 'alpha', { parameters: { maxTokens: 3, stop: ['\n', 'END'], nested: { on: true, none: null } } }), 60);
    clock.now += 1_000;
    before.set(record('b', 'ünïcødé ✓ \u2028 "quoted" \\ \n tab\t 🎉'));
    clock.now += 1_000;
    before.set(record('c', 'gamma', { contentType: 'image/png' }), 3_600);
    clock.now += 1_000;
    before.get('a');
    before.get('a');
    await writeFrom(before, clock);

    const { store: after } = await loadInto(clock);

    expect(keysOf(after.leastRecentFirst())).toEqual(['b', 'c', 'a']);
    expect(held(after)).toEqual(held(before));
    expect(after.list({ first: 10, orderBy: 'LEAST_RECENT' }).items.map((item) => item.entry.record.key)).toEqual(['b', 'c', 'a']);
    expect(after.list({ first: 10, orderBy: 'MOST_HITS' }).items[0]?.entry).toMatchObject({ hits: 2, record: { key: 'a' } });
  });

  it('keeps the token counts of a record that has them, and none on one that has not', async () => {
    const clock = { now: START };
    const before = storeOn(clock);
    before.set(record('a', 'alpha', { promptTokens: 12, completionTokens: 0 }));
    before.set(record('b'));
    await writeFrom(before, clock);

    const { store: after } = await loadInto(clock);

    expect(held(after)).toEqual(held(before));
    expect(after.get('a')?.record).toMatchObject({ promptTokens: 12, completionTokens: 0 });
    expect(after.get('b')?.record).not.toHaveProperty('promptTokens');
  });

  it("keeps a chat's messages, and none on a prompt's record", async () => {
    const clock = { now: START };
    const before = storeOn(clock);
    const messages = [
      { role: 'SYSTEM', content: 'Be brief.' },
      { role: 'USER', content: 'alpha' },
    ] as const;
    before.set(record('a', 'alpha', { messages }));
    before.set(record('b'));
    await writeFrom(before, clock);

    const { store: after } = await loadInto(clock);

    expect(held(after)).toEqual(held(before));
    expect(after.get('a')?.record.messages).toEqual(messages);
    expect(after.get('b')?.record).not.toHaveProperty('messages');
  });

  it('keeps each entry expiring when it did', async () => {
    const clock = { now: START };
    const before = storeOn(clock);
    before.set(record('short'), 60);
    before.set(record('forever'), 0);
    await writeFrom(before, clock);
    const { store: after } = await loadInto(clock);

    clock.now = START + 60_000;
    expect(after.peek('short')?.expiresAt).toBe(START + 60_000);
    clock.now = START + 60_001;

    expect(after.peek('short')).toBeUndefined();
    expect(after.peek('forever')).toMatchObject({ expiresAt: undefined });
  });

  it('skips the entries that expired before the load, and logs what it restored', async () => {
    const clock = { now: START };
    const before = storeOn(clock);
    before.set(record('short'), 10);
    before.set(record('long'), 3_600);
    before.set(record('forever'), 0);
    await writeFrom(before, clock);
    clock.now += 10_001;

    const { store: after, logged } = await loadInto(clock);

    expect(keysOf(after.leastRecentFirst())).toEqual(['long', 'forever']);
    expect(logged('cache snapshot loaded')).toEqual([
      expect.objectContaining({ level: 30, path, restored: 2, expired: 1, dropped: 0, generatorId: GENERATOR_ID, writtenAt: new Date(START).toISOString() }),
    ]);
  });

  it('keeps the most recent entries when the snapshot holds more than maxEntries', async () => {
    const clock = { now: START };
    const before = storeOn(clock);
    for (let index = 0; index < 10; index++) before.set(record(`k${index}`));
    before.get('k3');
    await writeFrom(before, clock);

    const { store: after, logged } = await loadInto(clock, { maxEntries: 4 });

    expect(keysOf(after.leastRecentFirst())).toEqual(['k7', 'k8', 'k9', 'k3']);
    expect(logged('cache snapshot loaded')[0]).toMatchObject({ restored: 4, expired: 0, dropped: 6 });
  });

  it('keeps the most recent entries that fit maxBytes, skipping a record larger than maxBytes alone', async () => {
    const clock = { now: START };
    const before = storeOn(clock);
    for (let index = 0; index < 10; index++) before.set(recordOfSize(`k${index}`, 200));
    before.set(recordOfSize('huge', 700));
    await writeFrom(before, clock);

    const { store: after, logged } = await loadInto(clock, { maxBytes: 650 });

    expect(keysOf(after.leastRecentFirst())).toEqual(['k7', 'k8', 'k9']);
    expect(after.stats()).toMatchObject({ entries: 3, bytes: 600 });
    expect(logged('cache snapshot loaded')[0]).toMatchObject({ restored: 3, dropped: 8 });
  });

  it('restores without a cache event, an eviction or an expiry, and counts its bytes in peakBytes', async () => {
    const clock = { now: START };
    const before = storeOn(clock);
    for (let index = 0; index < 5; index++) before.set(recordOfSize(`k${index}`, 200), index === 0 ? 1 : 0);
    await writeFrom(before, clock);
    clock.now += 1_001;
    const after = storeOn(clock, { maxEntries: 3 });
    const events: unknown[] = [];
    after.events.on('event', (event) => events.push(event));

    await snapshotsOf(after, clock).snapshots.open();

    expect(events).toEqual([]);
    expect(after.stats()).toEqual({ enabled: true, entries: 3, maxEntries: 3, bytes: 600, maxBytes: 1_000_000, peakBytes: 600, evictions: 0, expirations: 0 });
    expect(held(after).map((entry) => entry.hits)).toEqual([0, 0, 0]);
  });

  it('loads a snapshot of another generator, and says so', async () => {
    const clock = { now: START };
    const before = storeOn(clock);
    before.set(record('k'));
    await writeFrom(before, clock, 'openai-chat/1');

    const { store: after, logged } = await loadInto(clock);

    expect(keysOf(after.leastRecentFirst())).toEqual(['k']);
    expect(logged('cache snapshot loaded')[0]).toMatchObject({ restored: 1, generatorId: 'openai-chat/1' });
    expect(logged('cache snapshot of another generator: its entries cannot be hit by this one and are the first to go')).toEqual([
      expect.objectContaining({ level: 30, snapshotGeneratorId: 'openai-chat/1', generatorId: GENERATOR_ID }),
    ]);
  });

  it('starts empty without a snapshot, logs it at info, and writes nothing on opening', async () => {
    const clock = { now: START };

    const { store, lines } = await loadInto(clock);

    expect(store.stats().entries).toBe(0);
    expect(lines).toEqual([expect.objectContaining({ level: 30, msg: 'no cache snapshot: starting empty', path })]);
    expect(await readdir(directory)).toEqual([]);
  });
});

describe('MemoryStore.restore', () => {
  const entryOf = (value: GenerationRecord, at = START): SnapshotEntry => ({ record: value, storedAt: at, expiresAt: undefined, hits: 0, lastAccessedAt: at });

  it('keeps the most recent of a key given twice', () => {
    const store = storeOn({ now: START + 10 });

    const result = store.restore([entryOf(record('k', 'older'), START), entryOf(record('j')), entryOf(record('k', 'newer'), START + 1)]);

    expect(result).toEqual({ restored: 2, expired: 0, dropped: 1 });
    expect([...store.leastRecentFirst()].map((entry) => entry.record.output)).toEqual(['output of j', 'newer']);
  });

  it('restores nothing into a disabled cache', () => {
    const store = storeOn({ now: START }, { enabled: false });

    expect(store.restore([entryOf(record('k'))])).toEqual({ restored: 0, expired: 0, dropped: 1 });
    expect(store.stats().entries).toBe(0);
  });

  it('refuses a store that holds entries: their places among the restored ones would be a guess', () => {
    const store = storeOn({ now: START });
    store.set(record('held'));

    expect(() => store.restore([entryOf(record('k'))])).toThrow('restore needs an empty cache; entries held: 1');
  });
});

describe('the snapshot format', () => {
  it('is a header line, then one checksummed JSON line an entry, least recently used first', async () => {
    const clock = { now: START };
    const store = storeOn(clock);
    store.set(record('a'), 60);
    store.set(record('b'));
    store.get('a');

    await writeFrom(store, clock);
    const [first, ...rest] = (await readFile(path, 'utf8')).split('\n');

    expect(JSON.parse(first!)).toEqual({ format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, writtenAt: START, generatorId: GENERATOR_ID, entries: 2 });
    expect(rest.pop()).toBe('');
    const lines = rest.map((line) => ({ line, ...(JSON.parse(line) as { sha256: string; entry: SnapshotEntry }) }));
    expect(lines.map(({ entry }) => entry)).toEqual([
      { record: record('b'), storedAt: START, expiresAt: null, hits: 0, lastAccessedAt: START },
      { record: record('a'), storedAt: START, expiresAt: START + 60_000, hits: 1, lastAccessedAt: START },
    ]);
    for (const { line, sha256 } of lines) {
      const entryText = line.slice(line.indexOf('"entry":') + '"entry":'.length, -1);
      expect(sha256).toBe(hash('sha256', entryText, 'hex'));
    }
  });

  it('is readable by its owner only: records hold users’ prompts', async () => {
    const clock = { now: START };
    await writeFrom(storeOn(clock), clock);

    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });
});

describe('a snapshot that cannot be read', () => {
  /** Flips the lowest bit of the byte `offset` bytes into the first `text` of the bytes. */
  const flipIn = (bytes: Buffer, text: string, offset = 0): Buffer => {
    const copy = Buffer.from(bytes);
    const at = copy.indexOf(text) + offset;
    expect(at).toBeGreaterThan(offset);
    copy[at] = copy[at]! ^ 0x01;
    return copy;
  };

  it.each<[string, (whole: Buffer) => Buffer, RegExp]>([
    ['its last line cut short', (whole) => whole.subarray(0, whole.length - 10), /^truncated: the last line has no end$/],
    ['its last line missing', (whole) => whole.subarray(0, whole.lastIndexOf('\n', whole.length - 2) + 1), /^truncated: 2 entry lines of the 3/],
    ['a flipped byte in a record', (whole) => flipIn(whole, 'output of beta'), /^checksum mismatch$/],
    ['a flipped byte in a checksum', (whole) => flipIn(whole, '{"sha256":"', 20), /^checksum mismatch$/],
    ['a flipped byte in the shape of a line', (whole) => flipIn(whole, '"entry"'), /^not an entry line$/],
    ['an unknown version', (whole) => Buffer.from(whole.toString('utf8').replace('"version":1', '"version":2')), /^unknown version 2: this build reads version 1$/],
    ['a file of something else', () => Buffer.from('\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR'), /^not a gencache snapshot/],
    ['JSON lines of something else', () => Buffer.from('{"format":"other","version":1}\n'), /^not a gencache snapshot: format "other"$/],
    ['an empty file', () => Buffer.alloc(0), /^empty: no header$/],
  ])('with %s is moved aside with a warning, and the cache starts empty', async (_case, corrupt, reason) => {
    const clock = { now: START };
    const before = storeOn(clock);
    for (const key of ['alpha', 'beta', 'gamma']) before.set(record(key));
    const bad = corrupt(await writeFrom(before, clock));
    await writeFile(path, bad);

    const { store, snapshots, logged } = await loadInto(clock);

    expect(store.stats().entries).toBe(0);
    const movedTo = `${path}.corrupt-${new Date(START).toISOString().replace(/[:.]/g, '-')}`;
    expect(logged('cache snapshot unreadable: moved aside, starting empty')).toEqual([
      expect.objectContaining({ level: 40, path, movedTo, reason: expect.stringMatching(reason) }),
    ]);
    expect(await readFile(movedTo)).toEqual(bad);
    expect(await isMissing(path)).toBe(true);

    // The next write makes a new snapshot and leaves the bad one alone.
    store.set(record('after'));
    await snapshots.close();
    expect(keysOf((await readSnapshot(path)).entries)).toEqual(['after']);
    expect(await readFile(movedTo)).toEqual(bad);
  });

  it('goes beside an earlier one moved aside at the same time, never over it', async () => {
    await writeFile(path, 'bad');
    const first = `${path}.corrupt-${new Date(START).toISOString().replace(/[:.]/g, '-')}`;
    await writeFile(first, 'earlier');

    const movedTo = await moveAside(path, START);

    expect(movedTo).toBe(`${first}-2`);
    expect(await readFile(first, 'utf8')).toBe('earlier');
    expect(await readFile(movedTo, 'utf8')).toBe('bad');
  });
});

describe('writing a snapshot', () => {
  const entryOf = (value: GenerationRecord): SnapshotEntry => ({ record: value, storedAt: START, expiresAt: undefined, hits: 0, lastAccessedAt: START });

  it('that fails halfway leaves the previous snapshot as it was, and no temporary file', async () => {
    await writeSnapshot(path, { generatorId: GENERATOR_ID, writtenAt: START, entries: [entryOf(record('previous'))] });
    const previous = await readFile(path);
    // Over 2 MiB of lines, written in pieces, before the entry that fails.
    const many = Array.from({ length: 40 }, (_, index) => entryOf(record(`k${index}`, 'x'.repeat(64 * 1024))));
    const failing: SnapshotEntry = {
      ...entryOf(record('failing')),
      get record(): GenerationRecord {
        throw new Error('no space left on device, say');
      },
    };

    await expect(writeSnapshot(path, { generatorId: GENERATOR_ID, writtenAt: START + 1, entries: [...many, failing] })).rejects.toThrow(
      'no space left on device, say',
    );

    expect(await readFile(path)).toEqual(previous);
    expect(await readdir(directory)).toEqual(['snapshot']);
  });

  it('that fails is logged as an error and never rejects', async () => {
    const clock = { now: START };
    const store = storeOn(clock);
    store.set(record('k'));
    const { snapshots, logged } = snapshotsOf(store, clock);
    await snapshots.open();
    // The volume went away.
    await rm(directory, { recursive: true });

    expect(await snapshots.write()).toBe(false);
    await expect(snapshots.close()).resolves.toBeUndefined();

    expect(logged('cache snapshot not written: the previous one stays')).toEqual([
      expect.objectContaining({ level: 50, path, reason: 'requested', err: expect.objectContaining({ code: 'ENOENT' }) }),
      expect.objectContaining({ level: 50, path, reason: 'close' }),
    ]);
  });

  it('happens every intervalSeconds, and not before', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    onTestFinished(() => void vi.useRealTimers());
    const clock = { now: START };
    const store = storeOn(clock);
    const { snapshots, logged } = snapshotsOf(store, clock, { intervalSeconds: 60 });
    await snapshots.open();
    const taken = vi.spyOn(store, 'leastRecentFirst');
    store.set(record('a'));

    vi.advanceTimersByTime(59_999);
    await Promise.resolve();
    expect(taken).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    await expect.poll(() => logged('cache snapshot written').length).toBe(1);
    expect(keysOf((await readSnapshot(path)).entries)).toEqual(['a']);

    store.set(record('b'));
    vi.advanceTimersByTime(60_000);
    await expect.poll(() => logged('cache snapshot written').length).toBe(2);
    expect(keysOf((await readSnapshot(path)).entries)).toEqual(['a', 'b']);
    expect(logged('cache snapshot written')).toEqual([
      expect.objectContaining({ level: 30, path, reason: 'interval', entries: 1 }),
      expect.objectContaining({ level: 30, path, reason: 'interval', entries: 2 }),
    ]);

    await snapshots.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('with intervalSeconds 0 happens only at close', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    onTestFinished(() => void vi.useRealTimers());
    const clock = { now: START };
    const store = storeOn(clock);
    const { snapshots, logged } = snapshotsOf(store, clock, { intervalSeconds: 0 });
    await snapshots.open();
    store.set(record('a'));

    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(86_400_000);
    expect(await isMissing(path)).toBe(true);

    await snapshots.close();
    expect(logged('cache snapshot written')).toEqual([expect.objectContaining({ reason: 'close', entries: 1 })]);
  });

  it('at close waits for a write under way, then writes the cache as it is', async () => {
    const clock = { now: START };
    const store = storeOn(clock);
    const { snapshots, logged } = snapshotsOf(store, clock);
    await snapshots.open();
    store.set(record('a'));

    const first = snapshots.write();
    const closed = snapshots.close();
    store.set(record('b'));

    expect(await first).toBe(true);
    await closed;
    expect(logged('cache snapshot written').map((line) => line['reason'])).toEqual(['requested', 'close']);
    expect(keysOf((await readSnapshot(path)).entries)).toEqual(['a', 'b']);
  });

  it('never happens before the snapshot was opened, so an empty cache never replaces it', async () => {
    await writeSnapshot(path, { generatorId: GENERATOR_ID, writtenAt: START, entries: [entryOf(record('kept'))] });
    const previous = await readFile(path);
    const clock = { now: START };
    const { snapshots } = snapshotsOf(storeOn(clock), clock);

    expect(await snapshots.write()).toBe(false);
    await snapshots.close();

    expect(await readFile(path)).toEqual(previous);
  });
});

describe('the app with CACHE_SNAPSHOT_PATH', () => {
  it('loads the snapshot before listening and writes it at close, after the requests under way have stored', async () => {
    const { logger, lines } = captureLogs('info');
    const harness = createHarness({ env: { CACHE_SNAPSHOT_PATH: path }, logger });
    let release!: () => void;
    harness.generator.behaviour = { kind: 'held', release: new Promise<void>((resolve) => (release = resolve)) };
    const url = await harness.listen(0, '127.0.0.1');
    const inFlight = postOperation(fetch, url, GenerationDocument, { input: { prompt: 'in flight at close' } });
    await expect.poll(() => harness.service.stats().inFlight).toBe(1);

    const closed = harness.close();
    release();
    const [result] = await Promise.all([inFlight, closed]);

    const key = dataOf(result).generation?.key;
    expect(keysOf((await readSnapshot(path)).entries)).toEqual([key]);
    // The access log's 'request' lines aside.
    expect(lines.map((line) => line['msg']).filter((msg) => msg !== 'request')).toEqual(['no cache snapshot: starting empty', 'cache snapshot written']);
  });
});

describe('the server process with CACHE_SNAPSHOT_PATH', () => {
  const environment = () => serverEnv({ CACHE_SNAPSHOT_PATH: path });

  it('restarted after SIGTERM, answers what it generated before from its cache: HIT, and no generator call', async () => {
    const inputs = ['one', 'two', 'three'].map((word) => ({ prompt: `warm restart ${word}`, parameters: { maxTokens: 4 } }));
    const first = startServer(environment());
    const firstUrl = (await logLine(first, 'gencache listening')).url as string;
    const generated = [];
    for (const input of inputs) generated.push(dataOf(await postOperation(fetch, firstUrl, GenerationDocument, { input })).generation!);
    expect(generated.map((generation) => generation.cacheStatus)).toEqual(['MISS', 'MISS', 'MISS']);

    first.kill('SIGTERM');
    expect(await first.exited).toEqual([0, null]);
    expect(logLines(first, 'cache snapshot written')).toEqual([expect.objectContaining({ reason: 'close', entries: 3 })]);

    const second = startServer(environment());
    const secondUrl = (await logLine(second, 'gencache listening')).url as string;
    expect(logLines(second, 'cache snapshot loaded')).toEqual([expect.objectContaining({ path, restored: 3, expired: 0, dropped: 0 })]);
    const messages = second.lines.map((line) => parseLog(line)?.msg);
    expect(messages.indexOf('cache snapshot loaded')).toBeLessThan(messages.indexOf('gencache listening'));
    for (const [index, input] of inputs.entries()) {
      const again = dataOf(await postOperation(fetch, secondUrl, GenerationDocument, { input })).generation;
      expect(again).toEqual({ ...generated[index], cacheStatus: 'HIT' });
    }
    const stats = dataOf(await postOperation(fetch, secondUrl, CacheStatsDocument)).cacheStats;
    expect(stats).toMatchObject({ entries: 3, hits: 3, misses: 0, generations: 0 });

    second.kill('SIGTERM');
    expect(await second.exited).toEqual([0, null]);
  }, 60_000);

  it('started on a truncated snapshot, moves it aside with a warning, starts empty and serves', async () => {
    const entries = ['a', 'b', 'c'].map((key) => ({ record: record(key), storedAt: START, expiresAt: undefined, hits: 0, lastAccessedAt: START }));
    await writeSnapshot(path, { generatorId: GENERATOR_ID, writtenAt: START, entries });
    const whole = await readFile(path);
    const cut = whole.subarray(0, whole.length - 7);
    await writeFile(path, cut);

    const child = startServer(environment());
    const url = (await logLine(child, 'gencache listening')).url as string;

    const warning = logLines(child, 'cache snapshot unreadable: moved aside, starting empty')[0];
    expect(warning).toMatchObject({ level: 40, path, reason: 'truncated: the last line has no end', line: 4 });
    expect(await readFile(warning?.['movedTo'] as string)).toEqual(cut);
    const result = await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'after a bad snapshot' } });
    expect(dataOf(result).generation).toMatchObject({ prompt: 'after a bad snapshot', cacheStatus: 'MISS' });
    expect(dataOf(await postOperation(fetch, url, CacheStatsDocument)).cacheStats.entries).toBe(1);

    child.kill('SIGTERM');
    expect(await child.exited).toEqual([0, null]);
    expect((await readSnapshot(path)).entries.map((entry) => entry.record.prompt)).toEqual(['after a bad snapshot']);
    expect(await readFile(warning?.['movedTo'] as string)).toEqual(cut);
  }, 60_000);
});
