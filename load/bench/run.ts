/**
 * The local benchmark (`npm run bench`): measures the cache against its baselines in one run,
 * side by side, and reports ratios. It starts every server it needs on 127.0.0.1 (pinned to
 * core 0 when `taskset` exists, the client on core 1), stops them at the end, prints a table
 * and writes load/results/latest.json. `--smoke` runs every section briefly (the test suite
 * does, so that the benchmark cannot rot); its figures mean nothing, so it writes them to a
 * temporary folder, never over the committed results. `--out <file>` writes the JSON elsewhere.
 * `--soak [--soak-seconds N]` runs the soak instead (./soak.ts): minutes of mixed and hostile
 * traffic against a server with small cache bounds, every answer classified; it writes JSON only
 * with `--out`. `--only hit`, `--only shared` and `--only streaming` run one section and print
 * its figures as JSON, writing nothing. The shared-tier section needs Redis (REDIS_URL, else
 * redis://127.0.0.1:6379) and is skipped, saying so, when it does not answer; every other section
 * measures one instance alone, whatever REDIS_URL the shell has. The streaming section
 * (./streaming.ts) serves from this process, so that the generator's pieces and their arrival at
 * the subscribers are timed on one clock.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem, type as osType, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { print } from 'graphql';
import { Redis } from 'ioredis';
import { createApp, type App } from '../../src/app.js';
import { MemoryStore } from '../../src/cache/memory-store.js';
import type { GenerationRecord } from '../../src/cache/store.js';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS } from '../../src/fleet/redis-link.js';
import { GenerationDocument, GenerationOutputDocument, GenerationsDocument } from '../../src/generated/graphql.js';
import { createLogger } from '../../src/logger.js';
import { seededRandom } from './seeded-random.js';
import type { Variant } from './server.js';
import { streamingSection, type StreamingResults } from './streaming.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const outIndex = args.indexOf('--out');
/**
 * `--only hit` runs the hit-path section alone, `--only shared` the shared-tier section,
 * `--only streaming` the streaming section; each prints its figures and writes nothing: for
 * working on one path.
 */
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
if (only !== undefined && only !== 'hit' && only !== 'shared' && only !== 'streaming') {
  process.stderr.write(`--only takes hit, shared or streaming, got ${only ?? 'nothing'}\n`);
  process.exit(2);
}
const soak = args.includes('--soak');
const soakSeconds = args.includes('--soak-seconds') ? Number(args[args.indexOf('--soak-seconds') + 1]) : 300;
if (!(soakSeconds > 0)) {
  process.stderr.write(`--soak-seconds must be a positive number of seconds, got ${args[args.indexOf('--soak-seconds') + 1] ?? 'nothing'}\n`);
  process.exit(2);
}
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

// The client runs on core 1, the servers on core 0: re-run this process pinned. The smoke run
// measures nothing, and starts faster on both cores; the soak measures no speed, and serves from
// this process.
const pinned = hasTaskset && !smoke && !soak;
if (pinned && process.env['BENCH_PINNED'] === undefined) {
  const child = spawnSync('taskset', ['-c', '1', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_PINNED: '1' },
  });
  process.exit(child.status ?? 1);
}

/** Durations and sizes; the smoke run keeps every section but makes each short. */
const SCALE = smoke
  ? {
      seconds: 0.25,
      rounds: 1,
      warmupSeconds: 0.1,
      pool: 12,
      coalesce: { prompts: 3, concurrent: 20 },
      memoryEntries: 1000,
      sharedPool: 100,
      storm: { prompts: 3, perInstance: 5, storms: 1 },
      streaming: { subscribers: 10, rounds: 1, warmUpRounds: 0, words: 40, latencyMs: 200 },
    }
  : {
      seconds: 4,
      rounds: 7,
      warmupSeconds: 2,
      pool: 300,
      coalesce: { prompts: 5, concurrent: 50 },
      memoryEntries: 10_000,
      sharedPool: 256,
      storm: { prompts: 16, perInstance: 25, storms: 3 },
      streaming: { subscribers: 100, rounds: 5, warmUpRounds: 1, words: 200, latencyMs: 2000 },
    };
const GENERATOR_LATENCY_MS = smoke ? 5 : 50;
const GENERATOR_CONCURRENCY = 4;
/**
 * The generator's latency in the duplicate storm of the shared-tier section: long enough that the
 * duplicates, sent over as long a spread, overlap the generation on both instances, smoke or not.
 */
const STORM_GENERATOR_LATENCY_MS = smoke ? 200 : 300;

const progress = (message: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);

// ---------------------------------------------------------------------------------------------
// Servers

interface RunningServer {
  readonly variant: Variant;
  readonly url: string;
  /**
   * CPU seconds the server's process has used (user and system, from /proc); undefined where
   * there is no such process of its own (the smoke run serves from this one) or no /proc.
   */
  cpuSeconds(): number | undefined;
  /** Stops the server; resolves once it has stopped. */
  stop(): Promise<void>;
}

/** Clock ticks a second of /proc/<pid>/stat's times: USER_HZ, 100 on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds of a process so far, user and system; undefined when /proc cannot tell. */
function cpuSecondsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th of the line.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * Variables of the shell that would join a server to a Redis or give it a snapshot file. A
 * server gets none of them unless its section gives them: the sections measure one instance
 * alone, and none writes into a namespace or a file it does not own.
 */
const SHELL_VARIABLES_LEFT_OUT = [
  'REDIS_URL',
  'CACHE_NAMESPACE',
  'REDIS_COMMAND_TIMEOUT_MS',
  'CACHE_LOCK_TTL_MS',
  'INSTANCE_ID',
  'CACHE_SNAPSHOT_PATH',
  'CACHE_SNAPSHOT_INTERVAL_SECONDS',
];

/**
 * The servers run compiled JavaScript, as in production: a TypeScript loader adds work of its own
 * (tsx names every function it creates) that would be measured with the server. The smoke run
 * skips the compilation and serves from this process.
 */
function compileServers(): void {
  if (smoke) return;
  progress('compiling the servers (tsc -p load/bench)');
  const tsc = spawnSync(process.execPath, [resolve(ROOT, 'node_modules/typescript/bin/tsc'), '-p', resolve(ROOT, 'load/bench')], {
    stdio: 'inherit',
  });
  if (tsc.status !== 0) throw new Error('tsc -p load/bench failed');
}

async function startServer(variant: Variant, env: Record<string, string> = {}): Promise<RunningServer> {
  const shell = Object.fromEntries(Object.entries(process.env).filter(([name]) => !SHELL_VARIABLES_LEFT_OUT.includes(name)));
  const environment = {
    ...shell,
    LOG_LEVEL: 'silent',
    GENERATOR: 'simulated',
    GENERATOR_LATENCY_MS: String(GENERATOR_LATENCY_MS),
    GENERATOR_CONCURRENCY: String(GENERATOR_CONCURRENCY),
    GENERATOR_QUEUE_MAX: '100000',
    CACHE_MAX_SIZE: '100000',
    NODE_ENV: 'production',
    ...env,
  };
  if (smoke) {
    const { createBenchServer } = await import('./server.js');
    const server = createBenchServer(variant, environment);
    const port = await server.listen();
    return { variant, url: `http://127.0.0.1:${port}/graphql`, cpuSeconds: () => undefined, stop: () => server.close() };
  }
  const command = [process.execPath, resolve(ROOT, 'load/.build/load/bench/server.js'), variant, '0'];
  const child = spawn(pinned ? 'taskset' : command[0]!, pinned ? ['-c', '0', ...command] : command.slice(1), {
    cwd: ROOT,
    env: environment,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    child.once('exit', (code) => reject(new Error(`${variant} server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^listening (\d+)$/.exec(line);
      if (match) resolvePort(Number(match[1]));
    });
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  return {
    variant,
    url: `http://127.0.0.1:${port}/graphql`,
    // taskset execs node in its own process, so the child's pid is the server's.
    cpuSeconds: () => cpuSecondsOf(child.pid),
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Client

interface Measured {
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  readonly failures: number;
}

interface Load {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  /** A fixed body, or a function giving the body of each request. */
  readonly body: string | (() => string);
  /**
   * The one answer every response must be, byte for byte, or a test of each answer; without
   * either, a response must carry no GraphQL `errors` (which come with HTTP 200). Any other
   * answer counts as a failure.
   */
  readonly answer?: string | ((body: string) => boolean);
  readonly onBody?: (body: string) => void;
}

async function cannon({ url, connections, seconds, body, answer, onBody }: Load): Promise<Measured> {
  const result = await autocannon({
    url,
    connections,
    verifyBody:
      answer === undefined
        ? (text) => !String(text).includes('"errors"')
        : typeof answer === 'string'
          ? (text) => String(text) === answer
          : (text) => answer(String(text)),
    // autocannon counts whole seconds; the smoke run sends a fixed number of requests instead.
    ...(smoke ? { amount: connections * 8 } : { duration: seconds }),
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        ...(typeof body === 'string' ? { body } : { setupRequest: (request) => ({ ...request, body: body() }) }),
        ...(onBody ? { onResponse: (_status: number, responseBody: string) => onBody(responseBody) } : {}),
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    requests: result.requests.total,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
    // autocannon counts each timeout among the errors as well.
    failures: result.errors + result.non2xx + result.mismatches,
  };
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** The sum of a Prometheus metric's series on the server's /metrics. */
async function metric(server: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(server.url.replace('/graphql', '/metrics'))).text();
  let total = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) total += Number(match[1]);
  return total;
}

/** Generator calls the server has finished, from its Prometheus counters. */
const generatorCalls = (server: RunningServer) => metric(server, 'gencache_generation_duration_seconds_count');

/** Stores a pool of prompts through `generations` batches. */
async function warmPool(server: RunningServer, prompts: readonly string[]): Promise<void> {
  for (let start = 0; start < prompts.length; start += 100) {
    const inputs = prompts.slice(start, start + 100).map((prompt) => ({ prompt }));
    const { json } = await post(server.url, { query: print(GenerationsDocument), variables: { inputs } });
    if (json['errors']) throw new Error(`warming ${server.variant} failed: ${JSON.stringify(json['errors'])}`);
  }
}

const generationBody = (prompt: string) => JSON.stringify({ query: print(GenerationDocument), variables: { input: { prompt } } });
const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
const round = (value: number, digits = 2) => Number(value.toFixed(digits));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

// ---------------------------------------------------------------------------------------------
// Sections

/**
 * 1. Requests/s of a cached generation against bare Yoga, default and tuned, and against the same
 * generation cached by mercurius-cache on Fastify and Mercurius, alternating; through Yoga
 * alone (the fast lane off), to show what the lane gives; and through the floor of a Yoga front
 * door (Yoga's `getEnveloped()` with none of the service's plugins), to show how much of the gap
 * to the peer is Yoga's pipeline itself. Each run's server CPU time a request is read from /proc,
 * which the machine's noise moves less than requests/s.
 */
async function hitPath(
  gencache: RunningServer,
  withoutLane: RunningServer,
  bare: RunningServer,
  tuned: RunningServer,
  mercurius: RunningServer,
  floor: RunningServer,
) {
  const input = { prompt: 'the hit-path prompt' };
  // The lean operation (the output only) against a constant field, like for like; the whole
  // GenerationFields fragment is measured beside it.
  const hitBody = JSON.stringify({ query: print(GenerationOutputDocument), variables: { input } });
  const fullBody = JSON.stringify({ query: print(GenerationDocument), variables: { input } });
  const helloBody = JSON.stringify({ query: '{ hello }' });
  // Every response must be the answer to a repeat before the load: a cached generation, or the
  // constant.
  const answerTo = async (server: RunningServer, body: string) => {
    await post(server.url, JSON.parse(body));
    const { json } = await post(server.url, JSON.parse(body));
    if (json['errors'] || json['data'] === undefined) throw new Error(`hit-path warm-up of ${server.variant} failed`);
    return JSON.stringify(json);
  };
  const targets = [
    ['gencache', gencache, hitBody, await answerTo(gencache, hitBody)],
    ['bare-yoga', bare, helloBody, await answerTo(bare, helloBody)],
    ['bare-yoga-tuned', tuned, helloBody, await answerTo(tuned, helloBody)],
    ['gencache-full', gencache, fullBody, await answerTo(gencache, fullBody)],
    ['gencache-yoga', withoutLane, hitBody, await answerTo(withoutLane, hitBody)],
    ['mercurius', mercurius, hitBody, await answerTo(mercurius, hitBody)],
    ['yoga-floor', floor, hitBody, await answerTo(floor, hitBody)],
  ] as const;
  // The Mercurius peer must serve its hits from mercurius-cache: its generation resolver may run
  // for the first request only, or the comparison would be with its generator.
  const checkMercuriusHits = async (stage: string) => {
    const response = await fetch(mercurius.url.replace('/graphql', '/resolver-calls'));
    const { generation: calls } = (await response.json()) as { generation: number };
    if (calls !== 1) throw new Error(`${stage}: the Mercurius generation resolver ran ${calls} times; mercurius-cache should have served all but the first`);
    return calls;
  };
  const runs = Object.fromEntries(targets.map(([name]) => [name, [] as Measured[]]));
  /** Server CPU microseconds a request, per target and round; empty where /proc cannot tell. */
  const cpu = Object.fromEntries(targets.map(([name]) => [name, [] as number[]]));
  for (const [name, server, body, answer] of smoke ? [] : targets) {
    await cannon({ url: server.url, connections: 50, seconds: SCALE.warmupSeconds, body, answer });
    progress(`  warmed ${name}`);
  }
  await checkMercuriusHits('hit-path warm-up');
  // Each round runs every target once, in a rotated order; ratios are taken within a round, where
  // the machine's drift touches both sides alike, and their median reported.
  for (let r = 0; r < SCALE.rounds; r++) {
    for (let t = 0; t < targets.length; t++) {
      const [name, server, body, answer] = targets[(t + r) % targets.length]!;
      const before = server.cpuSeconds();
      const measured = await cannon({ url: server.url, connections: 50, seconds: SCALE.seconds, body, answer });
      const after = server.cpuSeconds();
      runs[name]!.push(measured);
      const microseconds = before === undefined || after === undefined || measured.requests === 0 ? undefined : ((after - before) * 1e6) / measured.requests;
      if (microseconds !== undefined) cpu[name]!.push(microseconds);
      progress(`  round ${r + 1}/${SCALE.rounds} ${name}: ${Math.round(measured.requestsPerSecond)} req/s${microseconds === undefined ? '' : `, ${microseconds.toFixed(1)} µs CPU a request`}`);
    }
  }
  const rps = (name: string) => median(runs[name]!.map((run) => run.requestsPerSecond));
  const pairedRatio = (name: string, baseline: string) =>
    median(runs[name]!.map((run, index) => ratio(run.requestsPerSecond, runs[baseline]![index]!.requestsPerSecond)));
  /** The median of a target's CPU time a request, in µs; undefined without /proc figures. */
  const cpuOf = (name: string) => (cpu[name]!.length === 0 ? undefined : round(median(cpu[name]!)));
  /** How many of the baseline's requests one CPU second would serve per request of the target: baseline CPU / target CPU, paired by round. */
  const pairedCpuRatio = (name: string, baseline: string) =>
    cpu[name]!.length === 0 || cpu[name]!.length !== cpu[baseline]!.length ? undefined : round(median(cpu[name]!.map((mine, index) => ratio(cpu[baseline]![index]!, mine))));
  // The limit still holds: a body over MAX_REQUEST_BODY_BYTES (1 MiB) is refused.
  const oversized = await fetch(gencache.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ cacheStats { hits } }', padding: 'x'.repeat(2 * 1024 * 1024) }),
  });
  await oversized.body?.cancel();
  const mercuriusResolverCalls = await checkMercuriusHits('hit-path load');
  const hitRuns = runs['gencache']!;
  return {
    requestsPerSecond: {
      gencacheHit: round(rps('gencache')),
      gencacheHitFullFragment: round(rps('gencache-full')),
      gencacheHitWithoutFastLane: round(rps('gencache-yoga')),
      bareYoga: round(rps('bare-yoga')),
      bareYogaTuned: round(rps('bare-yoga-tuned')),
      mercurius: round(rps('mercurius')),
      yogaFloor: round(rps('yoga-floor')),
    },
    ratioToBareYoga: round(pairedRatio('gencache', 'bare-yoga')),
    ratioToBareYogaTuned: round(pairedRatio('gencache', 'bare-yoga-tuned')),
    ratioToMercurius: round(pairedRatio('gencache', 'mercurius')),
    fullFragmentRatioToBareYogaTuned: round(pairedRatio('gencache-full', 'bare-yoga-tuned')),
    withoutFastLaneRatioToBareYogaTuned: round(pairedRatio('gencache-yoga', 'bare-yoga-tuned')),
    fastLaneGain: round(pairedRatio('gencache', 'gencache-yoga')),
    /** The floor of a Yoga front door (./yoga-floor.ts) against the Mercurius peer, and gencache against the floor. */
    floorRatioToMercurius: round(pairedRatio('yoga-floor', 'mercurius')),
    ratioToFloor: round(pairedRatio('gencache', 'yoga-floor')),
    /**
     * Server CPU time a request (µs, medians over the rounds), and the ratios the CPU times give:
     * a server bound by its core serves in inverse proportion to them.
     */
    cpuMicrosecondsPerRequest: Object.fromEntries(targets.map(([name]) => [name, cpuOf(name)])),
    cpuRatioToMercurius: pairedCpuRatio('gencache', 'mercurius'),
    cpuRatioToBareYogaTuned: pairedCpuRatio('gencache', 'bare-yoga-tuned'),
    floorCpuRatioToMercurius: pairedCpuRatio('yoga-floor', 'mercurius'),
    targets: { ratioToBareYoga: 2.0, ratioToBareYogaTuned: 1.3, ratioToMercurius: 1.0 },
    /** Runs of the Mercurius peer's generation resolver over the section: 1, every other answer a hit. */
    mercuriusResolverCalls,
    oversizedBodyStatus: oversized.status,
    failures: Object.values(runs).flat().reduce((sum, run) => sum + run.failures, 0),
    hitLatencyMs: { p50: median(hitRuns.map((run) => run.latencyMs.p50)), p99: median(hitRuns.map((run) => run.latencyMs.p99)) },
    rounds: SCALE.rounds,
    secondsPerRun: SCALE.seconds,
    /** Requests/s of each target in each round, from which the ratios are taken. */
    perRound: Array.from({ length: SCALE.rounds }, (_, index) =>
      Object.fromEntries(Object.entries(runs).map(([name, measured]) => [name, round(measured[index]!.requestsPerSecond)])),
    ),
  };
}

/** 2. Throughput at a 70% repeat share, against the same server with DISABLE_RESULT_CACHE=1. */
async function speedup(gencache: RunningServer, uncached: RunningServer) {
  const repeatShare = 0.7;
  const measure = async (server: RunningServer, label: string) => {
    const pool = Array.from({ length: SCALE.pool }, (_, i) => `${label} pool prompt ${i}`);
    // Only a server with the cache on can keep what warming makes.
    if (server === gencache) await warmPool(server, pool);
    let index = 0;
    let repeated = 0;
    let fresh = 0;
    // Exactly 7 of every 10 requests repeat the pool, in turn, so that no two concurrent
    // requests share a prompt and coalescing does not help the uncached baseline.
    const body = () =>
      generationBody(index++ % 10 < repeatShare * 10 ? pool[repeated++ % pool.length]! : `${label} fresh prompt ${fresh++}`);
    const measured = await cannon({ url: server.url, connections: 12, seconds: SCALE.seconds * 2, body });
    progress(`  ${label}: ${Math.round(measured.requestsPerSecond)} req/s`);
    return measured;
  };
  const cached = await measure(gencache, 'cached');
  const baseline = await measure(uncached, 'uncached');
  return {
    repeatShare,
    generatorLatencyMs: GENERATOR_LATENCY_MS,
    generatorConcurrency: GENERATOR_CONCURRENCY,
    requestsPerSecond: { cached: round(cached.requestsPerSecond), uncached: round(baseline.requestsPerSecond) },
    speedup: round(ratio(cached.requestsPerSecond, baseline.requestsPerSecond)),
    ideal: round(1 / (1 - repeatShare)),
    target: 3.0,
    failures: cached.failures + baseline.failures,
  };
}

/** 3. N concurrent requests for each of K new prompts: the generator must run K times. */
async function coalescing(gencache: RunningServer) {
  const { prompts, concurrent } = SCALE.coalesce;
  const before = await generatorCalls(gencache);
  const statuses: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: prompts }, (_, k) => `coalescing prompt ${k} ${Date.now()}`).flatMap((prompt) =>
      Array.from({ length: concurrent }, async () => {
        const { json } = await post(gencache.url, JSON.parse(generationBody(prompt)));
        const status = String((json['data'] as { generation?: { cacheStatus?: string } } | undefined)?.generation?.cacheStatus ?? 'ERROR');
        statuses[status] = (statuses[status] ?? 0) + 1;
      }),
    ),
  );
  const calls = (await generatorCalls(gencache)) - before;
  progress(`  ${prompts} prompts x ${concurrent} requests: ${calls} generator calls`);
  return { prompts, concurrentPerPrompt: concurrent, requests: prompts * concurrent, generatorCalls: calls, statuses, holds: calls === prompts };
}

/**
 * Operations that share their generations but differ as documents: each asks for three
 * generations of a shared pool, in its own order, with one of several selections and aliases.
 * With a pool of 50 that makes about two million distinct operations, so a whole response
 * rarely repeats while every generation does.
 */
function sharedGenerationBodies(pool: readonly string[]): () => string {
  const selections = ['key output', 'output', 'output cacheStatus', 'key model output', 'prompt output generationMs', 'output contentType createdAt', 'cacheStatus key', 'model prompt output'];
  const random = seededRandom(7);
  const pick = () => pool[Math.floor(random() * pool.length)]!;
  return () => {
    const selection = selections[Math.floor(random() * selections.length)]!;
    const inputs = [pick(), pick(), pick()].map((prompt) => ({ prompt }));
    const query =
      random() < 0.5
        ? `query Shared($inputs: [GenerationInput!]!) { generations(inputs: $inputs) { ${selection} } }`
        : `query Shared($a: GenerationInput!, $b: GenerationInput!, $c: GenerationInput!) { first: generation(input: $a) { ${selection} } second: generation(input: $b) { ${selection} } third: generation(input: $c) { ${selection} } }`;
    const variables = query.includes('$inputs') ? { inputs } : { a: inputs[0], b: inputs[1], c: inputs[2] };
    return JSON.stringify({ query, variables });
  };
}

/** 4. Field-level caching against whole-response caching (field cache off, response cache on). */
async function againstResponseCache(gencache: RunningServer, responseCache: RunningServer) {
  const pool = Array.from({ length: smoke ? 10 : 50 }, (_, i) => `shared generation ${i}`);
  const shared = async (server: RunningServer) => {
    // The field cache keeps the pool's generations; the response cache, with the field cache
    // off, could keep only whole responses of documents the workload never sends.
    if (server === gencache) await warmPool(server, pool);
    const calls = await generatorCalls(server);
    let responseCacheHits = 0;
    const measured = await cannon({
      url: server.url,
      connections: 50,
      seconds: SCALE.seconds * 2,
      body: sharedGenerationBodies(pool),
      onBody: (text) => {
        if (text.includes('"responseCache":{"hit":true')) responseCacheHits++;
      },
    });
    const generated = (await generatorCalls(server)) - calls;
    progress(`  shared generations, ${server.variant}: ${Math.round(measured.requestsPerSecond)} req/s, ${generated} generator calls`);
    // Three generations an operation: the share of them served without running the generator.
    return { measured, servedWithoutGenerator: round(1 - ratio(generated, 3 * measured.requests), 4), responseCacheHits };
  };
  const identicalBody = generationBody('identical repeat');
  const identical = async (server: RunningServer) => {
    const measured = await cannon({ url: server.url, connections: 50, seconds: SCALE.seconds, body: identicalBody });
    progress(`  identical repeats, ${server.variant}: ${Math.round(measured.requestsPerSecond)} req/s`);
    return measured;
  };
  const ours = await shared(gencache);
  const theirs = await shared(responseCache);
  for (const server of [gencache, responseCache]) await post(server.url, JSON.parse(identicalBody));
  const oursIdentical: Measured[] = [];
  const theirsIdentical: Measured[] = [];
  // Paired rounds, each side first in turn.
  for (let r = 0; r < SCALE.rounds; r++) {
    if (r % 2 === 0) oursIdentical.push(await identical(gencache));
    theirsIdentical.push(await identical(responseCache));
    if (r % 2 === 1) oursIdentical.push(await identical(gencache));
  }
  const identicalRps = (runs: Measured[]) => median(runs.map((run) => run.requestsPerSecond));
  const identicalRatio = median(oursIdentical.map((run, index) => ratio(run.requestsPerSecond, theirsIdentical[index]!.requestsPerSecond)));
  return {
    sharedGenerations: pool.length,
    generationsPerOperation: 3,
    sharedWorkload: {
      requestsPerSecond: { fieldCache: round(ours.measured.requestsPerSecond), responseCache: round(theirs.measured.requestsPerSecond) },
      servedWithoutGenerator: { fieldCache: ours.servedWithoutGenerator, responseCache: theirs.servedWithoutGenerator },
      responseCacheHitRate: round(ratio(theirs.responseCacheHits, theirs.measured.requests), 4),
      ratio: round(ratio(ours.measured.requestsPerSecond, theirs.measured.requestsPerSecond)),
      target: 3.0,
    },
    identicalRepeats: {
      requestsPerSecond: { fieldCache: round(identicalRps(oursIdentical)), responseCache: round(identicalRps(theirsIdentical)) },
      ratio: round(identicalRatio),
      target: 1.0,
    },
    failures: [ours.measured, theirs.measured, ...oursIdentical, ...theirsIdentical].reduce((sum, run) => sum + run.failures, 0),
  };
}

/** 5. Bytes the cache reports against heap growth after GC, for entries of a known size. */
function memoryAccounting() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const cache = new MemoryStore({ enabled: true, maxEntries: SCALE.memoryEntries, maxBytes: 2 ** 40, defaultTtlSeconds: 0 });
  const outputChars = 1000;
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < SCALE.memoryEntries; i++) {
    const record: GenerationRecord = {
      key: `${i}`.padStart(64, '0'),
      prompt: `memory prompt ${i}`,
      model: 'sim-1',
      parameters: { maxTokens: 64, temperature: 0.7 },
      // Built per entry, so that no two entries share the string.
      output: `${i} `.concat('x'.repeat(outputChars)).slice(0, outputChars),
      contentType: 'text/plain',
      createdAt: Date.now(),
      generationMs: 1000,
    };
    cache.set(record);
  }
  gc();
  gc();
  const growth = process.memoryUsage().heapUsed - before;
  const { bytes, entries } = cache.stats();
  progress(`  ${entries} entries: ${bytes} bytes reported, ${growth} bytes of heap`);
  return {
    entries,
    outputCharsPerEntry: outputChars,
    reportedBytes: bytes,
    heapGrowthBytes: growth,
    reportedToHeapRatio: round(ratio(bytes, growth), 3),
    heapBytesPerEntry: Math.round(growth / entries),
  };
}

/** 6. Latency of misses: every request a new prompt, as many connections as generator slots. */
async function missLatency(gencache: RunningServer) {
  let fresh = 0;
  const measured = await cannon({
    url: gencache.url,
    connections: GENERATOR_CONCURRENCY,
    seconds: SCALE.seconds,
    body: () => generationBody(`miss latency prompt ${fresh++} ${process.pid}`),
  });
  progress(`  misses: p50 ${measured.latencyMs.p50} ms, p99 ${measured.latencyMs.p99} ms`);
  return { generatorLatencyMs: GENERATOR_LATENCY_MS, ...measured.latencyMs, failures: measured.failures };
}

// ---------------------------------------------------------------------------------------------
// 7. The shared tier

/** The Redis of the shared-tier section: REDIS_URL (empty counts as unset), else the development machines' own. */
const SHARED_REDIS_URL = process.env['REDIS_URL'] || 'redis://127.0.0.1:6379';

/** A Redis URL without its credentials, for messages. */
function redisLocation(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'REDIS_URL (not a URL)';
  }
}

/** A connection of the section's own, for its checks and its clean-up; undefined when Redis does not answer. */
async function connectRedis(url: string): Promise<Redis | undefined> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    if ((await redis.ping()) === 'PONG') return redis;
  } catch {
    // Does not answer: the section is skipped.
  }
  redis.disconnect();
  return undefined;
}

/** The keys under the prefix, a batch at a time, walked with SCAN (never KEYS). */
const keysUnder = (redis: Redis, prefix: string) => redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>;

/** Removes every key under the prefix with UNLINK; how many. */
async function removeKeys(redis: Redis, prefix: string): Promise<number> {
  let removed = 0;
  for await (const keys of keysUnder(redis, prefix)) if (keys.length > 0) removed += await redis.unlink(...keys);
  return removed;
}

/** Keys under the prefix. */
async function countKeys(redis: Redis, prefix: string): Promise<number> {
  let count = 0;
  for await (const keys of keysUnder(redis, prefix)) count += keys.length;
  return count;
}

type Statuses = Record<string, number>;
const countStatus = (statuses: Statuses, status: string) => void (statuses[status] = (statuses[status] ?? 0) + 1);
const share = (statuses: Statuses, status: string) => ratio(statuses[status] ?? 0, Object.values(statuses).reduce((sum, count) => sum + count, 0));

/**
 * 7a. Requests/s of one set of cached generations served from the instance's own cache (L1)
 * against the same served from the shared tier. Two gencache servers share a namespace in Redis:
 * one with the default bounds, whose L1 holds the whole pool, and one with CACHE_MAX_SIZE=1,
 * whose L1 keeps only the entry it filled last. Both are sent the pool's prompts in turn, so
 * that no request finds its entry among the last ones filled: on the second server each request
 * misses its L1, reads Redis (one MGET), fills its L1 (evicting the entry before) and answers
 * SHARED_HIT. Every answer must be one of the pool's, byte for byte; the statuses are counted.
 */
async function sharedHitThroughput(namespace: string) {
  const fleet = { REDIS_URL: SHARED_REDIS_URL, CACHE_NAMESPACE: namespace };
  const [local, shared] = await Promise.all([startServer('gencache', fleet), startServer('gencache', { ...fleet, CACHE_MAX_SIZE: '1' })]);
  try {
    const prompts = Array.from({ length: SCALE.sharedPool }, (_, i) => `shared tier prompt ${i}`);
    // Generated on the first server, which stores them in its L1 and in Redis.
    await warmPool(local, prompts);
    const bodies = prompts.map((prompt) => JSON.stringify({ query: print(GenerationOutputDocument), variables: { input: { prompt } } }));
    const answersOf = async (server: RunningServer, status: string) => {
      const answers = new Set<string>();
      for (const body of bodies) {
        const text = await (await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).text();
        if (!text.includes(`"status":"${status}"`)) throw new Error(`shared tier: ${server.variant} answered other than ${status} before the load: ${text.slice(0, 300)}`);
        answers.add(text);
      }
      return answers;
    };
    const localAnswers = await answersOf(local, 'HIT');
    const sharedAnswers = await answersOf(shared, 'SHARED_HIT');
    // The same generations on both: each shared answer is a local one but for its status.
    for (const text of sharedAnswers) {
      if (!localAnswers.has(text.replace('"status":"SHARED_HIT"', '"status":"HIT"'))) throw new Error(`shared tier: a SHARED_HIT answer is no L1 answer: ${text.slice(0, 300)}`);
    }
    // An answer is right when it is one of these but for its status, whichever: a lookup whose
    // Redis read timed out (REDIS_COMMAND_TIMEOUT_MS) finds the entry through the flight lock
    // instead, COALESCED. Which status each server gave is counted.
    const anyStatus = (text: string) => text.replace(/"status":"\w+"/, '"status":"*"');
    const answers = new Set([...localAnswers].map(anyStatus));
    const isAnswer = (text: string) => answers.has(anyStatus(text));
    const callsBefore = await Promise.all([generatorCalls(local), generatorCalls(shared)]);
    const errorsBefore = await metric(shared, 'gencache_shared_tier_errors_total');
    const targets = [
      { name: 'l1', server: local, next: 0, statuses: {} as Statuses, runs: [] as Measured[] },
      { name: 'shared', server: shared, next: 0, statuses: {} as Statuses, runs: [] as Measured[] },
    ];
    const load = (target: (typeof targets)[number], seconds: number) =>
      cannon({
        url: target.server.url,
        connections: 50,
        seconds,
        body: () => bodies[target.next++ % bodies.length]!,
        answer: isAnswer,
        onBody: (text) => countStatus(target.statuses, /"status":"(\w+)"/.exec(text)?.[1] ?? 'NONE'),
      });
    for (const target of smoke ? [] : targets) {
      await load(target, SCALE.warmupSeconds);
      progress(`  warmed ${target.name}`);
    }
    for (const target of targets) for (const name of Object.keys(target.statuses)) delete target.statuses[name];
    // Paired rounds, each side first in turn; ratios are taken within a round.
    for (let r = 0; r < SCALE.rounds; r++) {
      for (const target of r % 2 === 0 ? targets : [...targets].reverse()) {
        const measured = await load(target, SCALE.seconds);
        target.runs.push(measured);
        progress(`  round ${r + 1}/${SCALE.rounds} ${target.name}: ${Math.round(measured.requestsPerSecond)} req/s`);
      }
    }
    const callsAfter = await Promise.all([generatorCalls(local), generatorCalls(shared)]);
    const sharedTierErrors = (await metric(shared, 'gencache_shared_tier_errors_total')) - errorsBefore;
    const [l1, tier] = targets as [(typeof targets)[number], (typeof targets)[number]];
    const rps = (runs: Measured[]) => median(runs.map((run) => run.requestsPerSecond));
    const latency = (runs: Measured[]) => ({ p50: median(runs.map((run) => run.latencyMs.p50)), p99: median(runs.map((run) => run.latencyMs.p99)) });
    return {
      pool: prompts.length,
      connections: 50,
      rounds: SCALE.rounds,
      secondsPerRun: SCALE.seconds,
      requestsPerSecond: { l1Hit: round(rps(l1.runs)), sharedHit: round(rps(tier.runs)) },
      /** The median of the rounds' ratios of shared hits to L1 hits. */
      sharedToL1: round(median(tier.runs.map((run, index) => ratio(run.requestsPerSecond, l1.runs[index]!.requestsPerSecond)))),
      latencyMs: { l1Hit: latency(l1.runs), sharedHit: latency(tier.runs) },
      statuses: { l1: l1.statuses, shared: tier.statuses },
      /** Shares of the answers of each server that came from the tier it is meant to measure. */
      l1HitShare: round(share(l1.statuses, 'HIT'), 4),
      sharedHitShare: round(share(tier.statuses, 'SHARED_HIT'), 4),
      /** Generator calls over the load (warming aside): none, or a lookup found nothing. */
      generatorCallsDuringLoad: callsAfter[0] - callsBefore[0] + (callsAfter[1] - callsBefore[1]),
      /** Redis commands of the CACHE_MAX_SIZE=1 server that failed or timed out over the load. */
      sharedTierErrors,
      failures: [...l1.runs, ...tier.runs].reduce((sum, run) => sum + run.failures, 0),
      perRound: l1.runs.map((run, index) => ({ l1: round(run.requestsPerSecond), shared: round(tier.runs[index]!.requestsPerSecond) })),
    };
  } finally {
    await Promise.all([local.stop(), shared.stop()]);
  }
}

/**
 * The Redis command timeout of the checked storm. The instances and the client share this
 * process, and the storm stalls its event loop past the default 100 ms: a command then times out
 * though Redis answered, and the instance generates alone by design (Redis "slow"). The checked
 * storm tests single-flight with a Redis that answers, as the test suite does; the same storm at
 * the default timeout is measured beside it and reported, never judged.
 */
const STORM_COMMAND_TIMEOUT_MS = 2000;

/**
 * 7b. A duplicate storm across two instances: two gencache instances in this process, on their
 * own ports and one Redis namespace, each sent every one of N new prompts many times, all at
 * once (each request after a random delay within the generator's latency, so that they overlap
 * the generations). Single-flight across instances holds when the generator ran N times in all,
 * every request was answered without error, and every answer to a prompt has the same output.
 * `commandTimeoutMs` undefined: the default REDIS_COMMAND_TIMEOUT_MS.
 */
async function duplicateStorm(namespace: string, redis: Redis, commandTimeoutMs: number | undefined) {
  const { prompts: promptCount, perInstance, storms } = SCALE.storm;
  const environment = {
    ...(commandTimeoutMs === undefined ? {} : { REDIS_COMMAND_TIMEOUT_MS: String(commandTimeoutMs) }),
    LOG_LEVEL: 'silent',
    GENERATOR: 'simulated',
    GENERATOR_LATENCY_MS: String(STORM_GENERATOR_LATENCY_MS),
    GENERATOR_CONCURRENCY: String(GENERATOR_CONCURRENCY),
    GENERATOR_QUEUE_MAX: '100000',
    REDIS_URL: SHARED_REDIS_URL,
    CACHE_NAMESPACE: namespace,
  };
  const instances = ['a', 'b'].map((name) =>
    createApp(loadConfig({ ...environment, INSTANCE_ID: `bench-storm-${name}` }), { logger: createLogger('silent'), defaultMetrics: false }),
  ) as [App, App];
  try {
    const urls = await Promise.all(instances.map((app) => app.listen(0, '127.0.0.1')));
    // Each instance hears the others' announcements once its subscription is made; `listen`
    // waits for the connection for commands only.
    const channel = `${namespace}flights`;
    for (const started = Date.now(); ; await sleep(20)) {
      const [, subscribers] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
      if (Number(subscribers) >= instances.length) break;
      if (Date.now() - started > 5000) throw new Error(`shared tier: the instances did not subscribe to ${channel} within 5 s`);
    }
    const random = seededRandom(11);
    const document = print(GenerationDocument);
    const runs = [];
    for (let storm = 0; storm < storms; storm++) {
      const prompts = Array.from({ length: promptCount }, (_, k) => `duplicate storm ${storm} prompt ${k}`);
      const callsBefore = instances.map((app) => app.service.totals().generations);
      const errorsBefore = await redisErrors(instances);
      const requests = prompts.flatMap((prompt) =>
        urls.flatMap((url, instance) => Array.from({ length: perInstance }, () => ({ prompt, url, instance, delayMs: random() * STORM_GENERATOR_LATENCY_MS }))),
      );
      const statuses = instances.map((): Statuses => ({}));
      const outputs = new Map(prompts.map((prompt) => [prompt, new Set<string>()]));
      let failures = 0;
      let slowestMs = 0;
      const started = performance.now();
      await Promise.all(
        requests.map(async ({ prompt, url, instance, delayMs }) => {
          await sleep(delayMs);
          const sent = performance.now();
          try {
            const { json } = await post(url, { query: document, variables: { input: { prompt } } });
            const generation = (json['data'] as { generation?: { cacheStatus: string; output: string } } | undefined)?.generation;
            if (json['errors'] !== undefined || generation === undefined) {
              failures++;
              countStatus(statuses[instance]!, 'ERROR');
            } else {
              countStatus(statuses[instance]!, generation.cacheStatus);
              outputs.get(prompt)!.add(generation.output);
            }
          } catch {
            failures++;
            countStatus(statuses[instance]!, 'ERROR');
          }
          slowestMs = Math.max(slowestMs, performance.now() - sent);
        }),
      );
      const durationMs = performance.now() - started;
      const calls = instances.map((app, index) => app.service.totals().generations - callsBefore[index]!);
      const redisCommandErrors = (await redisErrors(instances)) - errorsBefore;
      const generatorCalls = calls.reduce((sum, count) => sum + count, 0);
      const oneOutputEach = [...outputs.values()].every((seen) => seen.size === 1);
      const holds = generatorCalls === promptCount && failures === 0 && oneOutputEach;
      progress(
        `  storm ${storm + 1}/${storms}: ${requests.length} requests, ${generatorCalls} generator calls (${calls.join(' + ')}) for ${promptCount} prompts${holds ? '' : ' (not held)'}; ` +
          `statuses ${statuses.map((counts) => JSON.stringify(counts)).join(' and ')}; ${Math.round(durationMs)} ms, slowest ${Math.round(slowestMs)} ms; ${redisCommandErrors} Redis errors`,
      );
      runs.push({
        requests: requests.length,
        generatorCalls,
        generatorCallsPerInstance: calls,
        statusesPerInstance: statuses,
        failures,
        oneOutputPerPrompt: oneOutputEach,
        durationMs: Math.round(durationMs),
        slowestRequestMs: Math.round(slowestMs),
        redisCommandErrors,
        holds,
      });
    }
    return {
      instances: instances.length,
      prompts: promptCount,
      requestsPerPromptPerInstance: perInstance,
      storms,
      generatorLatencyMs: STORM_GENERATOR_LATENCY_MS,
      generatorConcurrency: GENERATOR_CONCURRENCY,
      redisCommandTimeoutMs: commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
      spreadMs: STORM_GENERATOR_LATENCY_MS,
      generatorCalls: runs.reduce((sum, run) => sum + run.generatorCalls, 0),
      expectedGeneratorCalls: promptCount * storms,
      failures: runs.reduce((sum, run) => sum + run.failures, 0),
      redisCommandErrors: runs.reduce((sum, run) => sum + run.redisCommandErrors, 0),
      slowestRequestMs: Math.max(...runs.map((run) => run.slowestRequestMs)),
      runs,
      holds: runs.every((run) => run.holds),
    };
  } finally {
    await Promise.all(instances.map((app) => app.close(1000)));
  }
}

/** Redis commands of the instances that failed or timed out, and connection errors, from their metrics. */
async function redisErrors(instances: readonly App[]): Promise<number> {
  let total = 0;
  for (const app of instances) {
    const { values } = await app.metrics.registry.getSingleMetric('gencache_shared_tier_errors_total')!.get();
    total += values.reduce((sum, { value }) => sum + value, 0);
  }
  return total;
}

/** 7. The shared tier: shared hits against L1 hits, and a duplicate storm across two instances. */
async function sharedTier() {
  const location = redisLocation(SHARED_REDIS_URL);
  const redis = await connectRedis(SHARED_REDIS_URL);
  if (redis === undefined) {
    const reason = `Redis does not answer at ${location}: start redis-server, or set REDIS_URL`;
    // CI starts Redis and sets REQUIRE_REDIS, as for the tests: there a missing Redis fails.
    if (process.env['REQUIRE_REDIS'] === '1') throw new Error(`shared tier: ${reason}, and REQUIRE_REDIS=1`);
    progress(`  SKIPPED: ${reason}`);
    return { skipped: reason } as const;
  }
  // A namespace of this run's own, removed at the end: nothing of the benchmark stays in Redis.
  const namespace = `gencache:bench:${Date.now().toString(36)}-${process.pid}:`;
  let hits: Awaited<ReturnType<typeof sharedHitThroughput>>;
  let storm: Awaited<ReturnType<typeof duplicateStorm>>;
  let stormAtDefaultTimeout: Awaited<ReturnType<typeof duplicateStorm>> | undefined;
  let removed: number;
  let left: number;
  try {
    hits = await sharedHitThroughput(`${namespace}hits:`);
    progress(`  shared hits ${hits.requestsPerSecond.sharedHit} vs L1 hits ${hits.requestsPerSecond.l1Hit} req/s: ${hits.sharedToL1}x`);
    progress(`  duplicate storm, REDIS_COMMAND_TIMEOUT_MS=${STORM_COMMAND_TIMEOUT_MS} (checked)`);
    storm = await duplicateStorm(`${namespace}storm:`, redis, STORM_COMMAND_TIMEOUT_MS);
    // Reported, not judged; long when a timed-out claim leaves its lock to lapse. Not in a smoke run.
    if (!smoke) {
      progress(`  the same storm at the default REDIS_COMMAND_TIMEOUT_MS=${DEFAULT_REDIS_COMMAND_TIMEOUT_MS} (reported, not judged)`);
      stormAtDefaultTimeout = await duplicateStorm(`${namespace}storm-default-timeout:`, redis, undefined);
    }
  } finally {
    removed = await removeKeys(redis, namespace);
    left = await countKeys(redis, namespace);
    progress(`  removed ${removed} Redis keys under ${namespace}; ${left} left`);
    redis.disconnect();
  }
  return { redis: location, namespace, hits, storm, stormAtDefaultTimeout, redisKeysRemoved: removed, redisKeysLeft: left };
}

// ---------------------------------------------------------------------------------------------
// Run

async function main() {
  const started = Date.now();
  if (only === 'streaming') return onlyStreaming();
  compileServers();
  if (only === 'shared') return onlySharedTier();
  progress(
    smoke
      ? `gencache benchmark: SMOKE RUN, every section for a moment to check that the benchmark works; its figures mean nothing. Starting servers, unpinned`
      : `gencache benchmark: starting servers${pinned ? ' on core 0, client on core 1' : ', unpinned'}`,
  );
  const servers = await Promise.all([
    startServer('gencache'),
    startServer('gencache-without-fast-lane'),
    startServer('gencache', { DISABLE_RESULT_CACHE: '1' }),
    startServer('bare-yoga'),
    startServer('bare-yoga-tuned'),
    startServer('response-cache'),
    startServer('mercurius'),
    startServer('yoga-floor'),
  ]);
  const [gencache, withoutLane, uncached, bare, tuned, responseCache, mercurius, floor] = servers as [
    RunningServer,
    RunningServer,
    RunningServer,
    RunningServer,
    RunningServer,
    RunningServer,
    RunningServer,
    RunningServer,
  ];
  let sections;
  try {
    progress('[1/8] hit-path throughput');
    const hit = await hitPath(gencache, withoutLane, bare, tuned, mercurius, floor);
    if (only === 'hit') {
      process.stdout.write(`${JSON.stringify(hit, null, 2)}\n`);
      return;
    }
    progress('[2/8] speedup at a 70% repeat share');
    const repeat = await speedup(gencache, uncached);
    progress('[3/8] coalescing');
    const coalesce = await coalescing(gencache);
    progress('[4/8] against whole-response caching');
    const response = await againstResponseCache(gencache, responseCache);
    progress('[5/8] memory accounting');
    const memory = memoryAccounting();
    progress('[6/8] miss latency');
    const misses = await missLatency(gencache);
    sections = { hit, repeat, coalesce, response, memory, misses };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
  // With the servers of the sections before stopped: this one starts its own.
  progress('[7/8] shared tier (Redis)');
  const shared = await sharedTier();
  progress('[8/8] streaming subscribers');
  const streaming = await streamingSubscribers();
  const { hit, repeat, coalesce, response, memory, misses } = sections;
  const results = {
    date: new Date().toISOString(),
    smoke,
    machine: machine(),
    hitPath: hit,
    speedup: repeat,
    coalescing: coalesce,
    responseCache: response,
    memory,
    latencyMs: { hit: hit.hitLatencyMs, miss: misses },
    sharedTier: shared,
    streaming,
    durationSeconds: round((Date.now() - started) / 1000, 1),
  };
  const outFile = resultsFile();
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  printTable(results);
  process.stdout.write(smoke ? `\nwrote ${outFile} (smoke run: its figures mean nothing)\n` : `\nwrote ${outFile}\n`);
  failUnlessStormHeld(shared);
  failUnlessStreamingHeld(streaming);
}

/** `--only shared`: the shared-tier section alone; its figures as JSON, then its rows. */
async function onlySharedTier() {
  progress(`gencache benchmark, shared tier only${smoke ? ' (SMOKE RUN: its figures mean nothing)' : pinned ? ': servers on core 0, client on core 1' : ', unpinned'}`);
  const shared = await sharedTier();
  process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), smoke, machine: machine(), sharedTier: shared }, null, 2)}\n`);
  printRows([['measure', 'figure', 'target', ''], ...sharedTierRows(shared)]);
  failUnlessStormHeld(shared);
}

/**
 * 8. Streaming: SCALE.streaming.subscribers subscribers of generationStream to one new prompt a
 * round, half over graphql-ws and half over SSE, half of them joining over the first half of the
 * generation (./streaming.ts).
 */
function streamingSubscribers(): Promise<StreamingResults> {
  return streamingSection({ ...SCALE.streaming, joinSpread: 0.5, progress });
}

/** `--only streaming`: the streaming section alone; its figures as JSON, then its rows. */
async function onlyStreaming() {
  progress(`gencache benchmark, streaming only${smoke ? ' (SMOKE RUN: its figures mean nothing)' : ''}: server and clients in this process${pinned ? ', on core 1' : ''}`);
  const streaming = await streamingSubscribers();
  process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), smoke, machine: machine(), streaming }, null, 2)}\n`);
  printRows([['measure', 'figure', 'target', ''], ...streamingRows(streaming)]);
  failUnlessStreamingHeld(streaming);
}

/** The section fails the run when a round ran the generator more than once, or a subscriber's text was wrong. */
function failUnlessStreamingHeld(streaming: StreamingResults): void {
  if (streaming.holds) return;
  throw new Error(
    `streaming FAILED: ${streaming.generatorCalls} generator calls for ${streaming.expectedGeneratorCalls} rounds; ${streaming.correct} of ${streaming.expectedCorrect} subscribers got the stored output${streaming.errors.length > 0 ? `; errors: ${streaming.errors.join(' | ')}` : ''}`,
  );
}

/** The section fails the run when the storm ran the generator more than once a prompt (or erred). */
function failUnlessStormHeld(shared: Awaited<ReturnType<typeof sharedTier>>): void {
  if ('skipped' in shared || shared.storm.holds) return;
  const { generatorCalls, expectedGeneratorCalls, failures } = shared.storm;
  throw new Error(
    `shared tier FAILED: the duplicate storm across two instances made ${generatorCalls} generator calls for ${expectedGeneratorCalls} prompts, with ${failures} failed requests${shared.storm.runs.every((run) => run.oneOutputPerPrompt) ? '' : ', and a prompt answered with two outputs'}`,
  );
}

function machine() {
  const cpu = cpus()[0];
  return {
    cpus: cpus().length,
    cpuModel: cpu?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    os: `${osType()} ${release()}`,
    node: process.version,
    pinned,
  };
}

/**
 * Where the results go: `--out`, else the committed load/results/latest.json. A smoke run's
 * figures mean nothing, so without `--out` they go to a new temporary folder instead.
 */
function resultsFile(): string {
  if (outIndex >= 0) return resolve(args[outIndex + 1]!);
  if (smoke) return join(mkdtempSync(join(tmpdir(), 'gencache-bench-smoke-')), 'results.json');
  return resolve(ROOT, 'load/results/latest.json');
}

type Row = [string, string, string, string];

const mark = (ok: boolean) => (ok ? 'ok' : 'BELOW TARGET');
// Checks of behaviour hold at any speed; a smoke run's speeds are not judged.
const speedMark = (ok: boolean) => (smoke ? 'not judged (smoke run)' : mark(ok));

function sharedTierRows(shared: Awaited<ReturnType<typeof sharedTier>>): Row[] {
  if ('skipped' in shared) return [['shared tier (Redis)', `SKIPPED: ${shared.skipped}`, '', '']];
  const { hits, storm, stormAtDefaultTimeout } = shared;
  const servedAs = (statuses: Statuses) => Object.entries(statuses).map(([status, count]) => `${count} ${status}`).join(', ');
  return [
    ['shared tier: shared hits vs L1 hits', `${hits.sharedToL1}x (medians ${hits.requestsPerSecond.sharedHit} vs ${hits.requestsPerSecond.l1Hit} req/s)`, '', ''],
    ['  answers from the tier measured', `SHARED_HIT ${hits.sharedHitShare} (${servedAs(hits.statuses.shared)}); HIT ${hits.l1HitShare}; generator calls ${hits.generatorCallsDuringLoad}, Redis errors ${hits.sharedTierErrors}`, '1 / 1', hits.sharedHitShare >= 0.99 && hits.l1HitShare === 1 && hits.generatorCallsDuringLoad === 0 ? 'ok' : 'CHECK'],
    ['  latency p50 / p99, shared vs L1', `${hits.latencyMs.sharedHit.p50} / ${hits.latencyMs.sharedHit.p99} vs ${hits.latencyMs.l1Hit.p50} / ${hits.latencyMs.l1Hit.p99} ms (50 connections)`, '', ''],
    [
      'shared tier: generator calls, storm on 2 instances',
      `${storm.generatorCalls} for ${storm.expectedGeneratorCalls} prompts (${storm.storms} x ${storm.prompts}), each asked ${storm.requestsPerPromptPerInstance}x on each; ${storm.failures} failed`,
      `= ${storm.expectedGeneratorCalls}`,
      storm.holds ? 'ok' : 'FAIL',
    ],
    ['  slowest storm request', `${storm.slowestRequestMs} ms (generator ${storm.generatorLatencyMs} ms, ${storm.generatorConcurrency} slots each; Redis command timeout ${storm.redisCommandTimeoutMs} ms, ${storm.redisCommandErrors} errors)`, '', ''],
    ...(stormAtDefaultTimeout === undefined
      ? []
      : ([
          [
            `  the storm at the default command timeout`,
            `${stormAtDefaultTimeout.generatorCalls} calls for ${stormAtDefaultTimeout.expectedGeneratorCalls} prompts; slowest ${stormAtDefaultTimeout.slowestRequestMs} ms; ${stormAtDefaultTimeout.redisCommandErrors} Redis errors (${stormAtDefaultTimeout.redisCommandTimeoutMs} ms)`,
            'reported',
            '',
          ],
        ] satisfies Row[])),
  ];
}

function streamingRows(streaming: StreamingResults): Row[] {
  const { subscribers, words, generatorLatencyMs, toLastSubscriberMs, deliveryMs, lateJoinerFirstChunkMs } = streaming;
  return [
    [
      'streaming: generator calls',
      `${streaming.generatorCalls} for ${streaming.expectedGeneratorCalls} rounds (${streaming.warmUpRounds} of warm-up) of ${subscribers} subscribers (${streaming.transports['graphql-ws']} graphql-ws, ${streaming.transports.sse} SSE; ${streaming.lateJoiners} late)`,
      `= ${streaming.expectedGeneratorCalls}`,
      mark(streaming.generatorCalls === streaming.expectedGeneratorCalls),
    ],
    ['  deltas adding up to the stored output', `${streaming.correct} of ${streaming.expectedCorrect}`, `= ${streaming.expectedCorrect}`, mark(streaming.correct === streaming.expectedCorrect)],
    ['  a piece to the last subscriber p50 / p99', `${toLastSubscriberMs.p50} / ${toLastSubscriberMs.p99} ms (${words} words over ${generatorLatencyMs} ms)`, '', ''],
    ['  every delivery p50 / p99', `${deliveryMs.p50} / ${deliveryMs.p99} ms (graphql-ws ${streaming.graphqlWsDeliveryMs.p50} / ${streaming.graphqlWsDeliveryMs.p99}, SSE ${streaming.sseDeliveryMs.p50} / ${streaming.sseDeliveryMs.p99})`, '', ''],
    ['  a late joiner\'s first chunk p50 / p99', `${lateJoinerFirstChunkMs.p50} / ${lateJoinerFirstChunkMs.p99} ms after subscribing`, '', ''],
  ];
}

/** The hit path's CPU times a request, or why there are none. */
function cpuFigures(cpu: Readonly<Record<string, number | undefined>>): string {
  const names = ['gencache', 'yoga-floor', 'mercurius', 'bare-yoga-tuned'];
  if (names.some((name) => cpu[name] === undefined)) return 'not measured (no server processes of their own, or no /proc)';
  return `${names.map((name) => cpu[name]).join(' / ')} µs`;
}

function printRows(rows: readonly Row[]): void {
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}\n`);
}

function printTable(results: {
  hitPath: Awaited<ReturnType<typeof hitPath>>;
  speedup: Awaited<ReturnType<typeof speedup>>;
  coalescing: Awaited<ReturnType<typeof coalescing>>;
  responseCache: Awaited<ReturnType<typeof againstResponseCache>>;
  memory: ReturnType<typeof memoryAccounting>;
  latencyMs: { hit: { p50: number; p99: number }; miss: { p50: number; p99: number } };
  sharedTier: Awaited<ReturnType<typeof sharedTier>>;
  streaming: StreamingResults;
}) {
  const { hitPath: hit, speedup: repeat, coalescing: coalesce, responseCache: response, memory, latencyMs } = results;
  const { targets } = hit;
  const rows: Row[] = [
    ['measure', 'figure', 'target', ''],
    ['hit path: gencache vs bare Yoga (defaults)', `${hit.ratioToBareYoga}x (medians ${hit.requestsPerSecond.gencacheHit} vs ${hit.requestsPerSecond.bareYoga} req/s)`, `>= ${targets.ratioToBareYoga.toFixed(1)}x`, speedMark(hit.ratioToBareYoga >= targets.ratioToBareYoga)],
    ['hit path: gencache vs bare Yoga (no body check)', `${hit.ratioToBareYogaTuned}x (vs ${hit.requestsPerSecond.bareYogaTuned} req/s)`, `>= ${targets.ratioToBareYogaTuned.toFixed(1)}x`, speedMark(hit.ratioToBareYogaTuned >= targets.ratioToBareYogaTuned)],
    ['hit path: gencache vs Mercurius + mercurius-cache', `${hit.ratioToMercurius}x (vs ${hit.requestsPerSecond.mercurius} req/s)`, `>= ${targets.ratioToMercurius.toFixed(1)}x`, speedMark(hit.ratioToMercurius >= targets.ratioToMercurius)],
    ['  the same with the whole GenerationFields fragment', `${hit.fullFragmentRatioToBareYogaTuned}x of the tuned (${hit.requestsPerSecond.gencacheHitFullFragment} req/s)`, '', ''],
    ['  the lean operation with the fast lane off', `${hit.withoutFastLaneRatioToBareYogaTuned}x of the tuned (${hit.requestsPerSecond.gencacheHitWithoutFastLane} req/s); the lane gives ${hit.fastLaneGain}x`, '', ''],
    ['  the floor of a Yoga front door vs the Mercurius peer', `${hit.floorRatioToMercurius}x (${hit.requestsPerSecond.yogaFloor} req/s); gencache ${hit.ratioToFloor}x of the floor`, '', ''],
    ['  server CPU a request: gencache / floor / peer / tuned', cpuFigures(hit.cpuMicrosecondsPerRequest), '', ''],
    ['oversized body (2 MiB) status', String(hit.oversizedBodyStatus), '413', mark(hit.oversizedBodyStatus === 413)],
    ['speedup at 70% repeats vs cache off', `${repeat.speedup}x (${repeat.requestsPerSecond.cached} vs ${repeat.requestsPerSecond.uncached} req/s; ideal ${repeat.ideal}x)`, '>= 3.0x', speedMark(repeat.speedup >= 3)],
    ['coalescing: generator calls', `${coalesce.generatorCalls} for ${coalesce.prompts} prompts x ${coalesce.concurrentPerPrompt}`, `= ${coalesce.prompts}`, mark(coalesce.holds)],
    ['shared generations vs response cache', `${response.sharedWorkload.ratio}x (${response.sharedWorkload.requestsPerSecond.fieldCache} vs ${response.sharedWorkload.requestsPerSecond.responseCache} req/s)`, '>= 3.0x', speedMark(response.sharedWorkload.ratio >= 3)],
    ['  served without a generator call', `${response.sharedWorkload.servedWithoutGenerator.fieldCache} vs ${response.sharedWorkload.servedWithoutGenerator.responseCache} (response cache hit rate ${response.sharedWorkload.responseCacheHitRate})`, '', ''],
    ['identical repeats vs response cache', `${response.identicalRepeats.ratio}x (${response.identicalRepeats.requestsPerSecond.fieldCache} vs ${response.identicalRepeats.requestsPerSecond.responseCache} req/s)`, '>= 1.0x', speedMark(response.identicalRepeats.ratio >= 1)],
    ['memory: reported bytes / heap growth', `${memory.reportedToHeapRatio} (${memory.entries} entries, ${memory.heapBytesPerEntry} heap bytes each)`, '', ''],
    ['latency of hits p50 / p99', `${latencyMs.hit.p50} / ${latencyMs.hit.p99} ms (50 connections)`, '', ''],
    ['latency of misses p50 / p99', `${latencyMs.miss.p50} / ${latencyMs.miss.p99} ms (generator ${GENERATOR_LATENCY_MS} ms)`, '', ''],
    ...sharedTierRows(results.sharedTier),
    ...streamingRows(results.streaming),
  ];
  const smokeNotice = `SMOKE RUN: every section ran for a moment, unpinned, with a ${GENERATOR_LATENCY_MS} ms generator (${STORM_GENERATOR_LATENCY_MS} ms in the storm), to check that the benchmark works. These figures mean nothing; npm run bench measures.\n`;
  process.stdout.write('\n');
  if (smoke) process.stdout.write(smokeNotice);
  printRows(rows);
  if (smoke) process.stdout.write(smokeNotice);
}

// Exit once done: idle keep-alive connections of the client would keep the process waiting.
// The soak's module (and its subscription clients) is loaded only for a soak.
const run = soak
  ? async () => {
      const { runSoak } = await import('./soak.js');
      const passed = await runSoak({ seconds: soakSeconds, outFile: outIndex >= 0 ? resolve(args[outIndex + 1]!) : undefined, progress });
      if (!passed) process.exit(1);
    }
  : main;
run().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
