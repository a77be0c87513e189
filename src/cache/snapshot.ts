import { hash } from 'node:crypto';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { CHAT_ROLES } from '../generation/generator.js';
import type { RestoredEntry, RestoreResult } from './memory-store.js';
import type { GenerationRecord } from './store.js';

/**
 * Snapshots of the in-process cache, for a warm restart: written at close and every interval,
 * loaded at start.
 *
 * The file is UTF-8 text, one JSON value a line, each line ending in `\n`:
 *
 *     {"format":"gencache-snapshot","version":1,"writtenAt":…,"generatorId":"simulated/1","entries":2}
 *     {"sha256":"<64 hex digits>","entry":{"record":{…},"storedAt":…,"expiresAt":…|null,"hits":3,"lastAccessedAt":…}}
 *     …
 *
 * The header names the format and its version, and counts the entry lines that follow, so a file
 * cut at a line's end is told from a whole one. The entries come least recently used first, the
 * order in which `MemoryStore.restore` takes them. Each entry line carries the SHA-256 of the exact
 * bytes of its `entry` value, between `"entry":` and the line's last `}`; the value is then
 * checked by a zod schema. Times are epoch milliseconds.
 *
 * Invariants: a write never leaves a partial snapshot at `path`: it writes `<path>.tmp`, fsyncs it,
 * renames it over `path` and fsyncs the directory, and removes the temporary file when it fails.
 * A snapshot that cannot be read whole (any bad line, a wrong count, an unknown format or version,
 * an empty file, a read error) restores nothing and is renamed to `<path>.corrupt-<time>`, bytes
 * untouched; it is never overwritten: when it cannot be moved aside, nothing is written either.
 * Neither a load nor a write ever rejects: failures are logged, and the server runs on.
 */

export const SNAPSHOT_FORMAT = 'gencache-snapshot';
export const SNAPSHOT_VERSION = 1;
/**
 * Between periodic writes: five minutes. The write at close covers a graceful stop; the interval
 * bounds what a crash (SIGKILL, the OOM killer, a lost machine) loses to five minutes of
 * generations, each seconds to minutes of a GPU. A write serialises, hashes and rewrites the
 * whole cache, yielding to requests between batches: 136 MiB took 0.6 s (2 cores, Node 20), so
 * about 2.5 s at the default 512 MiB bound, and twelve of them an hour stay under 1% of a core.
 */
export const DEFAULT_SNAPSHOT_INTERVAL_SECONDS = 300;
/** A day. */
export const MAX_SNAPSHOT_INTERVAL_SECONDS = 86_400;

/** An entry as a snapshot holds it; `CacheEntry` is one. */
export type SnapshotEntry = RestoredEntry;

export interface SnapshotHeader {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: typeof SNAPSHOT_VERSION;
  /** When the entries were taken from the cache. */
  readonly writtenAt: number;
  /** The generator of the process that wrote it, whose id is part of every key it made. */
  readonly generatorId: string;
  /** Entry lines after the header. */
  readonly entries: number;
}

export interface Snapshot {
  readonly header: SnapshotHeader;
  /** Least recently used first. */
  readonly entries: readonly SnapshotEntry[];
}

/** A file at the snapshot path that is not a whole snapshot this version can read. */
export class SnapshotCorruptError extends Error {
  constructor(
    readonly reason: string,
    /** The 1-based line at fault, when one is. */
    readonly line?: number,
  ) {
    super(line === undefined ? reason : `line ${line}: ${reason}`);
    this.name = 'SnapshotCorruptError';
  }
}

const headerSchema = z.strictObject({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.literal(SNAPSHOT_VERSION),
  // Within what a Date can show.
  writtenAt: z.number().nonnegative().max(8.64e15),
  generatorId: z.string().min(1),
  entries: z.number().int().nonnegative(),
});

// Loose: a field a later record carries passes through; the checksum has vouched for its bytes.
const recordSchema = z.looseObject({
  key: z.string().min(1),
  prompt: z.string(),
  model: z.string(),
  parameters: z.record(z.string(), z.unknown()),
  output: z.string(),
  contentType: z.string(),
  createdAt: z.number(),
  generationMs: z.number().nonnegative(),
  promptTokens: z.int().nonnegative().optional(),
  completionTokens: z.int().nonnegative().optional(),
  messages: z.array(z.strictObject({ role: z.enum(CHAT_ROLES), content: z.string() })).optional(),
}) satisfies z.ZodType<GenerationRecord>;

const entrySchema = z
  .strictObject({
    record: recordSchema,
    storedAt: z.number().nonnegative(),
    expiresAt: z.number().nullable(),
    hits: z.number().int().nonnegative(),
    lastAccessedAt: z.number().nonnegative(),
  })
  .refine((entry) => entry.expiresAt === null || entry.expiresAt > entry.storedAt, 'expiresAt must be after storedAt');

/** What comes before and after the checksum on an entry line; the entry follows, then `}`. */
const LINE_START = '{"sha256":"';
const LINE_MIDDLE = '","entry":';
const DIGEST_LENGTH = 64;
const ENTRY_OFFSET = LINE_START.length + DIGEST_LENGTH + LINE_MIDDLE.length;
const NEWLINE = 0x0a;
/** Text is written in pieces of about this many characters, yielding to the event loop between. */
const WRITE_BATCH_CHARACTERS = 1 << 20;

/** The line of one entry, its newline included. */
function entryLine({ record, storedAt, expiresAt, hits, lastAccessedAt }: SnapshotEntry): string {
  const entry = JSON.stringify({ record, storedAt, expiresAt: expiresAt ?? null, hits, lastAccessedAt });
  return `${LINE_START}${hash('sha256', entry, 'hex')}${LINE_MIDDLE}${entry}}\n`;
}

/**
 * Writes the entries, least recently used first, as the snapshot at `path`, atomically (see the
 * invariants above). Resolves the bytes written; rejects with the error of the step that failed,
 * having removed its temporary file and left `path` as it was.
 */
export async function writeSnapshot(
  path: string,
  snapshot: { readonly generatorId: string; readonly writtenAt: number; readonly entries: readonly SnapshotEntry[] },
): Promise<number> {
  const header: SnapshotHeader = {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    writtenAt: snapshot.writtenAt,
    generatorId: snapshot.generatorId,
    entries: snapshot.entries.length,
  };
  const temporary = `${path}.tmp`;
  let bytes = 0;
  // Owner only: records hold users' prompts and outputs.
  const handle = await open(temporary, 'w', 0o600);
  try {
    try {
      let batch = `${JSON.stringify(header)}\n`;
      for (const entry of snapshot.entries) {
        batch += entryLine(entry);
        if (batch.length >= WRITE_BATCH_CHARACTERS) {
          bytes += await writeAll(handle, batch);
          batch = '';
        }
      }
      bytes += await writeAll(handle, batch);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
  return bytes;
}

/**
 * Reads and checks the whole snapshot at `path`. Rejects with a `SnapshotCorruptError` when it is
 * not a whole snapshot of this version, and with the file system's error when it cannot be read
 * (`ENOENT` when there is none).
 */
export async function readSnapshot(path: string): Promise<Snapshot> {
  const handle = await open(path, 'r');
  let header: SnapshotHeader | undefined;
  const entries: SnapshotEntry[] = [];
  let lineNumber = 0;
  try {
    for await (const { line, ended } of linesOf(handle)) {
      lineNumber++;
      if (!ended) throw new SnapshotCorruptError('truncated: the last line has no end', lineNumber);
      if (header === undefined) {
        header = parseHeader(line);
        continue;
      }
      if (entries.length === header.entries) throw new SnapshotCorruptError(`more entry lines than the ${header.entries} the header counts`, lineNumber);
      entries.push(parseEntryLine(line, lineNumber));
    }
  } finally {
    await handle.close();
  }
  if (header === undefined) throw new SnapshotCorruptError('empty: no header');
  if (entries.length < header.entries) {
    throw new SnapshotCorruptError(`truncated: ${entries.length} entry lines of the ${header.entries} the header counts`);
  }
  return { header, entries };
}

/**
 * Renames a snapshot that could not be read to `<path>.corrupt-<UTC time>` (with `-2`, `-3`… if
 * that is taken), keeping its bytes for a post-mortem; resolves the new path.
 */
export async function moveAside(path: string, at: number): Promise<string> {
  const base = `${path}.corrupt-${new Date(at).toISOString().replace(/[:.]/g, '-')}`;
  for (let attempt = 1; ; attempt++) {
    const target = attempt === 1 ? base : `${base}-${attempt}`;
    if (await exists(target)) continue;
    await rename(path, target);
    return target;
  }
}

function parseHeader(line: Buffer): SnapshotHeader {
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    throw new SnapshotCorruptError('not a gencache snapshot: the first line is not JSON', 1);
  }
  const { format, version } = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (format !== SNAPSHOT_FORMAT) throw new SnapshotCorruptError(`not a gencache snapshot: format ${JSON.stringify(format)}`, 1);
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotCorruptError(`unknown version ${JSON.stringify(version)}: this build reads version ${SNAPSHOT_VERSION}`, 1);
  }
  const header = headerSchema.safeParse(value);
  if (!header.success) throw new SnapshotCorruptError(`bad header: ${z.prettifyError(header.error)}`, 1);
  return header.data;
}

function parseEntryLine(line: Buffer, lineNumber: number): SnapshotEntry {
  const shaped =
    line.length > ENTRY_OFFSET &&
    line.toString('latin1', 0, LINE_START.length) === LINE_START &&
    line.toString('latin1', ENTRY_OFFSET - LINE_MIDDLE.length, ENTRY_OFFSET) === LINE_MIDDLE &&
    line[line.length - 1] === 0x7d;
  if (!shaped) throw new SnapshotCorruptError('not an entry line', lineNumber);
  const digest = line.toString('latin1', LINE_START.length, LINE_START.length + DIGEST_LENGTH);
  const body = line.subarray(ENTRY_OFFSET, line.length - 1);
  if (hash('sha256', body, 'hex') !== digest) throw new SnapshotCorruptError('checksum mismatch', lineNumber);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new SnapshotCorruptError('entry is not JSON', lineNumber);
  }
  const entry = entrySchema.safeParse(value);
  if (!entry.success) throw new SnapshotCorruptError(`bad entry: ${z.prettifyError(entry.error)}`, lineNumber);
  const { record, storedAt, expiresAt, hits, lastAccessedAt } = entry.data;
  return { record, storedAt, expiresAt: expiresAt ?? undefined, hits, lastAccessedAt };
}

/** The lines of a file as bytes, without their `\n`; `ended` is false for a last line without one. */
async function* linesOf(handle: FileHandle): AsyncGenerator<{ line: Buffer; ended: boolean }> {
  let pending: Buffer[] = [];
  for await (const chunk of handle.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, end);
      yield { line: pending.length === 0 ? piece : Buffer.concat([...pending, piece]), ended: true };
      pending = [];
      start = end + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) yield { line: Buffer.concat(pending), ended: false };
}

/** Writes all of the text (a write may take part of it); resolves its bytes. */
async function writeAll(handle: FileHandle, text: string): Promise<number> {
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, offset);
    if (bytesWritten === 0) throw new Error(`wrote 0 of ${bytes.length - offset} bytes`);
    offset += bytesWritten;
  }
  return bytes.length;
}

/** Makes a rename in the directory durable. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(directory, 'r');
  } catch (error) {
    // Where a directory cannot be opened (Windows), the rename is as durable as the system makes it.
    if (isErrno(error, 'EISDIR', 'EPERM', 'EACCES')) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!isErrno(error, 'EINVAL', 'ENOTSUP', 'EPERM')) throw error;
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}

const isErrno = (error: unknown, ...codes: string[]): boolean =>
  error instanceof Error && codes.includes((error as NodeJS.ErrnoException).code ?? '');

/** What the snapshots need of the in-process store; `MemoryStore` is one. */
export interface SnapshotSource {
  /** The entries from least to most recently used, expired ones left out. */
  leastRecentFirst(): Iterable<SnapshotEntry>;
  /** Puts back entries given least recently used first, into an empty store. */
  restore(entries: Iterable<SnapshotEntry>): RestoreResult;
}

/** The logging the snapshots do; a pino logger is one. */
export interface SnapshotLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface CacheSnapshotsOptions {
  /**
   * The snapshot file. Its directory must exist and be writable; `<path>.tmp` is the file being
   * written, `<path>.corrupt-<time>` a snapshot that could not be read. One process a path.
   */
  readonly path: string;
  /** Seconds between periodic writes; 0: only at close. @default 300 */
  readonly intervalSeconds?: number;
  readonly store: SnapshotSource;
  /** The id of the current generator, written in the header. */
  readonly generatorId: string;
  readonly logger: SnapshotLogger;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

/**
 * The snapshots of one store: `open` loads the snapshot and starts the periodic writes, `close`
 * stops them and writes a last one. Nothing is written before `open` has run (a process that never
 * loaded has nothing to add to the file, and its empty cache must not replace it), nor ever after
 * a snapshot that could not be read failed to move aside. Writes never overlap: a periodic one is
 * skipped while a write runs, and the one at close waits for it.
 *
 * A snapshot of another generator (its header names another id) is loaded all the same: its keys
 * were made with that id, so no request of this generator can hit them and none is served a
 * result it did not ask for. They are older than anything stored from now on and so the first to
 * go as the cache fills, and while they last a switch back to that generator finds them warm.
 */
export class CacheSnapshots {
  readonly #path: string;
  readonly #intervalMs: number;
  readonly #store: SnapshotSource;
  readonly #generatorId: string;
  readonly #logger: SnapshotLogger;
  readonly #now: () => number;
  #state: 'new' | 'open' | 'closed' = 'new';
  /** False when a snapshot that could not be read is still at the path. */
  #writable = true;
  #timer: NodeJS.Timeout | undefined;
  /** The last write asked for; each starts when the one before has settled. */
  #writing: Promise<boolean> = Promise.resolve(true);
  /** Writes asked for and not yet settled. */
  #pending = 0;

  constructor(options: CacheSnapshotsOptions) {
    const { intervalSeconds = DEFAULT_SNAPSHOT_INTERVAL_SECONDS } = options;
    if (!Number.isInteger(intervalSeconds) || intervalSeconds < 0 || intervalSeconds > MAX_SNAPSHOT_INTERVAL_SECONDS) {
      throw new TypeError(`intervalSeconds must be an integer from 0 to ${MAX_SNAPSHOT_INTERVAL_SECONDS}, got ${String(intervalSeconds)}`);
    }
    this.#path = options.path;
    this.#intervalMs = intervalSeconds * 1000;
    this.#store = options.store;
    this.#generatorId = options.generatorId;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** Loads the snapshot into the store (which must be empty), then starts the periodic writes. Never rejects. */
  async open(): Promise<void> {
    if (this.#state !== 'new') return;
    await this.#load();
    if (this.#state !== 'new') return;
    this.#state = 'open';
    if (this.#intervalMs > 0) {
      // Unref'd: a pending snapshot never keeps the process alive.
      this.#timer = setInterval(() => {
        if (this.#pending === 0) void this.#enqueue('interval');
      }, this.#intervalMs).unref();
    }
  }

  /**
   * Writes the store's entries now, after any write under way; resolves whether it was written
   * (never before `open` or after `close`). Never rejects: a failure is logged, and the previous
   * snapshot stays.
   */
  write(reason = 'requested'): Promise<boolean> {
    return this.#state === 'open' ? this.#enqueue(reason) : Promise.resolve(false);
  }

  /** Stops the periodic writes and, if the snapshots were opened, writes a last one. Never rejects. */
  async close(): Promise<void> {
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    clearInterval(this.#timer);
    if (wasOpen) await this.#enqueue('close');
  }

  #enqueue(reason: string): Promise<boolean> {
    this.#pending++;
    const run = this.#writing.then(() => this.#write(reason)).finally(() => this.#pending--);
    this.#writing = run;
    return run;
  }

  async #load(): Promise<void> {
    const started = this.#now();
    let snapshot: Snapshot;
    try {
      snapshot = await readSnapshot(this.#path);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) {
        this.#logger.info({ path: this.#path }, 'no cache snapshot: starting empty');
        return;
      }
      await this.#setAside(error);
      return;
    }
    try {
      const { header, entries } = snapshot;
      const result = this.#store.restore(entries);
      this.#logger.info(
        { path: this.#path, ...result, writtenAt: new Date(header.writtenAt).toISOString(), generatorId: header.generatorId, ms: this.#now() - started },
        'cache snapshot loaded',
      );
      if (header.generatorId !== this.#generatorId) {
        this.#logger.info(
          { path: this.#path, snapshotGeneratorId: header.generatorId, generatorId: this.#generatorId },
          'cache snapshot of another generator: its entries cannot be hit by this one and are the first to go',
        );
      }
    } catch (error) {
      this.#logger.error({ path: this.#path, err: error }, 'cache snapshot not loaded');
    }
  }

  /** Moves a snapshot that could not be read out of the way, or, failing that, stops all writes. */
  async #setAside(problem: unknown): Promise<void> {
    const reason = problem instanceof SnapshotCorruptError ? problem.reason : problem instanceof Error ? problem.message : String(problem);
    const line = problem instanceof SnapshotCorruptError ? problem.line : undefined;
    try {
      const movedTo = await moveAside(this.#path, this.#now());
      this.#logger.warn({ path: this.#path, movedTo, reason, line }, 'cache snapshot unreadable: moved aside, starting empty');
    } catch (error) {
      this.#writable = false;
      this.#logger.error(
        { path: this.#path, reason, line, err: error },
        'cache snapshot unreadable and not moved aside: starting empty, and writing no snapshot so as not to replace it',
      );
    }
  }

  async #write(reason: string): Promise<boolean> {
    if (!this.#writable) return false;
    const started = this.#now();
    try {
      // Taken at once: the cache changes while the file is written.
      const entries = [...this.#store.leastRecentFirst()];
      const bytes = await writeSnapshot(this.#path, { generatorId: this.#generatorId, writtenAt: started, entries });
      this.#logger.info({ path: this.#path, reason, entries: entries.length, bytes, ms: this.#now() - started }, 'cache snapshot written');
      return true;
    } catch (error) {
      this.#logger.error({ path: this.#path, reason, err: error }, 'cache snapshot not written: the previous one stays');
      return false;
    }
  }
}
