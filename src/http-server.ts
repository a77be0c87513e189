import { createServer, type Server } from 'node:http';
import { attachWebSocketEndpoint } from './websocket.js';
import type { GencacheYoga } from './yoga.js';

export interface HttpServer {
  readonly server: Server;
  /** Stops accepting, closes WebSockets and idle connections, and waits for requests under way. */
  close(): Promise<void>;
}

/** The HTTP server of a Yoga instance: GraphQL over HTTP and SSE, and graphql-ws on the same path. */
export function createHttpServer(yoga: GencacheYoga): HttpServer {
  const server = createServer(yoga);
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
