import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Plugin } from 'graphql-yoga';
import { MemoryStore } from './cache/memory-store.js';
import { CacheSnapshots } from './cache/snapshot.js';
import type { CacheStore } from './cache/store.js';
import type { Config } from './config.js';
import { createFleet } from './fleet/fleet.js';
import type { Generator } from './generation/generator.js';
import { OpenAIGenerator } from './generation/openai-generator.js';
import { GenerationService, type GenerationStats } from './generation/service.js';
import { SimulatedGenerator } from './generation/simulated-generator.js';
import { StatsFeed } from './generation/stats-feed.js';
import { createHttpServer } from './http-server.js';
import { createLogger, logServiceEvents, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createGraphQlServer, type GencacheYoga } from './yoga.js';
import type { FastLane } from './fast-lane.js';

/** What a caller may put in place of what the configuration describes: tests and the benchmark. */
export interface AppOverrides {
  /** Replaces the configured generator. */
  readonly generator?: Generator;
  /** Clock in epoch milliseconds, for the cache and the service. @default Date.now */
  readonly now?: () => number;
  /** @default a pino logger at the configured level, on stdout */
  readonly logger?: Logger;
  /** Node's process metrics on /metrics. @default true */
  readonly defaultMetrics?: boolean;
  /** Yoga plugins after the service's own (e.g. a whole-response cache to compare against). */
  readonly plugins?: readonly Plugin[];
  /** Whether plain JSON POSTs may take the fast lane (src/fast-lane.ts). @default true */
  readonly fastLane?: boolean;
  /** Whether queries run compiled by graphql-jit; graphql-js runs them otherwise. @default true */
  readonly compileQueries?: boolean;
}

/** The whole service, wired: everything a process, a test or the benchmark needs of it. */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly generator: Generator;
  readonly cache: CacheStore;
  readonly service: GenerationService;
  readonly statsFeed: StatsFeed<GenerationStats>;
  readonly metrics: Metrics;
  readonly yoga: GencacheYoga;
  readonly fastLane: FastLane | undefined;
  /** Snapshots of this process's cache for a warm restart (CACHE_SNAPSHOT_PATH); undefined without one. */
  readonly snapshots: CacheSnapshots | undefined;
  /** The HTTP server (GraphQL over HTTP and SSE, graphql-ws, /health, /ready, /metrics); not yet listening. */
  readonly server: Server;
  /**
   * Settles when the connection to the shared tier is made, or has failed once (the instance then
   * serves alone until it is made); at once without one.
   */
  readonly connected: Promise<void>;
  /**
   * Loads the cache snapshot, if there is one, and waits for `connected`, then listens on the
   * configured (or given) port and host; resolves the URL of the GraphQL endpoint.
   */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops accepting, closes WebSockets and idle connections, waits for requests under way (at
   * most `graceMs`; then their generations are aborted and answered GENERATION_FAILED, and the
   * connections cut), detaches metrics and logs, and writes the cache snapshot, if there is one.
   */
  close(graceMs?: number): Promise<void>;
}

/** The generator the configuration names. */
export function createGenerator({ generator: settings }: Config): Generator {
  switch (settings.kind) {
    case 'simulated':
      return new SimulatedGenerator({ latencyMs: settings.latencyMs, models: settings.models });
    case 'openai':
      return new OpenAIGenerator({ ...settings.openai, models: settings.models });
  }
}

/** How long a close waits for requests under way before aborting their generations. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/** How long the answers to aborted generations have to be written before connections are cut. */
const ANSWER_ABORTED_MS = 500;

/** The composition root: the one place where configuration becomes parts, and parts are wired. */
export function createApp(config: Config, overrides: AppOverrides = {}): App {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const generator = overrides.generator ?? createGenerator(config);
  const local = new MemoryStore({ ...config.cache, now: overrides.now });
  const snapshots = config.snapshot && new CacheSnapshots({ ...config.snapshot, store: local, generatorId: generator.id, logger, now: overrides.now });
  const fleet = config.fleet && createFleet(config.fleet, local, logger, overrides.now);
  const cache: CacheStore = fleet?.cache ?? local;
  const service = new GenerationService({
    generator,
    cache,
    limits: config.limits,
    concurrency: config.generator.concurrency,
    queueMax: config.generator.queueMax,
    timeoutMs: config.generator.timeoutMs,
    abandoned: config.generator.abandoned,
    maxOutputBytes: config.maxOutputBytes,
    now: overrides.now,
    coordinator: fleet?.coordinator,
  });
  const statsFeed = new StatsFeed<GenerationStats>(() => service.stats());
  fleet?.publishStats(() => service.stats());
  fleet?.onCancel((key) => service.cancel(key));
  const metrics = createMetrics({ service, cache, defaultMetrics: overrides.defaultMetrics, sharedTier: fleet?.link, generator });
  const detachLogs = logServiceEvents(service, cache, logger);
  const graphql = createGraphQlServer({
    service,
    cache,
    statsFeed,
    logger,
    generator,
    adminToken: config.adminToken,
    corsOrigins: config.corsOrigins,
    maxSubscriptions: config.maxSubscriptions,
    maxGenerationsPerOperation: config.maxGenerationsPerOperation,
    maxResponseBytes: config.maxResponseBytes,
    readyRequiresGenerator: config.readyRequiresGenerator,
    instanceId: config.instanceId,
    cacheEvents: fleet?.events,
    fleetStats: fleet?.stats,
    cancelGeneration:
      fleet &&
      ((key: string) => {
        fleet.announceCancel(key);
        return service.cancel(key);
      }),
    trustedDocuments: config.trustedDocuments,
    metrics: metrics.registry,
    plugins: overrides.plugins,
    fastLane: overrides.fastLane,
    compileQueries: overrides.compileQueries,
  });
  const http = createHttpServer(graphql, {
    ...config.http,
    maxRequestBodyBytes: config.maxRequestBodyBytes,
    maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
  });

  return {
    config,
    logger,
    generator,
    cache,
    service,
    statsFeed,
    metrics,
    yoga: graphql.yoga,
    fastLane: graphql.fastLane,
    snapshots,
    server: http.server,
    connected: fleet?.connected ?? Promise.resolve(),
    listen: async (port = config.port, host = config.host) => {
      // The snapshot is in the cache, and the shared tier reachable, before the first request.
      await Promise.all([snapshots?.open(), fleet?.connected]);
      return new Promise<string>((resolve, reject) => {
        http.server.once('error', reject).listen(port, host, () => {
          http.server.off('error', reject);
          const { port: bound } = http.server.address() as AddressInfo;
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${bound}${graphql.yoga.graphqlEndpoint}`);
        });
      });
    },
    close: async (graceMs = DEFAULT_SHUTDOWN_GRACE_MS) => {
      // Requests under way get a grace period. Then generations are aborted, so that their
      // waiters are answered GENERATION_FAILED; a moment later what is still open (SSE
      // subscriptions, idle keep-alive sockets) is cut.
      let cut: NodeJS.Timeout | undefined;
      const abort = setTimeout(() => {
        service.close();
        cut = setTimeout(() => http.server.closeAllConnections(), ANSWER_ABORTED_MS);
      }, graceMs);
      try {
        await http.close();
      } finally {
        clearTimeout(abort);
        clearTimeout(cut);
        service.close();
        // No request runs and no generation can store any more: the cache is final.
        await snapshots?.close();
        metrics.detach();
        detachLogs();
        await fleet?.close();
      }
    },
  };
}
