import type { Plugin } from 'graphql-yoga';
import type { Registry } from 'prom-client';
import type { GenerationService } from '../generation/service.js';

export interface OperationsEndpointsOptions {
  readonly service: GenerationService;
  readonly metrics: Registry;
  /** How long the readiness check waits for the generator. @default 2000 */
  readonly readinessTimeoutMs?: number;
}

/**
 * The operations surface beside Yoga's liveness `/health`: `/metrics` in Prometheus text format,
 * and `/ready`, 200 when the generator can take work (the simulated one always can), else 503,
 * with a JSON body that says why. One pathname comparison per request: this hook runs on every
 * GraphQL request too.
 */
export function useOperationsEndpoints({ service, metrics, readinessTimeoutMs = 2000 }: OperationsEndpointsOptions): Plugin {
  const readiness = async (): Promise<{ status: number; body: string }> => {
    const generator = { id: service.generator.id, ready: true, error: undefined as string | undefined };
    try {
      await service.generator.checkReady?.(AbortSignal.timeout(readinessTimeoutMs));
    } catch (error) {
      generator.ready = false;
      generator.error = error instanceof Error ? error.message : String(error);
    }
    const body = { status: generator.ready ? 'ready' : 'unavailable', generator, cache: { enabled: service.cache.settings.enabled } };
    return { status: generator.ready ? 200 : 503, body: JSON.stringify(body) };
  };

  return {
    // Synchronous for every other path, so that GraphQL requests do not wait a promise here.
    onRequest({ url, request, endResponse, fetchAPI }) {
      const { pathname } = url;
      if (pathname !== '/metrics' && pathname !== '/ready') return undefined;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
        return undefined;
      }
      if (pathname === '/metrics') {
        return metrics.metrics().then((text) => {
          endResponse(new fetchAPI.Response(text, { headers: { 'content-type': metrics.contentType } }));
        });
      }
      return readiness().then(({ status, body }) => {
        endResponse(new fetchAPI.Response(body, { status, headers: { 'content-type': 'application/json' } }));
      });
    },
  };
}
