import { useReadinessCheck, type Plugin } from 'graphql-yoga';
import type { Generator } from '../generation/generator.js';

export interface GeneratorReadinessOptions {
  readonly generator: Generator;
  /** Whether the result cache is on, reported beside the generator's state. */
  readonly cacheEnabled: () => boolean;
  /** Whether the shared tier answers (undefined: there is none); reported, never a reason for 503. */
  readonly sharedTier?: () => boolean | undefined;
  /** How long the check waits for the generator. @default 2000 */
  readonly timeoutMs?: number;
  /**
   * Whether a generator that cannot take work makes the instance unready (503). Off, the
   * instance is ready while it can answer (hits are served without the generator) and the
   * generator's state is only reported: an upstream outage does not pull every replica at once.
   * @default false
   */
  readonly requireGenerator?: boolean;
}

/**
 * Readiness at `/ready` through Yoga's `useReadinessCheck`: 200 while the server can answer; with
 * `requireGenerator`, 503 while the generator cannot take work. The JSON body reports the
 * generator's state and whether the shared tier answers. GET and HEAD only.
 */
export function useGeneratorReadiness({ generator, cacheEnabled, sharedTier = () => undefined, timeoutMs = 2000, requireGenerator = false }: GeneratorReadinessOptions): Plugin {
  return useReadinessCheck({
    endpoint: '/ready',
    check: async ({ request, fetchAPI }) => {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
      }
      const state = { id: generator.id, ready: true, error: undefined as string | undefined };
      try {
        await generator.checkReady?.(AbortSignal.timeout(timeoutMs));
      } catch (error) {
        state.ready = false;
        state.error = error instanceof Error ? error.message : String(error);
      }
      // Without Redis the instance serves alone: that degrades the fleet, not this instance's readiness.
      const shared = sharedTier();
      const cache = { enabled: cacheEnabled(), ...(shared !== undefined && { sharedTier: shared ? 'up' : 'down' }) };
      const ready = state.ready || !requireGenerator;
      const body = { status: ready ? 'ready' : 'unavailable', generator: state, cache };
      return new fetchAPI.Response(JSON.stringify(body), {
        status: ready ? 200 : 503,
        headers: { 'content-type': 'application/json' },
      });
    },
  });
}
