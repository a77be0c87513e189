/**
 * One server of the benchmark, in its own process so that it can be pinned to a core:
 *   node --import tsx load/bench/server.ts <variant> <port>
 * Variants: gencache (the service as `npm start` runs it, configured by the environment),
 * response-cache (the same with the field cache off and @graphql-yoga/plugin-response-cache on),
 * bare-yoga (graphql-yoga answering a constant with default options) and bare-yoga-tuned (the
 * same with maxRequestBodySize: false). Prints `listening <port>` when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { createSchema, createYoga } from 'graphql-yoga';
import { loadConfig } from '../../src/config.js';
import { createGenerationService } from '../../src/generation/create.js';
import { createHttpServer } from '../../src/http-server.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { createYogaServer } from '../../src/yoga.js';

export type Variant = 'gencache' | 'response-cache' | 'bare-yoga' | 'bare-yoga-tuned';

const [variant, portArgument] = process.argv.slice(2) as [Variant, string | undefined];
const port = Number(portArgument ?? 0);

function serveGencache(withResponseCache: boolean) {
  const config = loadConfig(withResponseCache ? { ...process.env, DISABLE_RESULT_CACHE: '1' } : process.env);
  const service = createGenerationService(config);
  const yoga = createYogaServer({
    service,
    config,
    logger: createLogger('silent'),
    metrics: createMetrics(service, { defaultMetrics: false }).registry,
    plugins: withResponseCache
      ? [useResponseCache({ session: () => null, ttl: config.cache.defaultTtlSeconds * 1000, includeExtensionMetadata: true })]
      : [],
  });
  return createHttpServer(yoga, config.limits).server;
}

function serveBareYoga(tuned: boolean) {
  const yoga = createYoga({
    schema: createSchema({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } }),
    logging: false,
    ...(tuned ? { maxRequestBodySize: false as const } : {}),
  });
  return createServer(yoga);
}

const server =
  variant === 'gencache' || variant === 'response-cache'
    ? serveGencache(variant === 'response-cache')
    : variant === 'bare-yoga' || variant === 'bare-yoga-tuned'
      ? serveBareYoga(variant === 'bare-yoga-tuned')
      : undefined;
if (server === undefined) {
  process.stderr.write(`unknown variant ${String(variant)}\n`);
  process.exit(2);
}
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => process.exit(0));
