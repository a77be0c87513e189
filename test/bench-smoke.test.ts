import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

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
    // Progress went to stderr while it ran, the table to stdout.
    expect(stderr).toContain('[6/6] miss latency');
    expect(stdout).toContain('hit path: gencache vs bare Yoga (defaults)');
    const results = JSON.parse(readFileSync(out, 'utf8')) as Record<string, Record<string, unknown>>;
    expect(results['smoke']).toBe(true);
    expect(results['hitPath']).toMatchObject({ oversizedBodyStatus: 413, failures: 0 });
    expect(results['coalescing']).toMatchObject({ prompts: 3, generatorCalls: 3, holds: true });
    expect(results['speedup']).toMatchObject({ failures: 0, repeatShare: 0.7 });
    expect(results['responseCache']).toMatchObject({ failures: 0, sharedWorkload: { servedWithoutGenerator: { fieldCache: 1 } } });
    expect((results['memory'] as { entries: number; reportedBytes: number }).entries).toBe(1000);
    expect((results['memory'] as { reportedBytes: number }).reportedBytes).toBeGreaterThan(1000 * 1000);
    expect(results['latencyMs']).toMatchObject({ miss: { p50: expect.any(Number) } });
  }, 120_000);
});
