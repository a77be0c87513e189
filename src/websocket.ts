import type { IncomingMessage, Server } from 'node:http';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { createGraphQLError, isAsyncIterable, isPromise, type GraphQLParams, type Plugin } from 'graphql-yoga';
import { GencacheError } from './errors.js';
import { withExtensions, withRequestErrorCode } from './plugins/use-request-error-codes.js';
import type { GencacheYoga, ServerContext } from './yoga.js';

/** Yoga's enveloped execute and subscribe, carried to graphql-ws through the root value. */
interface EnvelopedRoot {
  execute(args: ExecutionArgs): unknown;
  subscribe(args: ExecutionArgs): unknown;
}

export interface WebSocketEndpoint {
  /** Closes every socket and stops accepting new ones. */
  close(): Promise<void>;
}

/** Subscriptions open at once on one graphql-ws connection. */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION = 10;

export interface WebSocketLimits {
  /** Bytes of a message; one over closes the socket with 1009. */
  readonly maxPayload: number;
  /** Operations running at once on one connection; one more is refused with TOO_MANY_SUBSCRIPTIONS. */
  readonly maxSubscriptionsPerConnection: number;
}

/**
 * Serves the graphql-ws protocol on Yoga's endpoint of an HTTP server, through Yoga's own
 * envelop (schema, context, plugins), so subscriptions behave as over SSE. Before that, Yoga's
 * `onParams` hooks see the operation's parameters, as they see those of every HTTP request (the
 * fast lane's too): a plugin that refuses or rewrites parameters (trusted documents) holds on this
 * transport as well. An operation refused before it runs (by those hooks, the parser, validation,
 * a security limit or the connection's operation limit) gets its `error` message with the codes
 * HTTP gives, the plugins' `onWebSocketRefusal` hooks see the refusal, and the connection goes on.
 * Credentials come from the `authorization` connection parameter or the upgrade request's header.
 * A message is limited to `maxPayload` bytes, as an HTTP body is.
 */
export function attachWebSocketEndpoint(server: Server, yoga: GencacheYoga, { maxPayload, maxSubscriptionsPerConnection }: WebSocketLimits): WebSocketEndpoint {
  // A message over the body limit of HTTP closes the socket (1009) before it is read whole.
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload });
  // Yoga's whole list, in its order, as its HTTP handling runs them.
  const plugins = (yoga as unknown as { plugins: Plugin[] }).plugins;
  const paramsHooks = plugins.flatMap((plugin) => (plugin.onParams ? [plugin.onParams] : []));
  const refusalHooks = plugins.flatMap((plugin) => {
    const hook = (plugin as WebSocketRefusalHook).onWebSocketRefusal;
    return hook ? [hook] : [];
  });

  /** The operation's arguments of execution, or the errors of its refusal: nothing of it has run. `running`: the connection's operations, this one included. */
  const admit = async (running: number, initial: InitialContext, request: Request): Promise<ExecutionArgs | readonly GraphQLError[]> => {
    // The parameters first, as over HTTP: the hooks that note the operation's name and start see
    // every operation, those refused here too.
    const refused = await runParamsHooks(paramsHooks, yoga, initial, request);
    if (refused !== undefined) return refused;
    if (running > maxSubscriptionsPerConnection) {
      const refusal = new GencacheError('TOO_MANY_SUBSCRIPTIONS', `this connection has ${maxSubscriptionsPerConnection} operations running, its limit; end one first`);
      return [createGraphQLError(refusal.message, { originalError: refusal })];
    }
    const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped(initial);
    // Parsed, validated, then given its context, in Yoga's order. A document refused by the
    // parser or a security limit (both throw) is answered with the operation's `error`
    // message, coded as over HTTP; thrown out of this hook, it would close the connection.
    let document: DocumentNode;
    try {
      document = parse(initial.params.query);
    } catch (error) {
      return refusalOf(error, PARSE_FAILED);
    }
    let errors: readonly GraphQLError[];
    try {
      errors = validate(schema, document);
    } catch (error) {
      return refusalOf(error);
    }
    if (errors.length > 0) return errors.map(withoutHttp);
    // As Yoga refuses it over HTTP (graphql-ws would say "Unable to identify operation", uncoded).
    if (getOperationAST(document, initial.params.operationName) == null) {
      return [createGraphQLError('Could not determine what operation to execute.', { extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } })];
    }
    return {
      schema,
      operationName: initial.params.operationName,
      document,
      variableValues: initial.params.variables,
      contextValue: await contextFactory(),
      rootValue: { execute, subscribe } satisfies EnvelopedRoot,
    };
  };

  const disposable = useServer(
    {
      execute: (args) => coded((args.rootValue as EnvelopedRoot).execute(args)) as never,
      subscribe: (args) => coded((args.rootValue as EnvelopedRoot).subscribe(args)) as never,
      onSubscribe: async (ctx, _id, params) => {
        const initial: InitialContext = {
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: params as GraphQLParams,
          connectionParams: ctx.connectionParams,
        };
        const request = new yoga.fetchAPI.Request(urlOf(initial.req), { method: initial.req.method, headers: initial.req.headers as Record<string, string> });
        // graphql-ws has registered this operation already: it counts itself.
        const admitted = await admit(Object.keys(ctx.subscriptions).length, initial, request);
        // A refusal reaches the plugins that observe one (the request metrics count it).
        if (Array.isArray(admitted)) for (const hook of refusalHooks) hook({ context: initial, errors: admitted });
        return admitted;
      },
    },
    wss,
  );
  // graphql-ws prints a socket's errors to the console, stack and all. They are a client's doing (a
  // message over maxPayload, a broken frame), and ws closes the socket itself: one line of the log.
  wss.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (error) => yoga.logger.debug({ err: error }, 'websocket: connection error'));
  });
  return {
    close: async () => {
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

type ParamsHook = NonNullable<Plugin['onParams']>;

/**
 * A hook a plugin in Yoga's list may have beside Yoga's own: called with each graphql-ws operation
 * refused before it runs (by Yoga's `onParams` hooks, the parser, validation, a security limit or
 * the connection's operation limit), which no hook of Yoga's sees. It is not one of Yoga's hooks,
 * so that the HTTP path, where result processing sees every refusal, pays nothing for it.
 */
export interface WebSocketRefusalHook {
  onWebSocketRefusal?(refusal: { readonly context: unknown; readonly errors: readonly GraphQLError[] }): void;
}

/** The context an operation starts from: graphql-ws's, with the upgrade request and the parameters. */
type InitialContext = ServerContext & { readonly req: IncomingMessage; params: GraphQLParams };


/**
 * Runs Yoga's `onParams` hooks on a graphql-ws operation's parameters, as Yoga's
 * `getResultForParams` runs them on an HTTP request's, with the upgrade request as the request and
 * the operation's initial context as the server context. `params` is replaced by what they set.
 * Resolves the errors of a refusal, which graphql-ws sends as the operation's `error` message: a
 * GraphQL error a hook threw, or the errors of a result it set in place of execution. A result
 * without errors (a response cache's hit) is not used: graphql-ws executes every operation itself.
 * Anything else a hook throws is a defect, and closes the socket as graphql-ws does.
 */
async function runParamsHooks(hooks: readonly ParamsHook[], yoga: GencacheYoga, initial: InitialContext, request: Request): Promise<GraphQLError[] | undefined> {
  let result: ExecutionResult | AsyncIterable<ExecutionResult> | undefined;
  try {
    for (const hook of hooks) {
      await hook({
        params: initial.params,
        request,
        setParams: (next) => void (initial.params = next),
        paramsHandler: yoga.handleParams as never,
        setParamsHandler: () => undefined,
        setResult: (next) => void (result = next),
        fetchAPI: yoga.fetchAPI,
        context: initial as never,
      });
    }
  } catch (error) {
    if (error instanceof GraphQLError) return [withoutHttp(error)];
    throw error;
  }
  if (result === undefined || isAsyncIterable(result) || result.errors === undefined) return undefined;
  return result.errors.map(withoutHttp);
}

/** The URL of the upgrade request; a Host that makes no URL is taken for localhost. */
function urlOf(req: IncomingMessage): string {
  const url = `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
  return URL.canParse(url) ? url : `http://localhost${req.url ?? '/'}`;
}

/**
 * An execution's result with its request errors (variables that do not coerce, which come with no
 * path and no code) coded as over HTTP, without the HTTP status; a stream, and a result without
 * errors, as they are.
 */
function coded(result: unknown): unknown {
  if (isPromise(result)) return result.then(coded);
  if (isAsyncIterable(result)) return result;
  const { errors } = result as ExecutionResult;
  if (errors === undefined || errors.length === 0) return result;
  return { ...(result as ExecutionResult), errors: errors.map((error) => withoutHttp(withRequestErrorCode(error))) };
}

/** The code Yoga gives a document that fails to parse (over HTTP). */
const PARSE_FAILED = 'GRAPHQL_PARSE_FAILED';

/**
 * What parsing or validation threw, as the errors of a refusal: coded as over HTTP (a parse
 * failure GRAPHQL_PARSE_FAILED, a security limit BAD_USER_INPUT), without the HTTP status.
 * Anything but a GraphQL error is a defect, and closes the socket as graphql-ws does.
 */
function refusalOf(error: unknown, code?: string): GraphQLError[] {
  if (!(error instanceof GraphQLError)) throw error;
  // Coded in place, as Yoga codes a parse error over HTTP: its parse cache keeps this very error
  // for the next request of the same text, whatever its transport.
  if (code !== undefined) {
    const extensions = error.extensions as Record<string, unknown>;
    extensions['code'] ??= code;
    extensions['http'] ??= { spec: true, status: 400 };
  }
  return [withoutHttp(withRequestErrorCode(error))];
}

/** The error without its HTTP status, which Yoga strips from HTTP answers and graphql-ws would send. */
function withoutHttp(error: GraphQLError): GraphQLError {
  if (error.extensions['http'] === undefined) return error;
  const { http: _http, ...extensions } = error.extensions;
  return withExtensions(error, extensions);
}
