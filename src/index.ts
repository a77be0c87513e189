import { ConfigError, loadConfig, type Config } from './config.js';
import { createGenerationService } from './generation/create.js';
import { createHttpServer } from './http-server.js';
import { createLogger, logServiceEvents } from './logger.js';
import { createMetrics } from './metrics.js';
import { createGraphQlServer } from './yoga.js';

/** How long a shutdown waits for running requests before aborting generations. */
const SHUTDOWN_GRACE_MS = 10_000;

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`gencache: ${error.message}\n`);
  process.exit(1);
}

const logger = createLogger(config.logLevel);
const service = createGenerationService(config);
logServiceEvents(service, logger);
const graphql = createGraphQlServer({ service, config, logger, metrics: createMetrics(service).registry });
const { server, close } = createHttpServer(graphql, config.limits);

server.listen(config.port, config.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  logger.info(
    {
      url: `http://${config.host}:${port}${graphql.yoga.graphqlEndpoint}`,
      generator: service.generator.id,
      models: service.generator.models,
      cache: config.cache,
      concurrency: config.generator.concurrency,
      queueMax: config.generator.queueMax,
      timeoutMs: config.generator.timeoutMs,
    },
    'gencache listening',
  );
  if (config.adminToken === undefined) {
    logger.warn('ADMIN_TOKEN is not set: the admin surface is open to loopback clients only, without a token');
  }
});

function shutdown(signal: NodeJS.Signals): void {
  logger.info({ signal }, 'shutting down');
  // Requests under way get a grace period; then generations are aborted and long-lived
  // connections (SSE subscriptions) cut.
  const abort = setTimeout(() => {
    service.close();
    server.closeAllConnections();
  }, SHUTDOWN_GRACE_MS).unref();
  close().then(
    () => {
      clearTimeout(abort);
      service.close();
      logger.info('stopped');
      process.exit(0);
    },
    (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
}

process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
