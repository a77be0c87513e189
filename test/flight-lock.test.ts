import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createFleetBus } from '../src/fleet/bus.js';
import { RedisFlightCoordinator } from '../src/fleet/flight-lock.js';
import { RedisLink } from '../src/fleet/redis-link.js';
import type { FlightClaim } from '../src/generation/coordinator.js';
import { createLogger } from '../src/logger.js';
import { REDIS_URL, redisSkipReason } from './helpers/redis.js';

/**
 * Single-flight across instances when a claim's answer comes too late. A busy event loop makes
 * ioredis fail a `SET NX` that Redis did answer (at the default command timeout, 100 ms, a stall
 * of a few hundred milliseconds does it): the answer sits unread while the timeout fires. The
 * claim must then look at the lock rather than guess: a waiter generating beside the holder would
 * make the generation twice.
 */

/**
 * The command timeout here: long enough that the lookup after the stall is answered in time on a
 * machine busy with other tests, as the default is not always.
 */
const TIMEOUT_MS = 500;

const skipped = redisSkipReason === undefined ? '' : ` (skipped: ${redisSkipReason})`;

/** An instance's coordinator on a namespace (its locks living `lockTtlMs` unless renewed); closed when the test finishes. */
async function instance(namespace: string, lockTtlMs?: number): Promise<RedisFlightCoordinator> {
  const link = new RedisLink({ url: REDIS_URL, commandTimeoutMs: TIMEOUT_MS, logger: createLogger('silent') });
  onTestFinished(() => link.close());
  await link.connected;
  const bus = createFleetBus(link, namespace);
  // The coordinator hears announcements once the bus has subscribed: a round trip on the subscriber.
  const coordinator = new RedisFlightCoordinator(link, bus, namespace, lockTtlMs);
  await link.subscriber.ping();
  return coordinator;
}

/** A namespace of the test's own, and a connection to look at its lock of key `k`, removed when the test finishes. */
function lockSpace(): { namespace: string; redis: Redis } {
  const namespace = `gencache:test:${randomUUID()}:`;
  const redis = new Redis(REDIS_URL);
  onTestFinished(async () => {
    await redis.del(`${namespace}lock:k`);
    redis.disconnect();
  });
  return { namespace, redis };
}

/** Claims, then keeps the event loop busy past the command timeout, as a stall does. */
function claimDuringStall(coordinator: RedisFlightCoordinator, key: string): Promise<FlightClaim> {
  const claim = coordinator.claim(key);
  const until = performance.now() + TIMEOUT_MS * 2;
  while (performance.now() < until) {
    // busy: the answer to SET NX arrives meanwhile and stays unread
  }
  return claim;
}

/** `holder` generates and `waiter` waits; once the holder releases, the waiter learns the outcome and the lock is gone. */
async function expectHandOver(holder: FlightClaim, waiter: FlightClaim, redis: Redis, lock: string): Promise<void> {
  expect([holder.kind, waiter.kind]).toEqual(['generate', 'wait']);
  if (holder.kind !== 'generate' || waiter.kind !== 'wait') throw new Error('unreachable: the kinds were asserted');
  holder.release({ ok: true });
  await expect(waiter.settled).resolves.toEqual({ ok: true });
  expect(await redis.exists(lock)).toBe(0);
}

describe.skipIf(redisSkipReason !== undefined)(`claims answered too late${skipped}`, () => {
  it('a waiter whose SET NX timed out waits for the holder instead of generating too', async () => {
    const { namespace, redis } = lockSpace();
    const [holder, waiter] = [await instance(namespace), await instance(namespace)];

    const held = await holder.claim('k');
    const late = await claimDuringStall(waiter, 'k');

    await expectHandOver(held, late, redis, `${namespace}lock:k`);
  });

  it('a claim whose SET NX timed out but was taken holds the key and renews it: the others wait past its first life, and its release frees them', async () => {
    const { namespace, redis } = lockSpace();
    const lockTtlMs = TIMEOUT_MS * 6;
    const [first, other] = [await instance(namespace, lockTtlMs), await instance(namespace, lockTtlMs)];

    const late = await claimDuringStall(first, 'k');
    // Past the lock's first life: only a renewed lock is still there.
    await new Promise((resolve) => setTimeout(resolve, lockTtlMs + TIMEOUT_MS));
    const after = await other.claim('k');

    await expectHandOver(late, after, redis, `${namespace}lock:k`);
  });
});
