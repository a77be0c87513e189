import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { describe, expect, it, vi } from 'vitest';
import {
  ClearCacheDocument,
  GenerationDocument,
  ResetCacheStatsDocument,
  UpdateCacheConfigDocument,
} from '../src/generated/graphql.js';
import { createHarness, dataOf, errorCodes, type Harness } from './helpers/harness.js';
import { captureLogs } from './helpers/logs.js';

const TOKEN = 'an-admin-token-of-some-length';
const ADMIN = { authorization: `Bearer ${TOKEN}` };

type Scrape = Map<string, PrometheusFamily> & { readonly text: string };

/** GET /metrics, parsed (the parser throws on a line that is not Prometheus text). */
async function scrape(harness: Harness): Promise<Scrape> {
  const response = await harness.yoga.fetch('http://yoga/metrics');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4');
  const text = await response.text();
  const families = parsePrometheusTextFormat(text);
  return Object.assign(new Map(families.map((family) => [family.name, family])), { text });
}

/** A sample line's value read from the text (the parser drops the labels of histogram samples). */
function sampleLine(scraped: Scrape, series: string): number | undefined {
  const line = scraped.text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The value of a counter or gauge sample, selected by labels. */
function value(families: Map<string, PrometheusFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  if (family === undefined) throw new Error(`no metric ${name}`);
  const sample = family.metrics.find((metric) => Object.entries(labels).every(([key, v]) => metric.labels?.[key] === v));
  if (sample === undefined) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
  return Number(sample.value);
}

describe('/metrics', () => {
  it('reads the statistics once a scrape, however many metrics come from them', async () => {
    const harness = createHarness();
    const stats = vi.spyOn(harness.service, 'stats');
    const totals = vi.spyOn(harness.service, 'totals');

    await scrape(harness);
    await scrape(harness);

    expect(stats).toHaveBeenCalledTimes(2);
    expect(totals).toHaveBeenCalledTimes(2);
  });

  it('parses as Prometheus text with the documented families and types', async () => {
    const families = await scrape(createHarness());

    expect(Object.fromEntries([...families].map(([name, family]) => [name, family.type]))).toMatchObject({
      gencache_cache_hits_total: 'COUNTER',
      gencache_cache_misses_total: 'COUNTER',
      gencache_cache_coalesced_total: 'COUNTER',
      gencache_cache_deduplicated_total: 'COUNTER',
      gencache_cache_evictions_total: 'COUNTER',
      gencache_cache_stores_total: 'COUNTER',
      gencache_cache_saved_seconds_total: 'COUNTER',
      gencache_cache_entries: 'GAUGE',
      gencache_cache_bytes: 'GAUGE',
      gencache_generation_in_flight: 'GAUGE',
      gencache_generation_queued: 'GAUGE',
      gencache_generation_duration_seconds: 'HISTOGRAM',
      gencache_graphql_requests_total: 'COUNTER',
      gencache_graphql_request_duration_seconds: 'HISTOGRAM',
    });
  });

  it('moves its counters with the requests made', async () => {
    const harness = createHarness({ env: { CACHE_MAX_SIZE: '2', ADMIN_TOKEN: TOKEN } });
    const before = await scrape(harness);

    // Three concurrent 'a', held in the generator until the other two have joined the first.
    let release!: () => void;
    harness.generator.behaviour = { kind: 'held', release: new Promise<void>((resolve) => (release = resolve)) };
    const concurrent = Promise.all([1, 2, 3].map(() => harness.execute(GenerationDocument, { input: { prompt: 'a' } })));
    await expect.poll(() => harness.service.stats().coalesced).toBe(2);
    release();
    await concurrent;
    harness.generator.behaviour = { kind: 'generate' };
    dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'a' } }));
    dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'b' } }));
    dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'c' } }));
    harness.generator.behaviour = { kind: 'fail', message: 'broken' };
    expect(errorCodes(await harness.execute(GenerationDocument, { input: { prompt: 'd' } }))).toEqual(['GENERATION_FAILED']);
    dataOf(await harness.execute(ClearCacheDocument, {}, ADMIN));
    const after = await scrape(harness);

    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    // Three concurrent 'a' missed the cache; two of them joined the first one's generation.
    expect(delta('gencache_cache_misses_total')).toBe(6);
    expect(delta('gencache_cache_coalesced_total')).toBe(2);
    expect(delta('gencache_cache_hits_total')).toBe(1);
    expect(delta('gencache_cache_stores_total')).toBe(3);
    expect(delta('gencache_cache_evictions_total', { reason: 'max_entries' })).toBe(1);
    expect(delta('gencache_cache_evictions_total', { reason: 'cleared' })).toBe(2);
    expect(value(after, 'gencache_cache_entries')).toBe(0);
    expect(sampleLine(after, 'gencache_generation_duration_seconds_count{model="sim-1",outcome="ok"}')).toBe(3);
    expect(sampleLine(after, 'gencache_generation_duration_seconds_count{model="sim-1",outcome="generation_failed"}')).toBe(1);
    expect(value(after, 'gencache_cache_saved_seconds_total')).toBeGreaterThan(0);
  });

  it('never moves a counter backwards when the statistics are reset', async () => {
    const harness = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'a' } }));
    dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'a' } }));

    dataOf(await harness.execute(ResetCacheStatsDocument, {}, ADMIN));
    const families = await scrape(harness);

    expect(value(families, 'gencache_cache_hits_total')).toBe(1);
    expect(value(families, 'gencache_cache_misses_total')).toBe(1);
    expect(harness.service.stats()).toMatchObject({ hits: 0, misses: 0 });
  });

  it('answers only GET', async () => {
    const response = await createHarness().yoga.fetch('http://yoga/metrics', { method: 'POST' });
    expect(response.status).toBe(405);
  });
});

describe('structured logs', () => {
  it('logs admin actions, configuration changes and generator failures as JSON', async () => {
    const { lines, logger } = captureLogs('info');
    const harness = createHarness({ env: { ADMIN_TOKEN: TOKEN }, logger });

    dataOf(await harness.execute(UpdateCacheConfigDocument, { input: { maxEntries: 5 } }, ADMIN));
    dataOf(await harness.execute(ClearCacheDocument, {}, ADMIN));
    harness.generator.behaviour = { kind: 'fail', message: 'out of memory' };
    await harness.execute(GenerationDocument, { input: { prompt: 'x' } });
    await new Promise((resolve) => setImmediate(resolve));

    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 30, msg: 'cache configuration changed', cache: expect.objectContaining({ maxEntries: 5 }) }),
        expect.objectContaining({ level: 30, msg: 'admin: updateCacheConfig', after: expect.objectContaining({ maxEntries: 5 }) }),
        expect.objectContaining({ level: 30, msg: 'admin: clearCache', removed: 0 }),
        expect.objectContaining({ level: 40, msg: 'generation failed', code: 'GENERATION_FAILED', model: 'sim-1' }),
      ]),
    );
    expect(lines.every((line) => line['name'] === 'gencache' && typeof line['time'] === 'number')).toBe(true);
  });
});
