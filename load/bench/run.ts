/**
 * The local benchmark (`npm run bench`): measures the cache against its baselines in one run,
 * side by side, and reports ratios. It starts every server it needs on 127.0.0.1 (pinned to
 * core 0 when `taskset` exists, the client on core 1), stops them at the end, prints a table
 * and writes load/results/latest.json. `--smoke` runs every section briefly (the test suite
 * does, so that the benchmark cannot rot); its figures mean nothing, so it writes them to a
 * temporary folder, never over the committed results. `--out <file>` writes the JSON elsewhere.
 * `--soak [--soak-seconds N]` runs the soak instead (./soak.ts): minutes of mixed and hostile
 * traffic against a server with small cache bounds, every answer classified; it writes JSON only
 * with `--out`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Server } from 'node:http';
import { cpus, tmpdir, totalmem, type as osType, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { print } from 'graphql';
import { MemoryStore } from '../../src/cache/memory-store.js';
import type { GenerationRecord } from '../../src/cache/store.js';
import { GenerationDocument, GenerationOutputDocument, GenerationsDocument } from '../../src/generated/graphql.js';
import { seededRandom } from './seeded-random.js';
import type { Variant } from './server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const outIndex = args.indexOf('--out');
/** `--only hit` runs the hit-path section alone and writes nothing: for working on the hot path. */
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
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
  ? { seconds: 0.25, rounds: 1, warmupSeconds: 0.1, pool: 12, coalesce: { prompts: 3, concurrent: 20 }, memoryEntries: 1000 }
  : { seconds: 4, rounds: 7, warmupSeconds: 2, pool: 300, coalesce: { prompts: 5, concurrent: 50 }, memoryEntries: 10_000 };
const GENERATOR_LATENCY_MS = smoke ? 5 : 50;
const GENERATOR_CONCURRENCY = 4;

const progress = (message: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);

// ---------------------------------------------------------------------------------------------
// Servers

interface RunningServer {
  readonly variant: Variant;
  readonly url: string;
  stop(): void;
}

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
  const environment = {
    ...process.env,
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
    const { createBenchServer, listenLocal } = await import('./server.js');
    const server = createBenchServer(variant, environment);
    const port = await listenLocal(server);
    return {
      variant,
      url: `http://127.0.0.1:${port}/graphql`,
      stop: () => {
        if (server instanceof Server) {
          server.closeAllConnections();
          server.close();
        } else {
          server.server.closeAllConnections();
          void server.close();
        }
      },
    };
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
  return { variant, url: `http://127.0.0.1:${port}/graphql`, stop: () => child.kill('SIGTERM') };
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
   * The one answer every response must be, byte for byte; without it, a response must carry no
   * GraphQL `errors` (which come with HTTP 200). Any other answer counts as a failure.
   */
  readonly answer?: string;
  readonly onBody?: (body: string) => void;
}

async function cannon({ url, connections, seconds, body, answer, onBody }: Load): Promise<Measured> {
  const result = await autocannon({
    url,
    connections,
    verifyBody: answer === undefined ? (text) => !String(text).includes('"errors"') : (text) => String(text) === answer,
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

/** Generator calls the server has finished, from its Prometheus counters. */
async function generatorCalls(server: RunningServer): Promise<number> {
  const text = await (await fetch(server.url.replace('/graphql', '/metrics'))).text();
  let total = 0;
  for (const match of text.matchAll(/^gencache_generation_duration_seconds_count\{[^}]*\} (\d+)$/gm)) total += Number(match[1]);
  return total;
}

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
 * generation cached by mercurius-cache on Fastify and Mercurius, alternating; and through Yoga
 * alone (the fast lane off), to show what the lane gives.
 */
async function hitPath(
  gencache: RunningServer,
  withoutLane: RunningServer,
  bare: RunningServer,
  tuned: RunningServer,
  mercurius: RunningServer,
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
      const measured = await cannon({ url: server.url, connections: 50, seconds: SCALE.seconds, body, answer });
      runs[name]!.push(measured);
      progress(`  round ${r + 1}/${SCALE.rounds} ${name}: ${Math.round(measured.requestsPerSecond)} req/s`);
    }
  }
  const rps = (name: string) => median(runs[name]!.map((run) => run.requestsPerSecond));
  const pairedRatio = (name: string, baseline: string) =>
    median(runs[name]!.map((run, index) => ratio(run.requestsPerSecond, runs[baseline]![index]!.requestsPerSecond)));
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
    },
    ratioToBareYoga: round(pairedRatio('gencache', 'bare-yoga')),
    ratioToBareYogaTuned: round(pairedRatio('gencache', 'bare-yoga-tuned')),
    ratioToMercurius: round(pairedRatio('gencache', 'mercurius')),
    fullFragmentRatioToBareYogaTuned: round(pairedRatio('gencache-full', 'bare-yoga-tuned')),
    withoutFastLaneRatioToBareYogaTuned: round(pairedRatio('gencache-yoga', 'bare-yoga-tuned')),
    fastLaneGain: round(pairedRatio('gencache', 'gencache-yoga')),
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
// Run

async function main() {
  const started = Date.now();
  compileServers();
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
  ]);
  const [gencache, withoutLane, uncached, bare, tuned, responseCache, mercurius] = servers as [
    RunningServer,
    RunningServer,
    RunningServer,
    RunningServer,
    RunningServer,
    RunningServer,
    RunningServer,
  ];
  try {
    progress('[1/6] hit-path throughput');
    const hit = await hitPath(gencache, withoutLane, bare, tuned, mercurius);
    if (only === 'hit') {
      process.stdout.write(`${JSON.stringify(hit, null, 2)}\n`);
      return;
    }
    progress('[2/6] speedup at a 70% repeat share');
    const repeat = await speedup(gencache, uncached);
    progress('[3/6] coalescing');
    const coalesce = await coalescing(gencache);
    progress('[4/6] against whole-response caching');
    const response = await againstResponseCache(gencache, responseCache);
    progress('[5/6] memory accounting');
    const memory = memoryAccounting();
    progress('[6/6] miss latency');
    const misses = await missLatency(gencache);

    const cpu = cpus()[0];
    const results = {
      date: new Date().toISOString(),
      smoke,
      machine: {
        cpus: cpus().length,
        cpuModel: cpu?.model ?? 'unknown',
        memoryGiB: round(totalmem() / 2 ** 30, 1),
        os: `${osType()} ${release()}`,
        node: process.version,
        pinned,
      },
      hitPath: hit,
      speedup: repeat,
      coalescing: coalesce,
      responseCache: response,
      memory,
      latencyMs: { hit: hit.hitLatencyMs, miss: misses },
      durationSeconds: round((Date.now() - started) / 1000, 1),
    };
    const outFile = resultsFile();
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
    printTable(results);
    process.stdout.write(smoke ? `\nwrote ${outFile} (smoke run: its figures mean nothing)\n` : `\nwrote ${outFile}\n`);
  } finally {
    for (const server of servers) server.stop();
  }
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

function printTable(results: {
  hitPath: Awaited<ReturnType<typeof hitPath>>;
  speedup: Awaited<ReturnType<typeof speedup>>;
  coalescing: Awaited<ReturnType<typeof coalescing>>;
  responseCache: Awaited<ReturnType<typeof againstResponseCache>>;
  memory: ReturnType<typeof memoryAccounting>;
  latencyMs: { hit: { p50: number; p99: number }; miss: { p50: number; p99: number } };
}) {
  const { hitPath: hit, speedup: repeat, coalescing: coalesce, responseCache: response, memory, latencyMs } = results;
  const mark = (ok: boolean) => (ok ? 'ok' : 'BELOW TARGET');
  // Checks of behaviour hold at any speed; a smoke run's speeds are not judged.
  const speedMark = (ok: boolean) => (smoke ? 'not judged (smoke run)' : mark(ok));
  const { targets } = hit;
  const rows: [string, string, string, string][] = [
    ['measure', 'figure', 'target', ''],
    ['hit path: gencache vs bare Yoga (defaults)', `${hit.ratioToBareYoga}x (medians ${hit.requestsPerSecond.gencacheHit} vs ${hit.requestsPerSecond.bareYoga} req/s)`, `>= ${targets.ratioToBareYoga.toFixed(1)}x`, speedMark(hit.ratioToBareYoga >= targets.ratioToBareYoga)],
    ['hit path: gencache vs bare Yoga (no body check)', `${hit.ratioToBareYogaTuned}x (vs ${hit.requestsPerSecond.bareYogaTuned} req/s)`, `>= ${targets.ratioToBareYogaTuned.toFixed(1)}x`, speedMark(hit.ratioToBareYogaTuned >= targets.ratioToBareYogaTuned)],
    ['hit path: gencache vs Mercurius + mercurius-cache', `${hit.ratioToMercurius}x (vs ${hit.requestsPerSecond.mercurius} req/s)`, `>= ${targets.ratioToMercurius.toFixed(1)}x`, speedMark(hit.ratioToMercurius >= targets.ratioToMercurius)],
    ['  the same with the whole GenerationFields fragment', `${hit.fullFragmentRatioToBareYogaTuned}x of the tuned (${hit.requestsPerSecond.gencacheHitFullFragment} req/s)`, '', ''],
    ['  the lean operation with the fast lane off', `${hit.withoutFastLaneRatioToBareYogaTuned}x of the tuned (${hit.requestsPerSecond.gencacheHitWithoutFastLane} req/s); the lane gives ${hit.fastLaneGain}x`, '', ''],
    ['oversized body (2 MiB) status', String(hit.oversizedBodyStatus), '413', mark(hit.oversizedBodyStatus === 413)],
    ['speedup at 70% repeats vs cache off', `${repeat.speedup}x (${repeat.requestsPerSecond.cached} vs ${repeat.requestsPerSecond.uncached} req/s; ideal ${repeat.ideal}x)`, '>= 3.0x', speedMark(repeat.speedup >= 3)],
    ['coalescing: generator calls', `${coalesce.generatorCalls} for ${coalesce.prompts} prompts x ${coalesce.concurrentPerPrompt}`, `= ${coalesce.prompts}`, mark(coalesce.holds)],
    ['shared generations vs response cache', `${response.sharedWorkload.ratio}x (${response.sharedWorkload.requestsPerSecond.fieldCache} vs ${response.sharedWorkload.requestsPerSecond.responseCache} req/s)`, '>= 3.0x', speedMark(response.sharedWorkload.ratio >= 3)],
    ['  served without a generator call', `${response.sharedWorkload.servedWithoutGenerator.fieldCache} vs ${response.sharedWorkload.servedWithoutGenerator.responseCache} (response cache hit rate ${response.sharedWorkload.responseCacheHitRate})`, '', ''],
    ['identical repeats vs response cache', `${response.identicalRepeats.ratio}x (${response.identicalRepeats.requestsPerSecond.fieldCache} vs ${response.identicalRepeats.requestsPerSecond.responseCache} req/s)`, '>= 1.0x', speedMark(response.identicalRepeats.ratio >= 1)],
    ['memory: reported bytes / heap growth', `${memory.reportedToHeapRatio} (${memory.entries} entries, ${memory.heapBytesPerEntry} heap bytes each)`, '', ''],
    ['latency of hits p50 / p99', `${latencyMs.hit.p50} / ${latencyMs.hit.p99} ms (50 connections)`, '', ''],
    ['latency of misses p50 / p99', `${latencyMs.miss.p50} / ${latencyMs.miss.p99} ms (generator ${GENERATOR_LATENCY_MS} ms)`, '', ''],
  ];
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  const smokeNotice = `SMOKE RUN: every section ran for a moment, unpinned, with a ${GENERATOR_LATENCY_MS} ms generator, to check that the benchmark works. These figures mean nothing; npm run bench measures.\n`;
  process.stdout.write('\n');
  if (smoke) process.stdout.write(smokeNotice);
  for (const row of rows) process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}\n`);
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
