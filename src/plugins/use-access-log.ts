import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExecutionArgs, ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.js';
import { noteDocument, noteParams, operationNameOf, startOf } from './request-tracking.js';

export interface AccessLogOptions {
  /** Where the lines go: `info` for each request, `warn` for each refused admin attempt. */
  readonly logger: Logger;
}

/** Characters of a client-given operation name that reach the log. */
const MAX_OPERATION_NAME_LENGTH = 100;

const ERRORS = Symbol('gencache.accessLog.errors');
const TRACKED = Symbol('gencache.accessLog.context');

/** What the plugin keeps on a request's context (the server context Yoga extends into the operation's). */
interface Tracked {
  /** The codes of the result's errors, when it has any. */
  [ERRORS]?: unknown[];
  readonly req?: IncomingMessage;
  readonly res?: ServerResponse;
  /** The generations served, by response path (src/context.ts). */
  readonly cacheReport?: Readonly<Record<string, { readonly status: string }>>;
}

/**
 * The access log of GraphQL over HTTP, Yoga's path and the fast lane alike: one `info` line per
 * request when its response ends (`request`), with the method, the path (without the query
 * string, where a GET carries the document and its variables), the operation's name, the HTTP
 * status, the milliseconds from its parameters to its last byte, how many generations each cache
 * status served (`cache`, from `extensions.cache`) and the codes of its errors; `aborted` when the
 * client left first. A subscription's line comes when it ends. An operation whose admin fields
 * were refused (FORBIDDEN, UNAUTHENTICATED) makes a `warn` line at once (`admin access refused`),
 * with the code, the fields and the client's address, on every transport that executes through
 * envelop: GraphQL over HTTP, graphql-ws, the REST endpoints. Never a prompt, an output,
 * variables, headers or credentials.
 *
 * Hooks: `onParams`, envelop's `onExecute` and `onSubscribe` (which return one shared object of
 * done hooks: no allocation a request), and `onResultProcess`, which Yoga and the fast lane both
 * run; none of HTTP framing, so the lane stays on. It must come before any plugin whose
 * `onParams` may refuse a request. graphql-ws operations get no access line: the upgrade is the
 * only HTTP request of a WebSocket.
 */
export function useAccessLog({ logger }: AccessLogOptions): Plugin {
  /** Listens to the response's `close`, which ends it whether it was written whole or not; `this` is the response. */
  function onClose(this: ServerResponse & { [TRACKED]?: Tracked }): void {
    const tracked = this[TRACKED];
    if (tracked === undefined) return;
    const start = startOf(tracked);
    logger.info(
      {
        method: this.req.method,
        path: pathOf(this.req.url),
        operation: nameOf(operationNameOf(tracked)),
        status: this.statusCode,
        durationMs: start === undefined ? undefined : Math.round((performance.now() - start) * 100) / 100,
        cache: cacheSummary(tracked.cacheReport),
        errors: tracked[ERRORS],
        aborted: this.writableFinished ? undefined : true,
      },
      'request',
    );
  }

  /**
   * Logs the admin fields a result refused. It runs where the refusal is made, in envelop's
   * execution, so every transport that executes through it is covered: GraphQL over HTTP (the
   * fast lane's too), graphql-ws and the REST endpoints.
   */
  const logRefusals = ({ contextValue }: ExecutionArgs, result: ExecutionResult | AsyncIterable<unknown>) => {
    if (isAsyncIterable(result) || result.errors === undefined) return;
    const refused = result.errors.filter((error) => error.path !== undefined && isAdminRefusal(error.extensions?.['code']));
    if (refused.length === 0) return;
    const { request, req } = contextValue as { request?: Request; req?: IncomingMessage };
    logger.warn(
      {
        method: request?.method ?? req?.method,
        path: pathOf(request?.url ?? req?.url),
        operation: nameOf(operationNameOf(contextValue)),
        code: refused[0]!.extensions['code'],
        fields: refused.map((error) => error.path!.join('.')),
        remoteAddress: req?.socket.remoteAddress,
      },
      'admin access refused',
    );
  };
  // One object each, whatever the request: the hooks read what they need from their arguments.
  const refusalsOfExecution = { onExecuteDone: ({ args, result }: { args: ExecutionArgs; result: ExecutionResult | AsyncIterable<unknown> }) => logRefusals(args, result) };
  const refusalsOfSubscription = { onSubscribeResult: ({ args, result }: { args: ExecutionArgs; result: ExecutionResult | AsyncIterable<unknown> }) => logRefusals(args, result) };

  return {
    onParams({ params, context }) {
      noteParams(context, params);
    },
    onExecute({ args }) {
      noteDocument(args);
      return refusalsOfExecution;
    },
    onSubscribe({ args }) {
      noteDocument(args);
      return refusalsOfSubscription;
    },
    onResultProcess({ result, serverContext }) {
      const tracked = serverContext as Tracked;
      // A request refused before its parameters were read (a body that is not JSON) starts here.
      if (startOf(tracked) === undefined) noteParams(tracked, {});
      if (!isAsyncIterable(result)) {
        const results = Array.isArray(result) ? result : [result];
        if (results.some((each) => each.errors !== undefined && each.errors.length > 0)) {
          tracked[ERRORS] = results.flatMap((each) => each.errors ?? []).map((error) => error.extensions?.['code']);
        }
      }
      const res = tracked.res as (ServerResponse & { [TRACKED]?: Tracked }) | undefined;
      // Without a Node response (Yoga's fetch, in tests) there is no status to log; a response
      // already tracked is a batch's.
      if (res === undefined || res[TRACKED] !== undefined || !logger.isLevelEnabled('info')) return;
      res[TRACKED] = tracked;
      res.on('close', onClose);
    },
  };
}

/**
 * The path of a request's URL (Node's `req.url`, or a Fetch request's absolute URL), without the
 * query string, where a GET carries the document and its variables.
 */
function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const start = url.startsWith('/') ? 0 : url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  const query = url.indexOf('?', start);
  return url.slice(start, query === -1 ? undefined : query);
}

const isAdminRefusal = (code: unknown): boolean => code === 'FORBIDDEN' || code === 'UNAUTHENTICATED';

/** A client-given name as the log shows it: a string, cut short; undefined when there is none. */
function nameOf(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  return name.length > MAX_OPERATION_NAME_LENGTH ? `${name.slice(0, MAX_OPERATION_NAME_LENGTH)}…` : name;
}

/** How many generations each cache status served, e.g. `{ HIT: 2, MISS: 1 }`; undefined when none was. */
function cacheSummary(report: Tracked['cacheReport']): Record<string, number> | undefined {
  if (report === undefined) return undefined;
  const counts: Record<string, number> = {};
  for (const path in report) {
    const { status } = report[path]!;
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return counts;
}
