import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { attachWebSocketEndpoint, DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION } from './websocket.js';
import type { GraphQlServer } from './yoga.js';

/** 1 MiB. */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 1_048_576;
/** For a request's headers to arrive: ten seconds (Node's own: a minute). */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** For a whole request, body included, to arrive: thirty seconds (Node's own: five minutes). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** An idle kept-alive connection is closed after five seconds (Node's own). */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** How often Node looks for requests past their timeouts, at most (Node's own: 30 s). */
const MAX_TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export interface HttpServerOptions {
  /** Largest request body accepted; larger ones get 413 before Yoga sees them. @default 1 MiB */
  readonly maxRequestBodyBytes?: number;
  /** Operations running at once on one graphql-ws connection. @default 10 */
  readonly maxSubscriptionsPerConnection?: number;
  /**
   * How long a client may take to send a request's headers, and the whole request; past either
   * it is answered 408 and the connection closed, so that slow clients cannot hold connections.
   * Only the request counts: a response may take as long as its generation. @default 10 s, 30 s
   */
  readonly headersTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** How long an idle kept-alive connection stays open. @default 5 s */
  readonly keepAliveTimeoutMs?: number;
}

export interface HttpServer {
  readonly server: Server;
  /** Stops accepting, closes WebSockets and idle connections, and waits for requests under way. */
  close(): Promise<void>;
}

/**
 * The HTTP server of the GraphQL server: GraphQL over HTTP and SSE, and graphql-ws on the same
 * path. Requests the fast lane accepts are read here and offered to it first; Yoga answers the rest.
 *
 * The body limit is enforced here rather than by Yoga's `maxRequestBodySize`, whose streaming
 * check costs about half of a cached request's CPU: a declared Content-Length is checked before
 * anything is read, and only a body without one (chunked) is counted while it is read.
 */
export function createHttpServer(
  { yoga, fastLane }: GraphQlServer,
  {
    maxRequestBodyBytes = DEFAULT_MAX_REQUEST_BODY_BYTES,
    maxSubscriptionsPerConnection = DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
    headersTimeoutMs = DEFAULT_HEADERS_TIMEOUT_MS,
    requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs = DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  }: HttpServerOptions = {},
): HttpServer {
  /**
   * Yoga's Node adapter takes a body that was read already from `req.body`: as a stream, which
   * it reads as such (it would list a Buffer's keys, one a byte).
   */
  const toYoga = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    Object.assign(req, { body: Readable.from([body]) });
    return void yoga(req, res);
  };
  /** A defect: the request cannot be answered, but the server goes on. */
  const defect = (res: ServerResponse, error: unknown) => {
    yoga.logger.error(error);
    res.destroy();
  };
  const timeouts = {
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    // Often enough that a timeout is enforced within a quarter of itself.
    connectionsCheckingInterval: Math.max(1, Math.min(MAX_TIMEOUT_CHECK_INTERVAL_MS, Math.floor(headersTimeoutMs / 4))),
  };
  const server = createServer(timeouts, (req, res) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxRequestBodyBytes) return tooLarge(res, maxRequestBodyBytes);
    const laneTakes = fastLane?.takes(req) === true;
    if (!laneTakes && (declared !== undefined || req.headers['transfer-encoding'] === undefined)) {
      return void yoga(req, res);
    }
    // Callbacks rather than a promise: a cached hit is answered within the body's 'end' event,
    // with no promise, no microtask and no `once` wrappers of its own. On a bare node server
    // answering a constant, that read costs 1.5 to 2 µs less CPU a request than the promise did.
    readLimited(req, maxRequestBodyBytes, (body) => {
      try {
        if (body === 'too large') return tooLarge(res, maxRequestBodyBytes);
        // The client went away, or sent a broken body: there is no one to answer.
        if (body === 'failed') return void req.destroy();
        if (!laneTakes) return toYoga(req, res, body);
        const served = fastLane!.serve(req, res, body);
        if (served === false) return toYoga(req, res, body);
        if (served !== true) served.then((done) => (done ? undefined : toYoga(req, res, body))).catch((error: unknown) => defect(res, error));
      } catch (error) {
        defect(res, error);
      }
      return undefined;
    });
  });
  const websocket = attachWebSocketEndpoint(server, yoga, { maxPayload: maxRequestBodyBytes, maxSubscriptionsPerConnection });
  return {
    server,
    close: async () => {
      const closed = new Promise<void>((resolve, reject) =>
        server.listening ? server.close((error) => (error ? reject(error) : resolve())) : resolve(),
      );
      await websocket.close();
      server.closeIdleConnections();
      await closed;
    },
  };
}

type ReadBody = Buffer | 'too large' | 'failed';

/**
 * Calls `done` once: with the whole body, or 'too large' as soon as it passes the limit (the rest
 * is discarded unread), or 'failed' when the request errs or closes before its end. Once ended,
 * the body is read: a later close or error changes nothing.
 */
function readLimited(req: IncomingMessage, limit: number, done: (body: ReadBody) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (body: ReadBody) => {
    if (settled) return;
    settled = true;
    done(body);
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) return void chunks.push(chunk);
    req.off('data', onData).resume();
    settle('too large');
  };
  req
    .on('data', onData)
    .on('end', () => settle(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
    .on('error', () => settle('failed'))
    .on('close', () => settle('failed'));
}

function tooLarge(res: ServerResponse, limit: number): void {
  const body = JSON.stringify({
    errors: [{ message: `the request body is over the limit of ${limit} bytes`, extensions: { code: 'PAYLOAD_TOO_LARGE' } }],
  });
  // The unread rest of the body makes the connection unusable for another request.
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
  res.end(body);
}
