import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheStatsDocument, GenerationDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, postOperation } from './helpers/harness.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

type ServerProcess = ChildProcessByStdio<null, Readable, Readable> & {
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Emits 'line' for each stdout line, after it is added to `lines`. */
  readonly stdoutLines: Interface;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Exit code and signal. */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
};

const started: ServerProcess[] = [];

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await child.exited;
    }
  }
});

/** Runs the real entry point as `node --import tsx src/index.ts` in the repository root. */
const startServer = (env: NodeJS.ProcessEnv): ServerProcess => startProcess(process.execPath, ['--import', 'tsx', 'src/index.ts'], env);

/** Runs a command in the repository root; `detached` makes it the leader of a new process group. */
function startProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv, detached = false): ServerProcess {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  const lines: string[] = [];
  const stdoutLines = createInterface({ input: child.stdout });
  stdoutLines.on('line', (line) => lines.push(line));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'close' rather than 'exit': it waits for stdout and stderr to be fully read.
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const server = Object.assign(child, { lines, stdoutLines, stderr: () => stderr, exited });
  started.push(server);
  return server;
}

interface LogLine {
  readonly msg?: string;
  readonly url?: string;
  readonly [field: string]: unknown;
}

const parseLog = (line: string): LogLine | undefined => {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined;
  }
};

/** The first pino log line with this message; rejects if the process exits first. */
function logLine(child: ServerProcess, msg: string): Promise<LogLine> {
  return new Promise<LogLine>((resolve, reject) => {
    const find = () => child.lines.map(parseLog).find((log) => log?.msg === msg);
    const onLine = () => {
      const log = find();
      if (log === undefined) return;
      child.stdoutLines.off('line', onLine);
      resolve(log);
    };
    child.stdoutLines.on('line', onLine);
    onLine();
    void child.exited.then(([code]) => {
      const log = find();
      if (log !== undefined) resolve(log);
      else reject(new Error(`the server exited with ${code} before logging "${msg}"; stderr: ${child.stderr()}`));
    });
  });
}

describe('the server process', () => {
  it('exits with code 1 and names PORT on stderr when PORT is invalid', async () => {
    const child = startServer({ ...process.env, PORT: 'abc' });

    const [code] = await child.exited;

    expect(code).toBe(1);
    expect(child.stderr()).toMatch(/\bPORT: /);
  });

  it('exits with code 1 and a log line naming the address when the port is in use', async () => {
    const occupant = createServer();
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve));
    const { port } = occupant.address() as AddressInfo;
    try {
      const child = startServer({ ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' });

      const refusal = await logLine(child, 'cannot listen');
      const [code] = await child.exited;

      expect(code).toBe(1);
      expect(refusal).toMatchObject({ level: 60, address: `127.0.0.1:${port}`, err: { code: 'EADDRINUSE' } });
      expect(child.lines.map(parseLog).map((log) => log?.msg)).not.toContain('gencache listening');
    } finally {
      occupant.close();
    }
  });

  it('serves generations on the URL it logs and exits 0 on SIGTERM', async () => {
    const child = startServer({
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      GENERATOR: 'simulated',
      GENERATOR_LATENCY_MS: '0',
      // The test reads the 'gencache listening' line, which needs at least info.
      LOG_LEVEL: 'info',
      ADMIN_TOKEN: '',
    });

    const listening = await logLine(child, 'gencache listening');
    expect(listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    const adminWarning = await logLine(
      child,
      'ADMIN_TOKEN is not set: the admin surface is open to loopback clients only, without a token',
    );
    expect(adminWarning.level).toBe(40);

    const input = { prompt: 'hello from a real socket', parameters: { maxTokens: 3 } };
    const result = await postOperation(fetch, listening.url!, GenerationDocument, { input });
    const generation = dataOf(result).generation;
    // The simulated generator's output is a function of the key alone: the in-process server must agree.
    const expected = dataOf(await createHarness().execute(GenerationDocument, { input })).generation;

    expect(result.status).toBe(200);
    expect(generation).toMatchObject({
      prompt: 'hello from a real socket',
      model: 'sim-1',
      contentType: 'text/plain',
      cacheStatus: 'MISS',
      key: expected?.key,
      output: expected?.output,
    });

    child.kill('SIGTERM');
    const [code, signal] = await child.exited;

    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(child.lines.map(parseLog).map((log) => log?.msg)).toEqual(
      expect.arrayContaining(['gencache listening', 'shutting down', 'stopped']),
    );
  });

  // A terminal's Ctrl-C and a supervisor signal the whole process group: npm and node both get
  // the signal, and npm forwards it to node once more.
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'under npm start, %s to the process group lets the request in flight finish, and npm exits 0',
    async (groupSignal) => {
      const child = startProcess('npm', ['start', '--silent'], {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        GENERATOR: 'simulated',
        GENERATOR_LATENCY_MS: '1500',
        LOG_LEVEL: 'info',
        ADMIN_TOKEN: '',
      }, true);
      const listening = await logLine(child, 'gencache listening');
      const inFlight = postOperation(fetch, listening.url!, GenerationDocument, { input: { prompt: `in flight at ${groupSignal}` } });
      // Signalled only once the generation is under way.
      await expect.poll(async () => dataOf(await postOperation(fetch, listening.url!, CacheStatsDocument)).cacheStats.inFlight, { interval: 50 }).toBe(1);

      process.kill(-child.pid!, groupSignal);
      const [result, [code, signal]] = await Promise.all([inFlight, child.exited]);

      expect(result.status).toBe(200);
      expect(dataOf(result).generation).toMatchObject({ prompt: `in flight at ${groupSignal}`, cacheStatus: 'MISS' });
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      const messages = child.lines.map(parseLog).map((log) => log?.msg);
      expect(messages).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
      expect(messages.indexOf('stopped')).toBeGreaterThan(messages.indexOf('shutting down'));
    },
    120_000,
  );
});
