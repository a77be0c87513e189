/**
 * Admin churn: configuration changes and clears while traffic runs. Traffic must stay free of
 * errors: a shrink or a clear only turns later lookups into misses.
 *   k6 run -e BASE_URL=http://127.0.0.1:4000 -e ADMIN_TOKEN=... load/k6/admin-churn.ts
 */
import { check } from 'k6';
import type { Options } from 'k6/options';
import { ADMIN_TOKEN, BASE_URL, COMMON_THRESHOLDS, operation, requireReady } from './graphql.ts';

const POOL_SIZE = Number(__ENV['POOL_SIZE'] ?? '100');
const DURATION = __ENV['DURATION'] ?? '1m';

export const options: Options = {
  scenarios: {
    traffic: { executor: 'constant-vus', vus: Number(__ENV['VUS'] ?? '30'), duration: DURATION, exec: 'traffic' },
    admin: { executor: 'constant-arrival-rate', rate: 2, timeUnit: '1s', duration: DURATION, preAllocatedVUs: 2, exec: 'admin' },
  },
  thresholds: {
    ...COMMON_THRESHOLDS,
    'http_req_duration{scenario:traffic}': ['p(95)<3000'],
    'http_req_duration{scenario:admin}': ['p(95)<500'],
    'checks{scenario:admin}': ['rate==1'],
  },
};

interface CacheSettings {
  readonly enabled: boolean;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly defaultTtlSeconds: number;
}

/** The server's cache settings before the churn, for teardown to put back. */
export function setup(): CacheSettings {
  requireReady();
  if (!ADMIN_TOKEN && !/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/.test(BASE_URL)) {
    throw new Error('set ADMIN_TOKEN: admin calls to a remote server need it');
  }
  const settings = operation('CacheConfig')?.data?.['cacheConfig'] as CacheSettings | undefined;
  if (settings === undefined) throw new Error('could not read the cache settings');
  return settings;
}

export function teardown(settings: CacheSettings): void {
  operation('UpdateCacheConfig', { input: settings }, { admin: true });
}

export function traffic(): void {
  operation('Generation', { input: { prompt: `k6 churn prompt ${Math.floor(Math.random() * POOL_SIZE)}` } });
}

let step = 0;

export function admin(): void {
  step++;
  if (step % 4 === 0) {
    const body = operation('ClearCache', {}, { admin: true });
    check(body, { 'clearCache reports what it removed': (b) => typeof (b?.data?.['clearCache'] as { removed?: unknown })?.removed === 'number' });
  } else {
    const maxEntries = [10, 1000, 50][step % 3]!;
    const body = operation('UpdateCacheConfig', { input: { maxEntries } }, { admin: true });
    check(body, {
      'updateCacheConfig applies': (b) => (b?.data?.['updateCacheConfig'] as { maxEntries?: number })?.maxEntries === maxEntries,
    });
  }
}
