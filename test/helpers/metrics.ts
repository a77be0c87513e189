import { spawnSync } from 'node:child_process';

/** One sample line of Prometheus text: `name{labels} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A scrape of /metrics: its text, the type of each family (`# TYPE`), and every sample with its labels. */
export interface Scrape {
  readonly text: string;
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Reads Prometheus text; a line that is neither a comment nor a sample throws. */
export function parseScrape(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1]!, type[2]!);
    if (line.startsWith('#')) continue;
    const sample = SAMPLE.exec(line);
    if (sample === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = Object.fromEntries([...(sample[2] ?? '').matchAll(LABEL)].map(([, name, value]) => [name!, value!]));
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { text, types, samples };
}

/** GET /metrics of a server (a URL of its GraphQL endpoint, or Yoga's fetch), parsed. */
export async function scrape(fetchFn: (url: string) => Promise<Response> | Response, graphqlUrl = 'http://yoga/graphql'): Promise<Scrape> {
  const response = await fetchFn(graphqlUrl.replace(/\/graphql$/, '/metrics'));
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  return parseScrape(await response.text());
}

/** The value of the one sample of `name` whose labels include `labels`; 0 when there is none. */
export function valueOf(scraped: Scrape, name: string, labels: Record<string, string> = {}): number {
  const matching = scraped.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matching[0]?.value ?? 0;
}

/** The distinct values of one label of a metric's samples, sorted. */
export function labelValues(scraped: Scrape, name: string, label: string): string[] {
  return [...new Set(scraped.samples.flatMap((sample) => (sample.name === name && sample.labels[label] !== undefined ? [sample.labels[label]] : [])))].sort();
}

/**
 * Whether a metric name is in the scrape: a family, or a histogram's series (`_bucket`, `_sum`,
 * `_count`) or a summary's (`_sum`, `_count`).
 */
export function hasMetric(scraped: Scrape, name: string): boolean {
  if (scraped.types.has(name)) return true;
  const series = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (series === null) return false;
  const type = scraped.types.get(series[1]!);
  return type === 'histogram' || (type === 'summary' && series[2] !== 'bucket');
}

/** promtool, from Debian's `prometheus` package; .ci/run installs it. */
export const PROMTOOL = 'promtool';

/** Whether promtool runs here; under CI it must (.ci/run installs it), so its tests run and fail without it. */
export const promtoolPresent = spawnSync(PROMTOOL, ['--version'], { stdio: 'ignore' }).status === 0;

/** Why the promtool tests are skipped, or undefined when they run (always under CI). */
export const promtoolSkipReason =
  promtoolPresent || process.env['CI']
    ? undefined
    : 'promtool is not installed (apt-get install -y --no-install-recommends prometheus); CI installs it and runs these tests';

/** Runs promtool with the arguments and the input; throws when it cannot run at all. */
export function runPromtool(args: readonly string[], input?: string): { readonly status: number | null; readonly output: string } {
  const run = spawnSync(PROMTOOL, args, { input, encoding: 'utf8' });
  if (run.error !== undefined) throw new Error(`cannot run ${PROMTOOL} (.ci/run installs Debian's prometheus package): ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}
