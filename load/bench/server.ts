/**
 * The servers of the benchmark. Run as a process of its own, so that it can be pinned to a core:
 *   node load/.build/load/bench/server.js <variant> <port>
 * (the smoke run creates them in its own process instead). Variants:
 * - gencache: the service as `npm start` runs it, configured by the environment;
 * - gencache-without-fast-lane: the same, with every request through Yoga;
 * - response-cache: the same as gencache with the field cache off and
 *   @graphql-yoga/plugin-response-cache on (plugins take every request through Yoga);
 * - bare-yoga: graphql-yoga answering a constant, with default options;
 * - bare-yoga-tuned: the same with maxRequestBodySize: false;
 * - mercurius: Fastify and Mercurius (graphql-jit) serving the committed SDL, with mercurius-cache
 *   caching `generation` in memory (./mercurius.ts): another stack's way of caching the field;
 * - yoga-floor: gencache's schema and service through Yoga's `getEnveloped()` alone, with none of
 *   the service's plugins, on a bare node server (./yoga-floor.ts): the least a Yoga front door costs.
 * A gencache given REDIS_URL joins the shared tier, and listens once Redis has answered (or failed
 * to), as `npm start` does. Prints `listening <port>` when ready.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { useResponseCache } from '@graphql-yoga/plugin-response-cache';
import type { FastifyInstance } from 'fastify';
import { createSchema, createYoga } from 'graphql-yoga';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createMercuriusServer } from './mercurius.js';
import { createYogaFloorServer } from './yoga-floor.js';

const VARIANTS = ['gencache', 'gencache-without-fast-lane', 'response-cache', 'bare-yoga', 'bare-yoga-tuned', 'mercurius', 'yoga-floor'] as const;
export type Variant = (typeof VARIANTS)[number];

/** A server of the benchmark, not yet listening. */
export interface BenchServer {
  /** Listens on 127.0.0.1 and resolves the port; a gencache first waits for its shared tier, if any. */
  listen(port?: number): Promise<number>;
  /** Cuts every connection and stops; a gencache also closes its connections to Redis. */
  close(): Promise<void>;
}

function serveGencache(environment: NodeJS.ProcessEnv, withResponseCache: boolean, fastLane = true): BenchServer {
  const config = loadConfig(withResponseCache ? { ...environment, DISABLE_RESULT_CACHE: '1' } : environment);
  const app = createApp(config, {
    logger: createLogger('silent'),
    defaultMetrics: false,
    fastLane,
    plugins: withResponseCache
      ? [useResponseCache({ session: () => null, ttl: config.cache.defaultTtlSeconds * 1000, includeExtensionMetadata: true })]
      : [],
  });
  return {
    listen: async (port = 0) => {
      await app.listen(port, '127.0.0.1');
      return (app.server.address() as AddressInfo).port;
    },
    close: () => {
      app.server.closeAllConnections();
      return app.close(0);
    },
  };
}

function serveNode(server: Server): BenchServer {
  return {
    listen: (port = 0) => new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function serveFastify(fastify: FastifyInstance): BenchServer {
  return {
    listen: async (port = 0) => {
      // Fastify's own listen: it loads the plugins first.
      await fastify.listen({ port, host: '127.0.0.1' });
      return (fastify.server.address() as AddressInfo).port;
    },
    close: async () => {
      fastify.server.closeAllConnections();
      await fastify.close();
    },
  };
}

function serveBareYoga(tuned: boolean): Server {
  const yoga = createYoga({
    schema: createSchema({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } }),
    logging: false,
    ...(tuned ? { maxRequestBodySize: false as const } : {}),
  });
  return createServer(yoga);
}

/** A server of the variant, configured by the environment as a process would be. */
export function createBenchServer(variant: Variant, environment: NodeJS.ProcessEnv): BenchServer {
  switch (variant) {
    case 'gencache':
    case 'response-cache':
      return serveGencache(environment, variant === 'response-cache');
    case 'gencache-without-fast-lane':
      return serveGencache(environment, false, false);
    case 'bare-yoga':
    case 'bare-yoga-tuned':
      return serveNode(serveBareYoga(variant === 'bare-yoga-tuned'));
    case 'mercurius':
      return serveFastify(createMercuriusServer(environment));
    case 'yoga-floor': {
      const app = createApp(loadConfig(environment), { logger: createLogger('silent'), defaultMetrics: false });
      const served = serveNode(createYogaFloorServer(app));
      return { listen: served.listen, close: () => served.close().then(() => app.close(0)) };
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [variant, port] = process.argv.slice(2) as [Variant, string | undefined];
  if (!VARIANTS.includes(variant)) {
    process.stderr.write(`unknown variant ${String(variant)}\n`);
    process.exit(2);
  }
  const listening = await createBenchServer(variant, process.env).listen(Number(port ?? 0));
  process.stdout.write(`listening ${listening}\n`);
  process.once('SIGTERM', () => process.exit(0));
}
