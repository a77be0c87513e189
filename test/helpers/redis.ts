import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { onTestFinished } from 'vitest';

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
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
