import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * The connections to Redis of one instance, and whether Redis answers. Redis is a help, never a
 * dependency: a command that cannot be sent at once fails at once (no offline queue), one that
 * takes longer than `commandTimeoutMs` fails, and the callers take a failure for an empty answer.
 * ioredis reconnects by itself; an outage is logged once when it starts and once when it ends.
 */

/** A command's answer is awaited this long at most. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 100;
/** Reconnection attempts back off up to this. */
const MAX_RECONNECT_DELAY_MS = 2_000;
const CONNECT_TIMEOUT_MS = 2_000;

export interface RedisLinkOptions {
  readonly url: string;
  readonly commandTimeoutMs?: number;
  readonly logger: Logger;
}

export class RedisLink {
  /** For commands: fails fast while Redis is away. */
  readonly client: Redis;
  /** For subscriptions: queues them while Redis is away and subscribes again when it is back. */
  readonly subscriber: Redis;
  /** Settles when the first connection attempt has succeeded or failed. */
  readonly connected: Promise<void>;
  readonly #logger: Logger;
  #down = false;
  #closing = false;
  #errors = 0;

  constructor({ url, commandTimeoutMs = DEFAULT_REDIS_COMMAND_TIMEOUT_MS, logger }: RedisLinkOptions) {
    this.#logger = logger;
    const retryStrategy = (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS);
    this.client = new Redis(url, {
      commandTimeout: commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy,
    });
    this.subscriber = new Redis(url, { maxRetriesPerRequest: null, connectTimeout: CONNECT_TIMEOUT_MS, retryStrategy });
    for (const connection of [this.client, this.subscriber]) {
      // Without a listener, a connection error would be thrown as an unhandled 'error' event.
      connection.on('error', (error: Error) => this.failed(error));
    }
    this.client.on('ready', () => {
      if (!this.#down) return;
      this.#down = false;
      this.#logger.info('shared tier: Redis answers again');
    });
    this.client.on('close', () => this.failed(new Error('connection closed')));
    this.connected = new Promise<void>((resolve) => {
      this.client.once('ready', resolve);
      this.client.once('error', () => resolve());
    });
  }

  /** Whether commands can be sent now. */
  get up(): boolean {
    return this.client.status === 'ready';
  }

  /** Commands that failed, and connection errors, since the start. */
  get errors(): number {
    return this.#errors;
  }

  /** Counts a failure of Redis; the first of an outage is logged. */
  failed(error: unknown): void {
    if (this.#closing) return;
    this.#errors++;
    if (this.#down || this.up) return;
    this.#down = true;
    this.#logger.warn({ err: error }, 'shared tier: Redis does not answer; serving from this instance alone until it does');
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
