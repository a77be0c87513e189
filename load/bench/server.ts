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
 *   caching `generation` in memory (./mercurius.ts): another stack's way of caching the field.
 * Prints `listening <port>` when ready.
 */
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { useResponseCache } from '@graphql-yoga/plugin-response-cache';
import type { FastifyInstance } from 'fastify';
import { createSchema, createYoga } from 'graphql-yoga';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createMercuriusServer } from './mercurius.js';

const VARIANTS = ['gencache', 'gencache-without-fast-lane', 'response-cache', 'bare-yoga', 'bare-yoga-tuned', 'mercurius'] as const;
export type Variant = (typeof VARIANTS)[number];

function serveGencache(environment: NodeJS.ProcessEnv, withResponseCache: boolean, fastLane = true): Server {
  const config = loadConfig(withResponseCache ? { ...environment, DISABLE_RESULT_CACHE: '1' } : environment);
  return createApp(config, {
    logger: createLogger('silent'),
    defaultMetrics: false,
    fastLane,
    plugins: withResponseCache
      ? [useResponseCache({ session: () => null, ttl: config.cache.defaultTtlSeconds * 1000, includeExtensionMetadata: true })]
      : [],
  }).server;
}

function serveBareYoga(tuned: boolean): Server {
  const yoga = createYoga({
    schema: createSchema({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } }),
    logging: false,
    ...(tuned ? { maxRequestBodySize: false as const } : {}),
  });
  return createServer(yoga);
}

/**
 * A server of the variant, not yet listening: a node server, or for `mercurius` a Fastify instance,
 * which must load its plugins before it serves (`listenLocal` does both).
 */
export function createBenchServer(variant: Variant, environment: NodeJS.ProcessEnv): Server | FastifyInstance {
  switch (variant) {
    case 'gencache':
    case 'response-cache':
      return serveGencache(environment, variant === 'response-cache');
    case 'gencache-without-fast-lane':
      return serveGencache(environment, false, false);
    case 'bare-yoga':
    case 'bare-yoga-tuned':
      return serveBareYoga(variant === 'bare-yoga-tuned');
    case 'mercurius':
      return createMercuriusServer(environment);
  }
}

/** Listens on 127.0.0.1 and resolves the port. */
export async function listenLocal(server: Server | FastifyInstance, port = 0): Promise<number> {
  if (!(server instanceof Server)) {
    // Fastify's own listen: it loads the plugins first.
    await server.listen({ port, host: '127.0.0.1' });
    return (server.server.address() as AddressInfo).port;
  }
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [variant, port] = process.argv.slice(2) as [Variant, string | undefined];
  if (!VARIANTS.includes(variant)) {
    process.stderr.write(`unknown variant ${String(variant)}\n`);
    process.exit(2);
  }
  const listening = await listenLocal(createBenchServer(variant, process.env), Number(port ?? 0));
  process.stdout.write(`listening ${listening}\n`);
  process.once('SIGTERM', () => process.exit(0));
}
