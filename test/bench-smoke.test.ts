import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

interface SmokeResults {
  hitPath: { failures: number; oversizedBodyStatus: number; perRound: Record<string, number>[] };
  speedup: { failures: number; requestsPerSecond: { cached: number; uncached: number } };
  coalescing: { generatorCalls: number };
  responseCache: { failures: number; sharedWorkload: { servedWithoutGenerator: { fieldCache: number } } };
  memory: { entries: number; reportedBytes: number };
  latencyMs: { miss: { failures: number; p50: number } };
}

/**
 * The benchmark's smoke run, so that `npm run bench` cannot rot: every section runs briefly
 * against real servers. Speed is not judged here (only `npm run bench` measures it); what each
 * section must show regardless of speed is.
 */
describe('npm run bench -- --smoke', () => {
  it('runs every section, stops its servers, and writes the results', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gencache-bench-')), 'smoke.json');
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'load/bench/run.ts', '--smoke', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(code, stderr).toBe(0);
    expect(stdout).toContain('hit path: gencache vs bare Yoga (defaults)');
    const results = JSON.parse(readFileSync(out, 'utf8')) as SmokeResults;
    // Every section answered what it asked, with no error, GraphQL error or wrong body.
    const { hitPath, speedup, coalescing, responseCache, memory, latencyMs } = results;
    expect([hitPath.failures, speedup.failures, responseCache.failures, latencyMs.miss.failures]).toEqual([0, 0, 0, 0]);
    expect(Object.values(hitPath.perRound[0]!)).toHaveLength(5);
    expect(Object.values(hitPath.perRound[0]!).every((rps) => rps > 0)).toBe(true);
    expect(hitPath.oversizedBodyStatus).toBe(413);
    expect(speedup.requestsPerSecond.cached).toBeGreaterThan(0);
    expect(speedup.requestsPerSecond.uncached).toBeGreaterThan(0);
    expect(coalescing).toMatchObject({ generatorCalls: 3 });
    // The pool was warmed: every generation of the shared workload came from the field cache.
    expect(responseCache.sharedWorkload.servedWithoutGenerator.fieldCache).toBe(1);
    expect(memory.entries).toBe(1000);
    expect(memory.reportedBytes).toBeGreaterThan(1000 * 1000);
    expect(latencyMs.miss.p50).toBeGreaterThanOrEqual(5);
  }, 120_000);
});
