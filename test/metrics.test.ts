import { print } from 'graphql';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { CacheConfigDocument, CacheStatsLiveDocument, GenerationDocument } from '../src/generated/graphql.js';
import persistedDocuments from '../src/generated/persisted-documents.json' with { type: 'json' };
import { createLogger } from '../src/logger.js';
import { useAccessLog } from '../src/plugins/use-access-log.js';
import { operationNamesOf, useOperationMetrics } from '../src/plugins/use-operation-metrics.js';
import { createHarness, dataOf, errorCodes, postOperation, serve, type Harness } from './helpers/harness.js';
import { labelValues, promtoolSkipReason, runPromtool, scrape, valueOf, type Scrape } from './helpers/metrics.js';
import { fleetEnv, redisSkipReason } from './helpers/redis.js';
import { subscribe } from './helpers/subscribers.js';
import { send } from './helpers/transports.js';

const REQUESTS = 'gencache_graphql_requests_total';
const DURATIONS = 'gencache_graphql_request_duration_seconds';
const OPERATION_NAMES = operationNamesOf(persistedDocuments);

const yogaFetch = (harness: Harness) => (url: string) => harness.yoga.fetch(url);
const skipped = (reason: string | undefined) => (reason === undefined ? '' : ` (skipped: ${reason})`);

/** A JSON POST of any text, as a client sends it (the fast lane takes it over a port). */
async function post(url: string, body: Record<string, unknown>): Promise<{ errors?: unknown[] }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as { errors?: unknown[] };
}

/** Over HTTP: a miss, a hit and a generator failure, each a `Generation` query. */
async function hitsMissesAndAnError(harness: Harness, url: string): Promise<void> {
  const input = { prompt: 'measured' };
  expect(dataOf(await postOperation(fetch, url, GenerationDocument, { input })).generation?.cacheStatus).toBe('MISS');
  expect(dataOf(await postOperation(fetch, url, GenerationDocument, { input })).generation?.cacheStatus).toBe('HIT');
  harness.generator.behaviour = { kind: 'fail', message: 'broken' };
  expect(errorCodes(await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'fails' } }))).toEqual(['GENERATION_FAILED']);
  harness.generator.behaviour = { kind: 'generate' };
}

/** Lints a scrape with `promtool check metrics`; returns its findings but those on prom-client's standard Node metrics. */
function promtoolFindings({ text }: Scrape): string[] {
  const { status, output } = runPromtool(['check', 'metrics'], text);
  // Node's default metrics keep their standard names even where promtool lints them
  // (nodejs_active_handles_total is a gauge), so that stock dashboards read them.
  const findings = output.split('\n').filter((line) => line !== '' && !/^(process|nodejs)_\S* /.test(line));
  // 0: nothing found; 3: lint findings, which must then all be of the standard metrics.
  return status === 0 || status === 3 ? findings : [`promtool exited with ${status}`, ...findings];
}

describe('metric names', () => {
  it("keeps Node's process metrics under their standard names, with no prefix", async () => {
    const harness = createHarness({ defaultMetrics: true });
    const { types } = await scrape(yogaFetch(harness));

    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(types.get('process_resident_memory_bytes')).toBe('gauge');
    expect(types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(types.get('nodejs_heap_size_used_bytes')).toBe('gauge');
    expect(types.get('nodejs_gc_duration_seconds')).toBe('histogram');
    expect([...types.keys()].filter((name) => /^gencache_(process|nodejs)_/.test(name))).toEqual([]);
  });

  it('names each of its own gencache_<subsystem>_<name>_<unit>, in base units, with _total on counters only', async () => {
    const harness = createHarness({ defaultMetrics: true });
    const { types } = await scrape(yogaFetch(harness));
    const own = [...types].filter(([name]) => name.startsWith('gencache_'));

    expect(own.length).toBeGreaterThan(15);
    for (const [name, type] of own) {
      expect(name).toMatch(/^gencache_(cache|generation|generator|shared_tier|graphql)_[a-z]+(_[a-z]+)*$/);
      expect(name).not.toMatch(/_(ms|milliseconds|mb|kb|mib|minutes|hours)(_|$)/);
      expect({ name, total: name.endsWith('_total') }).toEqual({ name, total: type === 'counter' });
    }
    expect(Object.fromEntries(own)).toMatchObject({
      gencache_cache_coalesced_total: 'counter',
      gencache_cache_deduplicated_total: 'counter',
      gencache_cache_saved_seconds_total: 'counter',
      gencache_cache_saved_tokens_total: 'counter',
      gencache_generation_in_flight: 'gauge',
      gencache_generation_queued: 'gauge',
      gencache_graphql_requests_total: 'counter',
      gencache_graphql_request_duration_seconds: 'histogram',
    });
  });

  it('labels generator calls with one outcome vocabulary: ok, or the error code lower-cased', async () => {
    const harness = createHarness();
    const url = await serve(harness);
    await hitsMissesAndAnError(harness, url);

    expect(labelValues(await scrape(fetch, url), 'gencache_generation_duration_seconds_count', 'outcome')).toEqual(['generation_failed', 'ok']);
  });
});

describe.skipIf(promtoolSkipReason !== undefined)(`promtool check metrics${skipped(promtoolSkipReason)}`, () => {
  it("finds nothing in a real scrape after hits, misses and errors (Node's standard metrics aside)", async () => {
    const harness = createHarness({ defaultMetrics: true });
    const url = await serve(harness);
    await hitsMissesAndAnError(harness, url);
    await post(url, { query: '{ nope }' });
    const scraped = await scrape(fetch, url);

    expect(valueOf(scraped, 'gencache_cache_hits_total')).toBe(1);
    expect(valueOf(scraped, REQUESTS, { operation: 'other', status: 'error' })).toBe(1);
    expect(promtoolFindings(scraped)).toEqual([]);
  });

  it('finds nothing wrong in an empty scrape of its own', () => {
    // Checks the check: promtool passes empty input, so the scrape above must have lines.
    expect(runPromtool(['check', 'metrics'], '').status).toBe(0);
    expect(promtoolFindings({ text: '# HELP x_total A gauge named as a counter.\n# TYPE x_total gauge\nx_total 1\n', types: new Map(), samples: [] })).toEqual([
      'x_total non-counter metrics should not have "_total" suffix',
    ]);
  });
});

describe('GraphQL requests by operation', () => {
  it('counts requests by operation and status, and times them, on the fast lane and through Yoga', async () => {
    const harness = createHarness();
    const url = await serve(harness);
    const lane = vi.spyOn(harness.fastLane!, 'serve');
    const before = await scrape(fetch, url);

    await hitsMissesAndAnError(harness, url);
    dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'measured' } }));
    const after = await scrape(fetch, url);

    const delta = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(await Promise.all(lane.mock.results.map((result) => result.value))).toEqual([true, true, true]);
    expect(delta(REQUESTS, { operation: 'Generation', status: 'ok' })).toBe(3);
    expect(delta(REQUESTS, { operation: 'Generation', status: 'error' })).toBe(1);
    expect(delta(`${DURATIONS}_count`, { operation: 'Generation' })).toBe(4);
    expect(delta(`${DURATIONS}_bucket`, { operation: 'Generation', le: '+Inf' })).toBe(4);
  });

  it('labels an operation without a name anonymous, and any name not of schema/operations other: the label set is fixed', async () => {
    const harness = createHarness();
    const url = await serve(harness);

    await post(url, { query: '{ cacheConfig { enabled } }' });
    for (let index = 0; index < 50; index++) await post(url, { query: `query Invented${index} { cacheConfig { enabled } }` });
    // Named by the document, or by the parameters when the document never runs.
    await post(url, { query: print(CacheConfigDocument), operationName: 'CacheConfig' });
    await post(url, { query: '{ nope }', operationName: 'CacheConfig' });
    await post(url, { query: '{ nope }', operationName: 'Invented' });
    const scraped = await scrape(fetch, url);

    expect(valueOf(scraped, REQUESTS, { operation: 'anonymous', status: 'ok' })).toBe(1);
    expect(valueOf(scraped, REQUESTS, { operation: 'other', status: 'ok' })).toBe(50);
    expect(valueOf(scraped, REQUESTS, { operation: 'CacheConfig', status: 'ok' })).toBe(1);
    expect(valueOf(scraped, REQUESTS, { operation: 'CacheConfig', status: 'error' })).toBe(1);
    expect(valueOf(scraped, REQUESTS, { operation: 'other', status: 'error' })).toBe(1);
    expect(labelValues(scraped, REQUESTS, 'operation')).toEqual([...OPERATION_NAMES, 'anonymous', 'other'].sort());
    expect(labelValues(scraped, REQUESTS, 'status')).toEqual(['error', 'ok']);
  });

  it.each(['sse', 'graphql-ws'] as const)('counts a subscription over %s once, when it starts, and does not time it', async (transport) => {
    const harness = createHarness();
    const url = await serve(harness);
    const stats = subscribe(transport, CacheStatsLiveDocument, { url, variables: { intervalMs: 100 } });
    await stats.next();
    await stats.next();
    await stats.next();
    await stats.close();
    const scraped = await scrape(fetch, url);

    expect(valueOf(scraped, REQUESTS, { operation: 'CacheStatsLive', status: 'ok' })).toBe(1);
    expect(valueOf(scraped, `${DURATIONS}_count`, { operation: 'CacheStatsLive' })).toBe(0);
  });

  it('counts a graphql-ws query with its duration', async () => {
    const harness = createHarness();
    const url = await serve(harness);
    const config = subscribe('graphql-ws', CacheConfigDocument, { url });
    expect((await config.next()).errors).toBeUndefined();
    await config.close();
    const scraped = await scrape(fetch, url);

    expect(valueOf(scraped, REQUESTS, { operation: 'CacheConfig', status: 'ok' })).toBe(1);
    expect(valueOf(scraped, `${DURATIONS}_count`, { operation: 'CacheConfig' })).toBe(1);
  });

  it('counts graphql-ws operations refused before they run as errors, with their duration, and no HTTP request twice', async () => {
    const harness = createHarness();
    const url = await serve(harness);
    const overLimit = `query CacheConfig { ${Array.from({ length: 33 }, (_, i) => `a${i}: cacheConfig { enabled }`).join(' ')} }`;
    const refusals = [
      { query: '{ nope }', operationName: 'CacheConfig' },
      { query: 'query CacheConfig { cacheConfig {', operationName: 'CacheConfig' },
      { query: overLimit, operationName: 'CacheConfig' },
      { query: print(CacheConfigDocument), operationName: 'Invented' },
    ];
    for (const params of refusals) expect((await send('graphql-ws', url, params)).errors).toHaveLength(1);
    expect((await send('lane', url, { query: '{ nope }', operationName: 'CacheConfig' })).errors).toHaveLength(1);
    const scraped = await scrape(fetch, url);

    // Three over graphql-ws and the one over HTTP; the operation name the document lacks is `other`.
    expect(valueOf(scraped, REQUESTS, { operation: 'CacheConfig', status: 'error' })).toBe(4);
    expect(valueOf(scraped, REQUESTS, { operation: 'other', status: 'error' })).toBe(1);
    expect(valueOf(scraped, `${DURATIONS}_count`, { operation: 'CacheConfig' })).toBe(4);
    expect(valueOf(scraped, REQUESTS, { operation: 'CacheConfig', status: 'ok' })).toBe(0);
  });

  it('has no hook of HTTP framing, so that the fast lane stays on', () => {
    const plugins = [useOperationMetrics({ registry: new Registry(), operationNames: OPERATION_NAMES }), useAccessLog({ logger: createLogger('silent') })];

    for (const plugin of plugins) {
      expect(Object.keys(plugin).filter((hook) => ['onRequest', 'onRequestParse', 'onResponse'].includes(hook))).toEqual([]);
    }
    expect(createHarness().fastLane).toBeDefined();
  });
});

describe.skipIf(redisSkipReason !== undefined)(`the shared tier's metrics${skipped(redisSkipReason)}`, () => {
  it('reports gencache_shared_tier_up and gencache_shared_tier_errors_total with a shared tier, and promtool finds nothing in them', async () => {
    const harness = createHarness({ env: fleetEnv(), defaultMetrics: true });
    await harness.connected;
    const scraped = await scrape(yogaFetch(harness));

    expect(valueOf(scraped, 'gencache_shared_tier_up')).toBe(1);
    expect(scraped.types.get('gencache_shared_tier_errors_total')).toBe('counter');
    if (promtoolSkipReason === undefined) expect(promtoolFindings(scraped)).toEqual([]);
  });
});
