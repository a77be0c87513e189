import { randomUUID } from 'node:crypto';
import type { FlightClaim, FlightCoordinator, FlightOutcome } from '../generation/coordinator.js';
import type { FleetBus } from './bus.js';
import type { RedisLink } from './redis-link.js';

/** How long a claim lives unless its holder renews it: the bound on waiting for a holder that died. */
export const DEFAULT_CACHE_LOCK_TTL_MS = 30_000;
/** A waiter looks at the lock again this long after its expiry was due. */
const RECHECK_MARGIN_MS = 50;

/** Extends the lock if this instance still holds it. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Removes the lock if this instance still holds it. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** What a holder announces when it is done with a key. */
interface Announcement {
  readonly key: string;
  readonly outcome: FlightOutcome;
}

/**
 * Single-flight across the instances that share Redis. A claim is a lock per key (SET NX PX,
 * holding a token of this claim), renewed while the generation runs and released after it,
 * owner-checked in Lua. Its holder announces the outcome on the bus; a waiter takes the
 * announcement, or, past the lock's expiry without one, looks at the lock again: a holder that
 * died lets its lock lapse, and a waiter claims the key. With Redis away, every instance
 * generates for itself.
 */
export class RedisFlightCoordinator implements FlightCoordinator {
  readonly #link: RedisLink;
  readonly #bus: FleetBus;
  readonly #prefix: string;
  readonly #lockTtlMs: number;
  /** Waiters on this instance, per key. */
  readonly #waiters = new Map<string, Set<(outcome: FlightOutcome | undefined) => void>>();

  constructor(link: RedisLink, bus: FleetBus, namespace: string, lockTtlMs = DEFAULT_CACHE_LOCK_TTL_MS) {
    this.#link = link;
    this.#bus = bus;
    this.#prefix = `${namespace}lock:`;
    this.#lockTtlMs = lockTtlMs;
    bus.subscribe<Announcement>('flights', ({ key, outcome }) => this.#settle(key, outcome));
    // With the connection gone no announcement can come: every waiter looks again at once.
    link.client.on('close', () => this.#waiters.forEach((waiters) => waiters.forEach((waiter) => waiter(undefined))));
  }

  async claim(key: string): Promise<FlightClaim> {
    if (!this.#link.up) return { kind: 'generate', release: () => undefined };
    const lock = this.#prefix + key;
    const token = randomUUID();
    let taken: string | null;
    try {
      taken = await this.#link.client.set(lock, token, 'PX', this.#lockTtlMs, 'NX');
    } catch (error) {
      this.#link.failed(error);
      return this.#afterUnanswered(key, lock, token);
    }
    if (taken === 'OK') return this.#held(key, lock, token);
    return { kind: 'wait', settled: this.#wait(key, lock) };
  }

  /**
   * A claim whose answer did not come in time. Redis may have taken it all the same: the answer
   * can sit unread while this process's event loop is busy, and the timeout fires first. The lock
   * then tells: this claim's token (it holds the key), another's (another instance generates it:
   * wait, rather than generate it twice), or none. When Redis does not answer that either, or
   * holds no lock, this instance generates, and releases and announces as a holder would, so
   * that no waiter is left behind.
   */
  async #afterUnanswered(key: string, lock: string, token: string): Promise<FlightClaim> {
    let holder: string | null = null;
    try {
      holder = await this.#link.client.get(lock);
    } catch (error) {
      this.#link.failed(error);
    }
    if (holder === token) return this.#held(key, lock, token);
    if (holder !== null) return { kind: 'wait', settled: this.#wait(key, lock) };
    return { kind: 'generate', release: (outcome) => this.#release(key, lock, token, outcome) };
  }

  /** A claim this instance holds: renewed until released. */
  #held(key: string, lock: string, token: string): FlightClaim {
    const renewal = setInterval(() => {
      this.#link.client.eval(RENEW, 1, lock, token, this.#lockTtlMs).catch((error: unknown) => this.#link.failed(error));
    }, this.#lockTtlMs / 3);
    renewal.unref();
    return {
      kind: 'generate',
      release: (outcome) => {
        clearInterval(renewal);
        this.#release(key, lock, token, outcome);
      },
    };
  }

  /** Removes the lock if this claim holds it, then announces the outcome to the waiters. */
  #release(key: string, lock: string, token: string, outcome: FlightOutcome): void {
    // Released before it is announced: a waiter that looks again finds the key free.
    this.#link.client
      .eval(RELEASE, 1, lock, token)
      .catch((error: unknown) => this.#link.failed(error))
      .finally(() => this.#bus.publish<Announcement>('flights', { key, outcome }));
  }

  /** Until the holder announces an outcome, or its lock is gone without one (undefined). */
  #wait(key: string, lock: string): Promise<FlightOutcome | undefined> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let waiters = this.#waiters.get(key);
      if (waiters === undefined) this.#waiters.set(key, (waiters = new Set()));
      const those = waiters;
      let settled = false;
      const done = (outcome: FlightOutcome | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        those.delete(done);
        if (those.size === 0 && this.#waiters.get(key) === those) this.#waiters.delete(key);
        resolve(outcome);
      };
      those.add(done);
      // The announcement may have come before this waiter listened: the lock's expiry bounds the
      // wait, and looking at the lock then tells whether the holder is still at work.
      const look = async () => {
        let left: number;
        try {
          left = await this.#link.client.pttl(lock);
        } catch (error) {
          this.#link.failed(error);
          return done(undefined);
        }
        if (settled) return;
        if (left < 0) return done(undefined);
        // At least every third of the lock's life: a Redis that hangs (rather than closing the
        // connection) fails the next look within the command timeout, and the waiter goes on.
        timer = setTimeout(() => void look(), Math.min(left + RECHECK_MARGIN_MS, this.#lockTtlMs / 3));
      };
      void look();
    });
  }

  #settle(key: string, outcome: FlightOutcome): void {
    for (const waiter of this.#waiters.get(key) ?? []) waiter(outcome);
  }
}
