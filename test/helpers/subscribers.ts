import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type GraphQLFormattedError } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface SubscriptionResult<TData> {
  readonly data?: TData | null;
  readonly errors?: readonly GraphQLFormattedError[];
}

/** A live subscription: each `next()` is the next result; `close()` ends it and its connection. */
export interface Subscriber<TData> {
  next(): Promise<SubscriptionResult<TData>>;
  /** Reads results until one satisfies the predicate, and returns it. */
  until(predicate: (result: SubscriptionResult<TData>) => boolean): Promise<SubscriptionResult<TData>>;
  close(): Promise<void>;
}

export type Transport = 'sse' | 'graphql-ws';

export interface SubscribeOptions<TVariables> {
  readonly url: string;
  readonly variables?: TVariables;
  /** Sent as the Authorization header over SSE, and as the `authorization` connection parameter over graphql-ws. */
  readonly authorization?: string;
}

/** A graphql-ws client of the server at an http:// URL, sending `authorization` as a connection parameter; no retries. */
export const wsClient = (url: string, authorization?: string) =>
  createWsClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: authorization === undefined ? {} : { authorization },
    retryAttempts: 0,
    lazy: true,
  });

/** Subscribes with the real client of a transport: graphql-sse (distinct connections) or graphql-ws. */
export function subscribe<TData, TVariables>(
  transport: Transport,
  document: TypedDocumentNode<TData, TVariables>,
  { url, variables, authorization }: SubscribeOptions<TVariables>,
): Subscriber<TData> {
  const request = { query: print(document), variables: (variables ?? {}) as Record<string, unknown> };
  let iterator: AsyncIterableIterator<SubscriptionResult<TData>>;
  let dispose: () => void;
  if (transport === 'sse') {
    const client = createSseClient({
      url,
      headers: authorization === undefined ? {} : { authorization },
      retryAttempts: 0,
    });
    iterator = client.iterate<TData>(request) as AsyncIterableIterator<SubscriptionResult<TData>>;
    dispose = () => client.dispose();
  } else {
    const client = wsClient(url, authorization);
    iterator = client.iterate<TData>(request) as AsyncIterableIterator<SubscriptionResult<TData>>;
    dispose = () => void client.dispose();
  }
  const next = async () => {
    const result = await iterator.next();
    if (result.done) throw new Error('the subscription ended');
    return result.value;
  };
  return {
    next,
    until: async (predicate) => {
      for (;;) {
        const result = await next();
        if (predicate(result)) return result;
      }
    },
    close: async () => {
      await iterator.return?.();
      dispose();
    },
  };
}
