import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { attachWebSocketEndpoint } from './websocket.js';
import type { GencacheYoga } from './yoga.js';

export interface HttpServerOptions {
  /** Largest request body accepted; larger ones get 413 before Yoga sees them. */
  readonly maxRequestBodyBytes: number;
}

export interface HttpServer {
  readonly server: Server;
  /** Stops accepting, closes WebSockets and idle connections, and waits for requests under way. */
  close(): Promise<void>;
}

/**
 * The HTTP server of a Yoga instance: GraphQL over HTTP and SSE, and graphql-ws on the same path.
 *
 * The body limit is enforced here rather than by Yoga's `maxRequestBodySize`, whose streaming
 * check costs about half of a cached request's CPU: a declared Content-Length is checked before
 * anything is read, and only a body without one (chunked) is counted while it is read.
 */
export function createHttpServer(yoga: GencacheYoga, { maxRequestBodyBytes }: HttpServerOptions): HttpServer {
  const server = createServer((req, res) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      if (Number(declared) > maxRequestBodyBytes) return tooLarge(res, maxRequestBodyBytes);
      return void yoga(req, res);
    }
    if (req.headers['transfer-encoding'] === undefined) return void yoga(req, res);
    void readLimited(req, maxRequestBodyBytes).then((body) => {
      if (body === undefined) return tooLarge(res, maxRequestBodyBytes);
      // Yoga's Node adapter takes a body that was read already from `req.body`.
      Object.assign(req, { body });
      return void yoga(req, res);
    });
  });
  const websocket = attachWebSocketEndpoint(server, yoga);
  return {
    server,
    close: async () => {
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      await websocket.close();
      server.closeIdleConnections();
      await closed;
    },
  };
}

/** The whole body, or undefined as soon as it passes the limit (the rest is not read). */
async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) return undefined;
      chunks.push(chunk);
    }
  } catch {
    return undefined;
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(res: ServerResponse, limit: number): void {
  const body = JSON.stringify({
    errors: [{ message: `the request body is over the limit of ${limit} bytes`, extensions: { code: 'PAYLOAD_TOO_LARGE' } }],
  });
  // The unread rest of the body makes the connection unusable for another request.
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
  res.end(body);
}
