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
      const context = args.contextValue;
      return {
        onExecuteDone({ result }) {
          const report = context.cacheReport;
          // The execution's own result, extended in place: cheaper than a copy through setResult,
          // which costs a tenth of a cached request.
          if (report !== undefined && !isAsyncIterable(result)) result.extensions = { ...result.extensions, cache: report };
        },
      };
    },
  };
}
