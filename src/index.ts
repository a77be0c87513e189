import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';

/** The process: load the configuration, build the app, listen, and stop gracefully on a signal. */

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`gencache: ${error.message}\n`);
  process.exit(1);
}

const app = createApp(config);
const url = await app.listen();
app.logger.info(
  {
    url,
    generator: app.generator.id,
    models: app.generator.models,
    cache: config.cache,
    concurrency: config.generator.concurrency,
    queueMax: config.generator.queueMax,
    timeoutMs: config.generator.timeoutMs,
  },
  'gencache listening',
);
if (config.adminToken === undefined) {
  app.logger.warn('ADMIN_TOKEN is not set: the admin surface is open to loopback clients only, without a token');
}

function shutdown(signal: NodeJS.Signals): void {
  app.logger.info({ signal }, 'shutting down');
  app.close().then(
    () => {
      app.logger.info('stopped');
      process.exit(0);
    },
    (error: unknown) => {
      app.logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
}

process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
