import { useReadinessCheck, type Plugin } from 'graphql-yoga';
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
 * with a JSON body that says why.
 */
export function useOperationsEndpoints({ service, metrics, readinessTimeoutMs = 2000 }: OperationsEndpointsOptions): Plugin {
  const metricsPlugin: Plugin = {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      if (url.pathname !== '/metrics') return;
      if (request.method !== 'GET') {
        endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET' } }));
        return;
      }
      endResponse(new fetchAPI.Response(await metrics.metrics(), { headers: { 'content-type': metrics.contentType } }));
    },
  };
  const readinessPlugin = useReadinessCheck({
    endpoint: '/ready',
    check: async ({ fetchAPI }) => {
      const generator = { id: service.generator.id, ready: true, error: undefined as string | undefined };
      try {
        await service.generator.checkReady?.(AbortSignal.timeout(readinessTimeoutMs));
      } catch (error) {
        generator.ready = false;
        generator.error = error instanceof Error ? error.message : String(error);
      }
      const body = { status: generator.ready ? 'ready' : 'unavailable', generator, cache: { enabled: service.cache.settings.enabled } };
      return new fetchAPI.Response(JSON.stringify(body), {
        status: generator.ready ? 200 : 503,
        headers: { 'content-type': 'application/json' },
      });
    },
  });
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(metricsPlugin);
      addPlugin(readinessPlugin);
    },
  };
}
