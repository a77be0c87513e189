import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { onTestFinished } from 'vitest';
import { startProcess, type ServerProcess } from './server-process.js';

/** The Redis the shared-tier tests use: REDIS_URL, or the development machines' own. */
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

const available = await answers(REDIS_URL);
// CI starts Redis and sets REQUIRE_REDIS: there a missing Redis fails the tests instead of skipping them.
if (!available && process.env['REQUIRE_REDIS'] === '1') throw new Error(`Redis does not answer at ${REDIS_URL}, and REQUIRE_REDIS=1`);

/** Why the Redis tests are skipped, or undefined when Redis answers. */
export const redisSkipReason = available ? undefined : `Redis does not answer at ${REDIS_URL}: start redis-server, or set REDIS_URL`;

/**
 * The environment of an instance on a namespace of its own (so that test files running at once
 * never meet), whose keys are removed when the test finishes. Instances given the same namespace
 * share a cache.
 */
export function fleetEnv(namespace = `gencache:test:${randomUUID()}:`): Record<string, string> {
  onTestFinished(() => removeNamespace(namespace));
  // A generous command timeout: the tests run beside others on a small machine.
  return { REDIS_URL, CACHE_NAMESPACE: namespace, REDIS_COMMAND_TIMEOUT_MS: '2000' };
}

async function removeNamespace(namespace: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    for await (const keys of redis.scanStream({ match: `${namespace}*`, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.unlink(...keys);
    }
  } finally {
    redis.disconnect();
  }
}

/** A TCP port of 127.0.0.1 that was free a moment ago, for a server the test starts itself. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * A private redis-server (from PATH) on `port` of 127.0.0.1, without persistence, for the current
 * test only: killed by its pid when the test finishes if still running. Resolves once it accepts
 * connections; the test may kill it and start another on the same port.
 */
export async function startRedisServer(port: number): Promise<ServerProcess> {
  const server = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], process.env);
  await new Promise<void>((resolve, reject) => {
    const ready = () => server.lines.some((line) => line.includes('Ready to accept connections'));
    const onLine = () => {
      if (!ready()) return;
      server.stdoutLines.off('line', onLine);
      resolve();
    };
    server.stdoutLines.on('line', onLine);
    server.once('error', (error) => reject(new Error(`cannot run redis-server (install it, or put it on PATH): ${error.message}`)));
    void server.exited.then(([code]) => reject(new Error(`redis-server exited with ${code} before accepting connections: ${server.lines.join('\n')}${server.stderr()}`)));
    onLine();
  });
  return server;
}
