import { spawn } from 'node:child_process';
import { readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The committed results of a real run, which a smoke run must leave alone. */
const LATEST = 'load/results/latest.json';

interface SmokeResults {
  smoke: boolean;
  hitPath: { failures: number; oversizedBodyStatus: number; mercuriusResolverCalls: number; perRound: Record<string, number>[] };
  speedup: { failures: number; requestsPerSecond: { cached: number; uncached: number } };
  coalescing: { generatorCalls: number };
  responseCache: { failures: number; sharedWorkload: { servedWithoutGenerator: { fieldCache: number } } };
  memory: { entries: number; reportedBytes: number };
  latencyMs: { miss: { failures: number; p50: number } };
  sharedTier: {
    skipped?: string;
    hits: { failures: number; sharedHitShare: number; generatorCallsDuringLoad: number };
    storm: { generatorCalls: number; expectedGeneratorCalls: number; failures: number };
    redisKeysLeft: number;
  };
  streaming: {
    subscribers: number;
    generatorCalls: number;
    expectedGeneratorCalls: number;
    correct: number;
    expectedCorrect: number;
    perRound: { statuses: string[] }[];
  };
}

/**
 * The benchmark's smoke run, so that `npm run bench` cannot rot: every section runs briefly
 * against real servers. Speed is not judged here (only `npm run bench` measures it); what each
 * section must show regardless of speed is.
 */
describe('npm run bench -- --smoke', () => {
  it('runs every section, stops its servers, and writes the results to a temporary folder', async () => {
    const latestBefore = { text: readFileSync(LATEST, 'utf8'), modifiedMs: statSync(LATEST).mtimeMs };
    // No --out: where a smoke run writes by default is what is tested.
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'load/bench/run.ts', '--smoke'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(code, stderr).toBe(0);
    expect(stdout).toContain('hit path: gencache vs bare Yoga (defaults)');
    expect(stdout).toContain('hit path: gencache vs Mercurius + mercurius-cache');
    expect(stdout).toContain('streaming: generator calls');
    // Both ends say that the figures mean nothing.
    expect(stderr).toMatch(/SMOKE RUN.*figures mean nothing/);
    expect(stdout).toMatch(/SMOKE RUN.*figures mean nothing/);
    const out = /^wrote (.+) \(smoke run: its figures mean nothing\)$/m.exec(stdout)?.[1];
    expect(out, stdout).toBeDefined();
    expect(realpathSync(out!).startsWith(`${realpathSync(tmpdir())}${sep}`), out).toBe(true);
    expect({ text: readFileSync(LATEST, 'utf8'), modifiedMs: statSync(LATEST).mtimeMs }).toEqual(latestBefore);
    const results = JSON.parse(readFileSync(out!, 'utf8')) as SmokeResults;
    rmSync(dirname(out!), { recursive: true });
    expect(results.smoke).toBe(true);
    // Every section answered what it asked, with no error, GraphQL error or wrong body.
    const { hitPath, speedup, coalescing, responseCache, memory, latencyMs } = results;
    expect([hitPath.failures, speedup.failures, responseCache.failures, latencyMs.miss.failures]).toEqual([0, 0, 0, 0]);
    expect(Object.keys(hitPath.perRound[0]!).sort()).toEqual(['bare-yoga', 'bare-yoga-tuned', 'gencache', 'gencache-full', 'gencache-yoga', 'mercurius', 'yoga-floor']);
    expect(Object.values(hitPath.perRound[0]!).every((rps) => rps > 0)).toBe(true);
    // mercurius-cache served every Mercurius answer but the first.
    expect(hitPath.mercuriusResolverCalls).toBe(1);
    expect(hitPath.oversizedBodyStatus).toBe(413);
    expect(speedup.requestsPerSecond.cached).toBeGreaterThan(0);
    expect(speedup.requestsPerSecond.uncached).toBeGreaterThan(0);
    expect(coalescing).toMatchObject({ generatorCalls: 3 });
    // The pool was warmed: every generation of the shared workload came from the field cache.
    expect(responseCache.sharedWorkload.servedWithoutGenerator.fieldCache).toBe(1);
    expect(memory.entries).toBe(1000);
    expect(memory.reportedBytes).toBeGreaterThan(1000 * 1000);
    expect(latencyMs.miss.p50).toBeGreaterThanOrEqual(5);
    // Streaming: one generation a round, followed by every subscriber to the stored output.
    const { streaming } = results;
    expect(streaming.subscribers).toBe(10);
    expect(streaming.generatorCalls).toBe(streaming.expectedGeneratorCalls);
    expect(streaming.correct).toBe(streaming.expectedCorrect);
    expect(streaming.expectedCorrect).toBe(10);
    expect(streaming.perRound[0]!.statuses).toContain('MISS');
    // The shared tier (CI runs Redis; elsewhere the section may skip, saying why).
    const { sharedTier } = results;
    if (sharedTier.skipped === undefined) {
      expect(sharedTier.hits).toMatchObject({ failures: 0, generatorCallsDuringLoad: 0 });
      // Nearly every answer of the one-entry server came from Redis (a prompt asked twice in a row is a local hit).
      expect(sharedTier.hits.sharedHitShare).toBeGreaterThan(0.9);
      expect(sharedTier.storm.failures).toBe(0);
      expect(sharedTier.storm.generatorCalls).toBe(sharedTier.storm.expectedGeneratorCalls);
      expect(sharedTier.redisKeysLeft).toBe(0);
    } else {
      expect(process.env['REQUIRE_REDIS']).not.toBe('1');
    }
  }, 120_000);
});
