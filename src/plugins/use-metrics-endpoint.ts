import type { Plugin } from 'graphql-yoga';
import type { Registry } from 'prom-client';

/**
 * Prometheus metrics at `/metrics` (GET or HEAD). One pathname comparison per request: this hook
 * runs on every request that reaches Yoga.
 */
export function useMetricsEndpoint(registry: Registry, endpoint = '/metrics'): Plugin {
  return {
    // Synchronous for every other path, so that GraphQL requests do not wait a promise here.
    onRequest({ url, request, endResponse, fetchAPI }) {
      if (url.pathname !== endpoint) return undefined;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
        return undefined;
      }
      return registry.metrics().then((text) => {
        endResponse(new fetchAPI.Response(text, { headers: { 'content-type': registry.contentType } }));
      });
    },
  };
}
