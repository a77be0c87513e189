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
let url: string;
try {
  url = await app.listen();
} catch (error) {
  // A port in use, an address not of this machine: say which, and fail.
  app.logger.fatal({ err: error, address: `${config.host}:${config.port}` }, 'cannot listen');
  await app.close(0);
  process.exit(1);
}
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

let stopping = false;
/**
 * Stops on the first SIGINT or SIGTERM. Later ones are logged and ignored rather than left to
 * Node's default, which would kill the process mid-shutdown: under `npm start` the signal of a
 * terminal or supervisor reaches the process group, and npm forwards it again.
 */
function shutdown(signal: NodeJS.Signals): void {
  if (stopping) {
    app.logger.info({ signal }, 'already shutting down');
    return;
  }
  stopping = true;
  app.logger.info({ signal }, 'shutting down');
  app.close(config.shutdownGraceMs).then(
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

process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
