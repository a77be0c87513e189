import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';

/**
 * Adds `extensions.cache` to every result that served a generation: for each response path, the
 * cache key and what happened (HIT, MISS, COALESCED, BYPASS), so clients and load tests can see
 * the cache at work without extra queries.
 */
export function useCacheReport(): Plugin<Context> {
  return {
    onExecute({ args }) {
      const report = args.contextValue.cacheReport;
      return {
        onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result) || report.size === 0) return;
          setResult({ ...result, extensions: { ...result.extensions, cache: Object.fromEntries(report) } });
        },
      };
    },
  };
}
