import { Kind, parse } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Registry } from 'prom-client';
import { graphQlRequestMetrics, type RequestStatus } from '../metrics.js';
import type { WebSocketRefusalHook } from '../websocket.js';
import { noteDocument, noteParams, operationNameOf, startOf } from './request-tracking.js';

export interface OperationMetricsOptions {
  /** Where `gencache_graphql_requests_total` and `gencache_graphql_request_duration_seconds` are. */
  readonly registry: Registry;
  /**
   * The operation names that get an `operation` label of their own: the service's known documents
   * (`operationNamesOf(persisted documents)`). Any other name is `other`, an operation without a
   * name `anonymous`: clients choose names, so only a fixed list may become label values, or an
   * attacker could grow the series without bound.
   */
  readonly operationNames: Iterable<string>;
}

/** The names of the operations of a persisted-documents manifest (id → document text). */
export function operationNamesOf(manifest: Readonly<Record<string, string>>): string[] {
  return Object.values(manifest).flatMap((text) =>
    parse(text).definitions.flatMap((definition) => (definition.kind === Kind.OPERATION_DEFINITION && definition.name ? [definition.name.value] : [])),
  );
}

/** The label objects of one `operation` value, built once. */
interface Labels {
  readonly ok: { readonly operation: string; readonly status: RequestStatus };
  readonly error: { readonly operation: string; readonly status: RequestStatus };
  readonly operation: { readonly operation: string };
}

/**
 * Counts GraphQL requests over HTTP and graphql-ws by operation and status (`ok`, or `error` when the result has
 * errors) and observes their duration: from Yoga's `onParams` (the parameters are read; parsing,
 * validation and execution are to come) to the result's processing. A subscription counts once,
 * when it starts, and has no duration.
 *
 * Hooks: `onParams`, envelop's `onExecute` and `onSubscribe`, `onResultProcess`, which Yoga and
 * the fast lane both run (src/fast-lane.ts), and `onWebSocketRefusal`; none of HTTP
 * framing, so the lane stays on. It
 * must come before any plugin whose `onParams` may refuse a request, so that the refusal is timed
 * too. `onResultProcess` runs once per response, also for requests refused before execution
 * (parse and validation errors, an `onParams` refusal): those count under the name their
 * parameters gave, if known. graphql-ws operations never reach result processing: they are
 * counted when they execute (a subscription when it starts), from envelop's hooks, and one
 * refused before it runs (a parse or validation error, a limit) from `onWebSocketRefusal`, which
 * src/websocket.ts runs for it and nothing runs on the HTTP path. The REST endpoints are not
 * counted here: they answer on paths of their own, before GraphQL result processing.
 *
 * On the hot path: label objects are built once, per known name; a request costs a clock read,
 * the request tracking's notes on its context, and prom-client's increment and observation.
 */
export function useOperationMetrics({ registry, operationNames }: OperationMetricsOptions): Plugin & WebSocketRefusalHook {
  const { requests, durations } = graphQlRequestMetrics(registry);
  const labelsOf = (operation: string): Labels => ({ ok: { operation, status: 'ok' }, error: { operation, status: 'error' }, operation: { operation } });
  // null: an operation without a name; no string, so that no client-given name can pass for it.
  const known = new Map<string | null, Labels>();
  for (const name of operationNames) known.set(name, labelsOf(name));
  known.set(null, labelsOf('anonymous'));
  const other = labelsOf('other');
  // Every series of the counter exists from the start, so that rates and dashboards have one.
  for (const labels of [...known.values(), other]) {
    requests.inc(labels.ok, 0);
    requests.inc(labels.error, 0);
  }

  const labelsOfContext = (context: unknown): Labels => {
    const name = operationNameOf(context);
    return (name === undefined ? undefined : known.get(name)) ?? other;
  };
  /** A graphql-ws operation: its context carries the socket (src/websocket.ts). */
  const overWebSocket = (contextValue: unknown): boolean => (contextValue as { socket?: unknown }).socket !== undefined;
  // One object each, whatever the operation: the hooks read what they need from their arguments.
  const countExecution = {
    onExecuteDone({ args, result }: { args: { contextValue: unknown }; result: unknown }) {
      const labels = labelsOfContext(args.contextValue);
      requests.inc(!isAsyncIterable(result) && hasErrors(result as { errors?: readonly unknown[] }) ? labels.error : labels.ok);
      const start = startOf(args.contextValue);
      if (start !== undefined) durations.observe(labels.operation, (performance.now() - start) / 1000);
    },
  };
  const countSubscription = {
    onSubscribeResult({ args, result }: { args: { contextValue: unknown }; result: unknown }) {
      const labels = labelsOfContext(args.contextValue);
      requests.inc(!isAsyncIterable(result) && hasErrors(result as { errors?: readonly unknown[] }) ? labels.error : labels.ok);
    },
  };

  return {
    onParams({ params, context }) {
      noteParams(context, params);
    },
    onExecute({ args }) {
      noteDocument(args);
      return overWebSocket(args.contextValue) ? countExecution : undefined;
    },
    onSubscribe({ args }) {
      noteDocument(args);
      return overWebSocket(args.contextValue) ? countSubscription : undefined;
    },
    onWebSocketRefusal({ context }) {
      const labels = labelsOfContext(context);
      requests.inc(labels.error);
      const start = startOf(context);
      if (start !== undefined) durations.observe(labels.operation, (performance.now() - start) / 1000);
    },
    onResultProcess({ result, serverContext }) {
      const labels = labelsOfContext(serverContext);
      if (isAsyncIterable(result)) {
        requests.inc(labels.ok);
        return;
      }
      const failed = Array.isArray(result) ? result.some(hasErrors) : hasErrors(result);
      requests.inc(failed ? labels.error : labels.ok);
      const start = startOf(serverContext);
      if (start !== undefined) durations.observe(labels.operation, (performance.now() - start) / 1000);
    },
  };
}

const hasErrors = (result: { readonly errors?: readonly unknown[] | undefined }): boolean => result.errors !== undefined && result.errors.length > 0;
