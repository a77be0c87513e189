/**
 * Mixed workload: REPEAT_SHARE of the requests (default 0.7) repeat a pool of POOL_SIZE prompts,
 * the rest ask for a new one. With a warm cache the hit rate approaches the repeat share.
 *   k6 run -e BASE_URL=http://127.0.0.1:4000 -e REPEAT_SHARE=0.7 load/k6/mixed.ts
 */
import exec from 'k6/execution';
import type { Options } from 'k6/options';
import { COMMON_THRESHOLDS, operation, requireReady } from './graphql.ts';

const REPEAT_SHARE = Number(__ENV['REPEAT_SHARE'] ?? '0.7');
const POOL_SIZE = Number(__ENV['POOL_SIZE'] ?? '100');

export const options: Options = {
  scenarios: {
    mixed: {
      executor: 'ramping-vus',
      stages: [
        { duration: __ENV['RAMP'] ?? '10s', target: Number(__ENV['VUS'] ?? '50') },
        { duration: __ENV['DURATION'] ?? '1m', target: Number(__ENV['VUS'] ?? '50') },
        { duration: '5s', target: 0 },
      ],
    },
  },
  thresholds: {
    ...COMMON_THRESHOLDS,
    'http_req_duration{scenario:mixed}': ['p(95)<2000', 'p(99)<5000'],
    // At least half the repeat share must be served from the cache (it warms as the run goes).
    cache_hit_rate: [`rate>${REPEAT_SHARE / 2}`],
  },
};

export function setup(): void {
  requireReady();
}

export default function mixed(): void {
  const repeat = Math.random() < REPEAT_SHARE;
  const prompt = repeat
    ? `k6 pool prompt ${Math.floor(Math.random() * POOL_SIZE)}`
    : `k6 new prompt ${exec.vu.idInTest}-${exec.vu.iterationInScenario}-${Date.now()}`;
  operation('Generation', { input: { prompt } }, { tags: { repeat: String(repeat) } });
}
