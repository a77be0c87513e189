/**
 * Operations that carry duplicates inside themselves: one input under ten aliases and again in a
 * list. The per-operation DataLoader loads it once; every served path reports the same key.
 *   k6 run -e BASE_URL=http://127.0.0.1:4000 load/k6/in-operation-duplicates.ts
 */
import { check } from 'k6';
import type { Options } from 'k6/options';
import { COMMON_THRESHOLDS, operation, requireReady } from './graphql.ts';

const POOL_SIZE = Number(__ENV['POOL_SIZE'] ?? '50');

export const options: Options = {
  scenarios: {
    duplicates: { executor: 'constant-vus', vus: Number(__ENV['VUS'] ?? '20'), duration: __ENV['DURATION'] ?? '1m' },
  },
  thresholds: {
    ...COMMON_THRESHOLDS,
    'http_req_duration{scenario:duplicates}': ['p(95)<3000'],
    'checks{check:one key for every path}': ['rate==1'],
  },
};

export function setup(): void {
  requireReady();
}

export default function duplicates(): void {
  const input = { prompt: `k6 duplicated prompt ${Math.floor(Math.random() * POOL_SIZE)}` };
  const body = operation('DuplicatesInOneOperation', { input, inputs: [input, input, input] });
  const report = Object.values(body?.extensions?.cache ?? {});
  check(report, {
    'thirteen paths reported': (paths) => paths.length === 13,
    'one key for every path': (paths) => new Set(paths.map((path) => path.key)).size === 1,
  });
}
