import type { Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { createGraphQLError } from 'graphql-yoga';
import { GencacheError } from './errors.js';
import type { GencacheYoga } from './yoga.js';

/** Yoga's enveloped execute and subscribe, carried to graphql-ws through the root value. */
interface EnvelopedRoot {
  execute(args: ExecutionArgs): unknown;
  subscribe(args: ExecutionArgs): unknown;
}

export interface WebSocketEndpoint {
  /** Closes every socket and stops accepting new ones. */
  close(): Promise<void>;
}

/**
 * Serves the graphql-ws protocol on Yoga's endpoint of an HTTP server, through Yoga's own
 * envelop (schema, context, plugins), so subscriptions behave as over SSE. Credentials come from
 * the `authorization` connection parameter or the upgrade request's header. A message is
 * limited to `maxPayload` bytes, as an HTTP body is.
 */
/** Subscriptions open at once on one graphql-ws connection. */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION = 10;

export interface WebSocketLimits {
  /** Bytes of a message; one over closes the socket with 1009. */
  readonly maxPayload: number;
  /** Operations running at once on one connection; one more is refused with TOO_MANY_SUBSCRIPTIONS. */
  readonly maxSubscriptionsPerConnection: number;
}

export function attachWebSocketEndpoint(server: Server, yoga: GencacheYoga, { maxPayload, maxSubscriptionsPerConnection }: WebSocketLimits): WebSocketEndpoint {
  // A message over the body limit of HTTP closes the socket (1009) before it is read whole.
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload });
  const disposable = useServer(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        // graphql-ws has registered this one already: it counts itself.
        if (Object.keys(ctx.subscriptions).length > maxSubscriptionsPerConnection) {
          const refusal = new GencacheError(
            'TOO_MANY_SUBSCRIPTIONS',
            `this connection has ${maxSubscriptionsPerConnection} operations running, its limit; end one first`,
          );
          return [createGraphQLError(refusal.message, { originalError: refusal })];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          connectionParams: ctx.connectionParams,
        });
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
        const errors = validate(args.schema, args.document);
        return errors.length > 0 ? errors : args;
      },
    },
    wss,
  );
  return {
    close: async () => {
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
