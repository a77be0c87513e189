import type { Plugin } from 'graphql-yoga';
import { loadDashboardAssets, type DashboardAsset } from '../dashboard/assets.js';

/** Where the dashboard is served; its script and styles are under `/dashboard/assets/`. */
export const DASHBOARD_PATH = '/dashboard';

/** The page's Content-Security-Policy: scripts, styles and connections of its own origin only. */
export const DASHBOARD_CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

export interface DashboardOptions {
  /** The GraphQL endpoint the page sends its operations to. */
  readonly graphqlEndpoint: string;
  /** How often the page asks for statistics, unless its URL gives `?intervalMs=`. @default 500 */
  readonly intervalMs?: number;
  /** How much history the charts keep, in seconds. @default 300 */
  readonly windowSeconds?: number;
}

/**
 * The live dashboard at `/dashboard` (GET or HEAD; 405 otherwise): a public page, like GraphiQL,
 * that shows statistics through the public `cacheStats` subscription and admin data only through
 * the admin fields, with the token entered in the page. Its assets are read from the package on
 * the first request and kept.
 *
 * It only answers paths under `/dashboard`, never the GraphQL endpoint, so it is one of the plugins
 * the fast lane may leave out (`laneSafe` in src/yoga.ts). One comparison per request: this hook
 * runs on every request that reaches Yoga.
 */
export function useDashboard({ graphqlEndpoint, intervalMs = 500, windowSeconds = 300 }: DashboardOptions): Plugin {
  let assets: Promise<ReadonlyMap<string, DashboardAsset>> | undefined;
  const load = () =>
    (assets ??= loadDashboardAssets({ path: DASHBOARD_PATH, graphqlEndpoint, intervalMs, windowSeconds }).catch((error: unknown) => {
      // Tried again on the next request (a package being installed, a file being written).
      assets = undefined;
      throw error;
    }));
  return {
    // Synchronous for every other path, so that GraphQL requests do not wait a promise here.
    onRequest({ url, request, endResponse, fetchAPI }) {
      const { pathname } = url;
      if (!pathname.startsWith(DASHBOARD_PATH) || (pathname.length > DASHBOARD_PATH.length && pathname[DASHBOARD_PATH.length] !== '/')) return undefined;
      return load().then((served) => {
        const found = served.get(pathname);
        if (found === undefined) {
          endResponse(new fetchAPI.Response('Not Found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
          return;
        }
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
          return;
        }
        const headers: Record<string, string> = {
          'content-type': found.contentType,
          etag: found.etag,
          'cache-control': 'no-cache',
          'x-content-type-options': 'nosniff',
          ...(found.contentType.startsWith('text/html') && { 'content-security-policy': DASHBOARD_CSP }),
        };
        const unchanged = matches(request.headers.get('if-none-match'), found.etag);
        const body = unchanged || request.method === 'HEAD' ? null : found.body;
        endResponse(new fetchAPI.Response(body, { status: unchanged ? 304 : 200, headers }));
      });
    },
  };
}

/** If-None-Match's weak comparison: `*`, or any listed tag with the same opaque tag. */
function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  return ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
