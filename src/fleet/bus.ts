import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import type { Redis } from 'ioredis';
import type { RedisLink } from './redis-link.js';

/**
 * Messages between the instances of a fleet, on Redis pub/sub under the cache's namespace:
 * GraphQL Yoga's Redis event target, with the failures of a publish counted on the link rather
 * than left unhandled. Every instance hears its own messages too.
 */
export interface FleetBus {
  /** Settles once every subscription made so far is in place, or has failed. */
  subscribed(): Promise<void>;
  publish<T>(topic: string, detail: T): void;
  /** Calls `listener` with each message of the topic; returns a function that stops it. */
  subscribe<T>(topic: string, listener: (detail: T) => void): () => void;
}

export function createFleetBus(link: RedisLink, namespace: string): FleetBus {
  // The event target publishes without awaiting: a failed publish is counted here instead of
  // becoming an unhandled rejection.
  const publishClient = {
    publish: (channel: string, message: string) => link.client.publish(channel, message).catch((error: unknown) => link.failed(error)),
  } as unknown as Redis;
  // The subscriptions the event target makes, so that `subscribed` can wait for them.
  const subscriptions: Promise<unknown>[] = [];
  const subscribeClient = new Proxy(link.subscriber, {
    get(target, name) {
      if (name === 'subscribe') {
        return (...channels: string[]) => {
          const subscription = target.subscribe(...channels);
          subscriptions.push(subscription.catch((error: unknown) => link.failed(error)));
          return subscription;
        };
      }
      const value: unknown = Reflect.get(target, name, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const target = createRedisEventTarget<CustomEvent>({ publishClient, subscribeClient });
  return {
    subscribed: async () => void (await Promise.all(subscriptions)),
    publish: (topic, detail) => void target.dispatchEvent(new CustomEvent(namespace + topic, { detail })),
    subscribe: (topic, listener) => {
      const callback = (event: CustomEvent) => listener(event.detail);
      target.addEventListener(namespace + topic, callback);
      return () => target.removeEventListener(namespace + topic, callback);
    },
  };
}
