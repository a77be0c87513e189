import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { GencacheError } from '../errors.js';

/** Subscriptions open at once on the whole server, over SSE and graphql-ws together. */
export const DEFAULT_MAX_SUBSCRIPTIONS = 1000;

/**
 * A bound on the subscriptions open at once on the server, whatever their transport: past it a
 * new one is refused at its start with TOO_MANY_SUBSCRIPTIONS and nothing runs for it. A
 * subscription counts from its start to its end, however it ends (completed, or its client gone).
 */
export function useSubscriptionLimit(max: number): Plugin {
  let open = 0;
  return {
    onSubscribe({ setResultAndStopExecution }) {
      if (open >= max) {
        const refusal = new GencacheError('TOO_MANY_SUBSCRIPTIONS', `the server has ${max} subscriptions open, its limit; retry later`);
        setResultAndStopExecution({ errors: [createGraphQLError(refusal.message, { originalError: refusal })] });
        return undefined;
      }
      return {
        onSubscribeResult({ result }) {
          if (!isAsyncIterable(result)) return undefined;
          open++;
          return { onEnd: () => void open-- };
        },
      };
    },
  };
}
