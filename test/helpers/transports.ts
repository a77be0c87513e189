import { request } from 'node:http';
import type { GraphQLFormattedError } from 'graphql';
import { rawPost } from './http.js';
import { wsClient } from './subscribers.js';

/**
 * The doors a GraphQL operation comes in by, each sent as its clients send it. `lane`: a plain JSON
 * POST, which the fast lane answers; `yoga`: a JSON POST with the server's own Origin, as a browser
 * sends it, which the lane leaves to Yoga; `get`: a GET, which Yoga answers; `sse`: a POST asking
 * for an event stream (its first event); `graphql-ws`: a subscribe message (its first result or
 * its error).
 */
export type Transport = 'lane' | 'yoga' | 'get' | 'sse' | 'graphql-ws';

export const TRANSPORTS: readonly Transport[] = ['lane', 'yoga', 'get', 'sse', 'graphql-ws'];

/** An answer on any transport; `status` is 0 over graphql-ws, which has none. */
export interface TransportResult {
  readonly status: number;
  readonly data?: Record<string, unknown> | null;
  readonly errors?: readonly GraphQLFormattedError[];
}

/** The codes of a result's errors, in order. */
export const codesOf = (result: TransportResult): unknown[] => (result.errors ?? []).map((error) => error.extensions?.['code']);

/** Sends GraphQL parameters to the endpoint at `url` over a transport, with these headers (over graphql-ws, only `authorization`, as a connection parameter). */
export async function send(transport: Transport, url: string, params: Record<string, unknown>, headers: Record<string, string> = {}): Promise<TransportResult> {
  switch (transport) {
    case 'lane':
    case 'yoga': {
      const own: Record<string, string> = transport === 'yoga' ? { origin: new URL(url).origin } : {};
      const response = await rawPost(url, JSON.stringify(params), { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...own, ...headers });
      return { status: response.status, ...(JSON.parse(response.body) as Omit<TransportResult, 'status'>) };
    }
    case 'get': {
      const search = new URLSearchParams(
        Object.entries(params).flatMap(([name, value]) => (value === undefined ? [] : [[name, typeof value === 'string' ? value : JSON.stringify(value)]])),
      );
      const response = await fetch(`${url}?${search}`, { headers: { accept: 'application/graphql-response+json', ...headers } });
      return { status: response.status, ...((await response.json()) as Omit<TransportResult, 'status'>) };
    }
    case 'sse':
      return firstEvent(url, params, headers);
    case 'graphql-ws':
      return firstOverWebSocket(url, params, headers['authorization']);
  }
}

/** The first event of an SSE answer (a result, or the refusal), read with node's HTTP client. */
function firstEvent(url: string, params: Record<string, unknown>, headers: Record<string, string>): Promise<TransportResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers } });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        const data = /^data: (.+)$/m.exec(text)?.[1];
        if (data === undefined) return;
        res.destroy();
        resolve({ status: res.statusCode ?? 0, ...(JSON.parse(data) as Omit<TransportResult, 'status'>) });
      });
      res.on('end', () => reject(new Error(`no event in ${JSON.stringify(text)}`)));
    });
    req.on('error', reject).end(JSON.stringify(params));
  });
}

/**
 * The first result of an operation over graphql-ws, or its refusal (status 0: there is none). A
 * subscribe message must carry a query: an operation by id sends an empty one. A socket the
 * server closes rejects, with its close code and reason.
 */
async function firstOverWebSocket(url: string, params: Record<string, unknown>, authorization?: string): Promise<TransportResult> {
  const client = wsClient(url, authorization);
  try {
    return await new Promise<TransportResult>((resolve, reject) => {
      client.subscribe({ ...params, query: (params['query'] as string | undefined) ?? '' } as never, {
        next: (result) => resolve({ status: 0, ...(result as Omit<TransportResult, 'status'>) }),
        error: (errors) => (Array.isArray(errors) ? resolve({ status: 0, errors }) : reject(closed(errors))),
        complete: () => undefined,
      });
    });
  } finally {
    await client.dispose();
  }
}

/** What graphql-ws's client gives for a socket that closed: a CloseEvent, made an Error that says its code. */
function closed(event: unknown): Error {
  if (event instanceof Error) return event;
  const { code, reason } = event as { code?: number; reason?: string };
  return new Error(`the socket closed: ${String(code)} ${reason ?? ''}`.trim());
}
