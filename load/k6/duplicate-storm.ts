/**
 * Duplicate storm: many virtual users ask for the same new prompt at the same time; the prompt
 * changes every STORM_WINDOW_MS. Single-flight must run the generator once a window: nearly every
 * response is COALESCED or HIT, and MISS counts one per window.
 *   k6 run -e BASE_URL=http://127.0.0.1:4000 load/k6/duplicate-storm.ts
 */
import type { Options } from 'k6/options';
import { COMMON_THRESHOLDS, operation, requireReady } from './graphql.ts';

const WINDOW_MS = Number(__ENV['STORM_WINDOW_MS'] ?? '2000');
const DURATION_SECONDS = Number(__ENV['DURATION_SECONDS'] ?? '60');

export const options: Options = {
  scenarios: {
    storm: {
      executor: 'constant-vus',
      vus: Number(__ENV['VUS'] ?? '200'),
      duration: `${DURATION_SECONDS}s`,
    },
  },
  thresholds: {
    ...COMMON_THRESHOLDS,
    'http_req_duration{scenario:storm}': ['p(95)<5000'],
    // One generation a window, and a little slack for the windows at the start and the end.
    cache_miss: [`count<=${Math.ceil((DURATION_SECONDS * 1000) / WINDOW_MS) + 2}`],
    cache_coalesced: ['count>0'],
  },
};

export function setup(): { run: string } {
  requireReady();
  return { run: `${Date.now()}` };
}

export default function storm(data: { run: string }): void {
  const window = Math.floor(Date.now() / WINDOW_MS);
  operation('Generation', { input: { prompt: `k6 storm ${data.run} window ${window}` } });
}
