import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export type ServerProcess = ChildProcessByStdio<null, Readable, Readable> & {
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Emits 'line' for each stdout line, after it is added to `lines`. */
  readonly stdoutLines: Interface;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Exit code and signal. */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
};

/** Variables that would make a server join the shell's Redis (CI exports REDIS_URL for the fleet tests). */
const FLEET_VARIABLES = ['REDIS_URL', 'CACHE_NAMESPACE', 'CACHE_SNAPSHOT_PATH', 'CACHE_SNAPSHOT_INTERVAL_SECONDS', 'INSTANCE_ID'];
const withoutFleet = (environment: NodeJS.ProcessEnv): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(environment).filter(([name]) => !FLEET_VARIABLES.includes(name)));

/**
 * The environment of a server on a free port of 127.0.0.1 with the simulated generator (no
 * latency), logging at info (the tests read the 'gencache listening' line), without an admin token,
 * alone (the shell's Redis and snapshot settings dropped) unless the overrides say otherwise.
 */
export const serverEnv = (overrides: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...withoutFleet(process.env),
  PORT: '0',
  HOST: '127.0.0.1',
  GENERATOR: 'simulated',
  GENERATOR_LATENCY_MS: '0',
  LOG_LEVEL: 'info',
  ADMIN_TOKEN: '',
  ...overrides,
});

/**
 * Runs the real entry point as `node --import tsx src/index.ts` in the repository root, for the
 * current test only: a process still running when the test finishes is killed.
 */
export const startServer = (env: NodeJS.ProcessEnv): ServerProcess => startProcess(process.execPath, ['--import', 'tsx', 'src/index.ts'], env);

/**
 * Runs a command in the repository root for the current test only; `detached` makes it the
 * leader of a new process group, which is killed whole if still running when the test finishes.
 */
export function startProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv, detached = false): ServerProcess {
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached });
  const lines: string[] = [];
  const stdoutLines = createInterface({ input: child.stdout });
  stdoutLines.on('line', (line) => lines.push(line));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'close' rather than 'exit': it waits for stdout and stderr to be fully read.
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      if (detached) process.kill(-child.pid!, 'SIGKILL');
      else child.kill('SIGKILL');
      await exited;
    }
  });
  return Object.assign(child, { lines, stdoutLines, stderr: () => stderr, exited });
}

export interface LogLine {
  readonly msg?: string;
  readonly level?: number;
  /** The GraphQL URL, on 'gencache listening'. */
  readonly url?: string;
  readonly [field: string]: unknown;
}

export const parseLog = (line: string): LogLine | undefined => {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined;
  }
};

/** The pino log lines with this message so far. */
export const logLines = (child: ServerProcess, msg: string): LogLine[] =>
  child.lines.map(parseLog).filter((log): log is LogLine => log?.msg === msg);

/** The first pino log line with this message; rejects if the process exits first. */
export function logLine(child: ServerProcess, msg: string): Promise<LogLine> {
  return new Promise<LogLine>((resolve, reject) => {
    const find = () => logLines(child, msg)[0];
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
