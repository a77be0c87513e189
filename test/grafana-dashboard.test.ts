import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { GenerationDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, postOperation, serve, type Harness } from './helpers/harness.js';
import { hasMetric, promtoolSkipReason, runPromtool, scrape } from './helpers/metrics.js';
import { fleetEnv, redisSkipReason } from './helpers/redis.js';

const DASHBOARD = new URL('../load/grafana/gencache.json', import.meta.url);

interface Panel {
  readonly title?: string;
  readonly type: string;
  readonly targets?: readonly { readonly expr?: string }[];
  readonly panels?: readonly Panel[];
}

interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly type: string; readonly query?: unknown }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

/** Every panel, those inside collapsed rows too. */
const allPanels = (panels: readonly Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);

/** The PromQL of every panel target and of every query variable (`label_values(metric, label)`). */
function expressions(): string[] {
  const fromPanels = allPanels(dashboard.panels).flatMap((panel) => (panel.targets ?? []).flatMap((target) => (target.expr === undefined ? [] : [target.expr])));
  const fromVariables = dashboard.templating.list.flatMap((variable) => {
    if (variable.type !== 'query') return [];
    const query = typeof variable.query === 'string' ? variable.query : (variable.query as { query: string }).query;
    const metric = /^label_values\(\s*([^,\s)]+)/.exec(query);
    return metric === null ? [query] : [metric[1]!];
  });
  return [...fromPanels, ...fromVariables];
}

/** Grafana's variables, as a Prometheus query would have them substituted. */
const substituted = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replace(/\$\{?(\w+)\}?/g, '.*');

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: its identifiers, once strings, label matchers,
 * ranges and grouping clauses are gone, that are neither functions, aggregations nor keywords.
 */
function metricNames(expr: string): string[] {
  const bare = substituted(expr)
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()/g)].map((match) => match[1]!);
  return [...new Set(names.filter((name) => !KEYWORDS.has(name.toLowerCase())))];
}

/** Serves the harness and sends a miss and a hit, so that every histogram has samples; returns its URL. */
async function servedWithTraffic(harness: Harness): Promise<string> {
  const url = await serve(harness);
  for (let index = 0; index < 2; index++) dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'charted' } }));
  return url;
}

const queried = [...new Set(expressions().flatMap(metricNames))].sort();
const isSharedTier = (name: string) => name.startsWith('gencache_shared_tier_');

describe('the Grafana dashboard (load/grafana/gencache.json)', () => {
  it('reads its metric names out of PromQL', () => {
    expect(metricNames('sum by (operation, le) (rate(gencache_graphql_request_duration_seconds_bucket{instance=~"$instance",status="error"}[$__rate_interval]))')).toEqual([
      'gencache_graphql_request_duration_seconds_bucket',
    ]);
    expect(metricNames('histogram_quantile(0.95, sum(rate(a_bucket[5m])) by (le)) / on(instance) group_left b_total offset 5m')).toEqual(['a_bucket', 'b_total']);
  });

  it('charts hit rate, requests by operation, latency quantiles, generations, entries and bytes against their bounds, the shared tier and the Node process', () => {
    const exprs = expressions();

    expect(dashboard).toMatchObject({ uid: 'gencache', title: 'gencache' });
    expect(dashboard.templating.list).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' })]));
    expect(queried).toEqual(
      expect.arrayContaining([
        'gencache_cache_hits_total',
        'gencache_cache_misses_total',
        'gencache_graphql_requests_total',
        'gencache_graphql_request_duration_seconds_bucket',
        'gencache_generation_in_flight',
        'gencache_generation_queued',
        'gencache_cache_entries',
        'gencache_cache_max_entries',
        'gencache_cache_bytes',
        'gencache_cache_max_bytes',
        'gencache_shared_tier_up',
        'process_cpu_user_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_p99_seconds',
      ]),
    );
    expect(exprs.some((expr) => /histogram_quantile\(0\.95, sum by \(le\) \(rate\(gencache_graphql_request_duration_seconds_bucket/.test(expr))).toBe(true);
    expect(exprs.some((expr) => /sum by \(operation\) \(rate\(gencache_graphql_requests_total/.test(expr))).toBe(true);
    for (const panel of allPanels(dashboard.panels).filter((each) => each.type !== 'row')) {
      const exprs = (panel.targets ?? []).map((target) => target.expr ?? '');
      expect({ panel: panel.title, queries: exprs.length > 0, eachSelectsAMetric: exprs.every((expr) => metricNames(expr).length > 0) }).toEqual({
        panel: panel.title,
        queries: true,
        eachSelectsAMetric: true,
      });
    }
  });

  it('queries only metrics that a real scrape has (the shared tier aside: see below)', async () => {
    const scraped = await scrape(fetch, await servedWithTraffic(createHarness({ defaultMetrics: true })));

    expect(queried.filter((name) => !isSharedTier(name) && !hasMetric(scraped, name))).toEqual([]);
  });

  it.skipIf(redisSkipReason !== undefined)(`queries the shared tier's metrics as an instance with one has them${redisSkipReason ? ` (skipped: ${redisSkipReason})` : ''}`, async () => {
    const harness = createHarness({ env: fleetEnv(), defaultMetrics: true });
    await harness.connected;
    const scraped = await scrape(fetch, await servedWithTraffic(harness));

    expect(queried.filter(isSharedTier).length).toBeGreaterThan(0);
    expect(queried.filter((name) => !hasMetric(scraped, name))).toEqual([]);
  });

  it.skipIf(promtoolSkipReason !== undefined)(`has PromQL that Prometheus parses${promtoolSkipReason ? ` (skipped: ${promtoolSkipReason})` : ''}`, () => {
    // promtool checks rules files: each expression becomes a recording rule.
    const rules = { groups: [{ name: 'dashboard', rules: expressions().map((expr, index) => ({ record: `dashboard:expr${index}`, expr: substituted(expr) })) }] };
    const folder = mkdtempSync(join(tmpdir(), 'gencache-dashboard-'));
    onTestFinished(() => rmSync(folder, { recursive: true, force: true }));
    const file = join(folder, 'rules.json');
    writeFileSync(file, JSON.stringify(rules));

    const { status, output } = runPromtool(['check', 'rules', file]);

    expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });
});
