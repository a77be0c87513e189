/**
 * The Mercurius peer of the hit path: Fastify 5 and Mercurius 16 serving the committed SDL, with
 * operations compiled by graphql-jit from their first repeat (`jit: 1`) and `Query.generation`
 * cached in memory by mercurius-cache, the way a Mercurius service would cache an expensive field.
 * A miss runs the project's simulated generator, as gencache's does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import mercurius from 'mercurius';
import mercuriusCache from 'mercurius-cache';
import { loadConfig } from '../../src/config.js';
import { toGenerationRequest, type GenerationInput } from '../../src/generation/request.js';
import { SimulatedGenerator } from '../../src/generation/simulated-generator.js';

/**
 * Where the server answers `{ "generation": <calls> }`, the number of times the `generation`
 * resolver ran: a hit served by mercurius-cache does not run it.
 */
export const RESOLVER_CALLS_PATH = '/resolver-calls';

/**
 * The committed SDL. This module runs from load/bench under tsx and from load/.build/load/bench
 * once compiled, so the file is looked for upwards rather than at a fixed relative path.
 */
function readCommittedSchema(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let directory = start; ; directory = dirname(directory)) {
    const candidate = join(directory, 'schema/schema.graphql');
    if (existsSync(candidate)) return readFileSync(candidate, 'utf8');
    if (dirname(directory) === directory) throw new Error(`schema/schema.graphql not found above ${start}`);
  }
}

/**
 * A Fastify instance serving Mercurius on /graphql, not yet listening: `listen` (or `ready`)
 * loads the plugins, and mercurius-cache wraps the resolver then. The generator's latency, the
 * input limits, the cache's size and its TTL come from the environment, as for gencache.
 */
export function createMercuriusServer(environment: NodeJS.ProcessEnv): FastifyInstance {
  const config = loadConfig(environment);
  const generator = new SimulatedGenerator({ latencyMs: config.generator.latencyMs, models: config.generator.models });
  let generationResolverCalls = 0;

  const app = Fastify();
  app.register(mercurius, {
    schema: readCommittedSchema(),
    jit: 1,
    resolvers: {
      Query: {
        generation: async (_root: unknown, { input }: { input: GenerationInput }) => {
          generationResolverCalls++;
          // The same validation, defaults and key as gencache's, so that both answer alike.
          const request = toGenerationRequest(input, generator, config.limits);
          const started = performance.now();
          const { output, contentType } = await generator.generate(request, AbortSignal.timeout(config.generator.timeoutMs));
          return {
            key: request.key,
            prompt: request.prompt,
            model: request.model,
            parameters: request.parameters,
            output,
            contentType,
            createdAt: new Date().toISOString(),
            generationMs: performance.now() - started,
            // What the resolver saw; a hit repeats the stored object as it is.
            cacheStatus: 'MISS',
          };
        },
      },
    },
  });
  // The package is CommonJS and its types declare an ES default export: under NodeNext that is
  // `.default`, which fastify-plugin also sets at run time.
  app.register(mercuriusCache.default, {
    // gencache's 0 means no expiry, mercurius-cache's turns the cache off: the longest TTL gencache
    // accepts (a year) stands for never.
    ttl: config.cache.defaultTtlSeconds === 0 ? config.limits.maxTtlSeconds : config.cache.defaultTtlSeconds,
    storage: { type: 'memory', options: { size: config.cache.maxEntries } },
    policy: { Query: { generation: true } },
  });
  app.get(RESOLVER_CALLS_PATH, async () => ({ generation: generationResolverCalls }));
  return app;
}
