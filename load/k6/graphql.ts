import { check } from 'k6';
import http, { type RefinedResponse } from 'k6/http';
import { Counter, Rate } from 'k6/metrics';
import { document } from './operations.ts';

/** Settings from the environment, with defaults for a local server. */
export const BASE_URL = __ENV['BASE_URL'] ?? 'http://127.0.0.1:4000';
export const GRAPHQL_URL = `${BASE_URL}/graphql`;
export const ADMIN_TOKEN = __ENV['ADMIN_TOKEN'] ?? '';

/** What happened to each generation served, from `extensions.cache`. */
export const cacheHits = new Counter('cache_hit');
export const cacheMisses = new Counter('cache_miss');
export const cacheCoalesced = new Counter('cache_coalesced');
export const cacheBypassed = new Counter('cache_bypass');
/** The share of generations served from the cache. */
export const cacheHitRate = new Rate('cache_hit_rate');
/** Responses that carried GraphQL errors (HTTP status is 200 even then). */
export const graphqlErrors = new Rate('graphql_errors');

const COUNTERS: Record<string, Counter> = { HIT: cacheHits, MISS: cacheMisses, COALESCED: cacheCoalesced, BYPASS: cacheBypassed };

export interface GraphQLBody {
  readonly data?: Record<string, unknown> | null;
  readonly errors?: { message: string; extensions?: { code?: string } }[];
  readonly extensions?: { cache?: Record<string, { key: string; status: string }> };
}

/** Sends one shared operation; checks the status and the absence of errors; counts cache statuses. */
export function operation(
  operationName: string,
  variables: Record<string, unknown> = {},
  options: { admin?: boolean; tags?: Record<string, string> } = {},
): GraphQLBody | undefined {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.admin && ADMIN_TOKEN) headers['authorization'] = `Bearer ${ADMIN_TOKEN}`;
  const response: RefinedResponse<'text'> = http.post(
    GRAPHQL_URL,
    JSON.stringify({ query: document(operationName), operationName, variables }),
    { headers, tags: { operation: operationName, ...options.tags } },
  );
  let body: GraphQLBody | undefined;
  try {
    body = response.json() as GraphQLBody;
  } catch {
    body = undefined;
  }
  const hasErrors = body === undefined || (body.errors?.length ?? 0) > 0;
  graphqlErrors.add(hasErrors, { operation: operationName });
  check(response, {
    'status is 200': (r) => r.status === 200,
    'no GraphQL errors': () => !hasErrors,
  });
  for (const { status } of Object.values(body?.extensions?.cache ?? {})) {
    COUNTERS[status]?.add(1);
    cacheHitRate.add(status === 'HIT');
  }
  return body;
}

/** Fails the run at once when the server is not ready: no point loading a server that is down. */
export function requireReady(): void {
  const response = http.get(`${BASE_URL}/ready`);
  if (response.status !== 200) throw new Error(`${BASE_URL}/ready answered ${response.status}: ${response.body as string}`);
}

/** Thresholds every scenario shares: failures and GraphQL errors under 1%. */
export const COMMON_THRESHOLDS = {
  http_req_failed: ['rate<0.01'],
  graphql_errors: ['rate<0.01'],
  checks: ['rate>0.99'],
};
