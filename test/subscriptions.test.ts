import { setTimeout as sleep } from 'node:timers/promises';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CacheEventsDocument,
  CacheStatsLiveDocument,
  ClearCacheDocument,
  EvictCacheEntriesDocument,
  GenerationDocument,
  UpdateCacheConfigDocument,
  type CacheEventsSubscription,
} from '../src/generated/graphql.js';
import { createHarness, dataOf, postOperation, serve, type Harness } from './helpers/harness.js';
import { subscribe, type Subscriber, type Transport } from './helpers/subscribers.js';

const TOKEN = 'an-admin-token-of-some-length';
const TRANSPORTS: Transport[] = ['sse', 'graphql-ws'];

const ADMIN = { authorization: `Bearer ${TOKEN}` };

/** `cacheStats` with its interval written into the document, not passed as a variable. */
const statsEvery = (intervalMs: number) =>
  parse(`subscription { cacheStats(intervalMs: ${intervalMs}) { hits } }`) as TypedDocumentNode<{ cacheStats: { hits: number } }, Record<string, never>>;

/** How many results a subscriber receives in the `windowMs` after its first. */
async function countIn<T>(subscriber: Subscriber<T>, windowMs: number): Promise<number> {
  const first = await subscriber.next();
  expect(first.errors).toBeUndefined();
  const end = performance.now() + windowMs;
  let count = 1;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) return count;
    const next = await Promise.race([subscriber.next().then(() => true), sleep(left).then(() => false)]);
    if (!next) return count;
    count++;
  }
}

/**
 * Waits until an event subscription is live on the server: until then events are not delivered,
 * so no-op CONFIG changes are made until the first one arrives.
 */
async function whenLive(events: Subscriber<CacheEventsSubscription>, url: string): Promise<void> {
  const first = events.until((result) => result.data?.cacheEvents.type === 'CONFIG');
  let live = false;
  void first.then(() => (live = true));
  while (!live) {
    dataOf(await postOperation(fetch, url, UpdateCacheConfigDocument, { input: {} }, ADMIN));
    await Promise.race([first, sleep(50)]);
  }
}

describe.each(TRANSPORTS)('subscriptions over %s', (transport) => {
  let harness: Harness;
  const subscribers: Subscriber<unknown>[] = [];

  async function start(env: Record<string, string> = {}) {
    harness = createHarness({ env: { ADMIN_TOKEN: TOKEN, ...env } });
    // Closes when the test finishes, after the subscribers (closed in afterEach).
    return serve(harness);
  }

  function track<T>(subscriber: Subscriber<T>): Subscriber<T> {
    subscribers.push(subscriber as Subscriber<unknown>);
    return subscriber;
  }

  afterEach(async () => {
    await Promise.all(subscribers.splice(0).map((subscriber) => subscriber.close()));
  });

  it('cacheStats sends the current value at once and a later one that reflects a generation made while subscribed', async () => {
    const url = await start();
    dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'before' } }));

    const stats = track(subscribe(transport, CacheStatsLiveDocument, { url, variables: { intervalMs: 100 } }));
    const first = await stats.next();
    expect(first.errors).toBeUndefined();
    expect(first.data?.cacheStats).toMatchObject({ generations: 1, entries: 1, misses: 1, hits: 0 });

    dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'during' } }));
    dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'during' } }));
    const later = await stats.until((result) => result.data?.cacheStats.hits === 1);

    expect(later.data?.cacheStats).toMatchObject({ generations: 2, entries: 2, misses: 2, hits: 1, hitRate: 1 / 3 });
  });

  it.each([
    [99, false],
    [100, true],
    [60_000, true],
    [60_001, false],
  ])('cacheStats with intervalMs %i is accepted: %s', async (intervalMs, accepted) => {
    const url = await start();

    const result = await track(subscribe(transport, CacheStatsLiveDocument, { url, variables: { intervalMs } })).next();

    if (accepted) {
      expect(result.errors).toBeUndefined();
      expect(result.data?.cacheStats.entries).toBe(0);
    } else {
      expect(result.errors?.map((error) => error.extensions?.['code'])).toEqual(['BAD_USER_INPUT']);
      expect(result.errors?.[0]?.message).toContain(`got ${intervalMs}`);
    }
  });

  it('cacheStats honours an intervalMs written as a literal: 250 gives at least 3 results in a second', async () => {
    const url = await start();

    const every250 = await countIn(track(subscribe(transport, statsEvery(250), { url })), 1000);

    expect(every250).toBeGreaterThanOrEqual(3);
  });

  it.each([5, 99, 60_001])('cacheStats refuses a literal intervalMs %i with BAD_USER_INPUT', async (intervalMs) => {
    const url = await start();

    const result = await track(subscribe(transport, statsEvery(intervalMs), { url })).next();

    expect(result.errors?.map((error) => error.extensions?.['code'])).toEqual(['BAD_USER_INPUT']);
    expect(result.errors?.[0]?.message).toContain(`got ${intervalMs}`);
  });

  it('cacheStats subscribers share one timer per distinct interval', async () => {
    const url = await start();
    const subscribers = [250, 250, 250, 400].map((intervalMs) => track(subscribe(transport, statsEvery(intervalMs), { url })));
    for (const subscriber of subscribers) expect((await subscriber.next()).errors).toBeUndefined();
    await expect.poll(() => harness.statsFeed.timers).toBe(2);

    await Promise.all(subscribers.slice(0, 3).map((subscriber) => subscriber.close()));
    await expect.poll(() => harness.statsFeed.timers, { timeout: 5000 }).toBe(1);
  });

  it('a cacheStats subscriber that goes away leaves no timer behind', async () => {
    const url = await start();
    const setInterval = vi.spyOn(globalThis, 'setInterval');
    const clearInterval = vi.spyOn(globalThis, 'clearInterval');
    try {
      const stats = subscribe(transport, CacheStatsLiveDocument, { url, variables: { intervalMs: 123 } });
      await stats.next();
      await stats.next();
      const timers = setInterval.mock.calls.flatMap(([, delay], index) => (delay === 123 ? [setInterval.mock.results[index]!.value] : []));
      expect(timers).toHaveLength(1);
      expect(clearInterval.mock.calls.some(([timer]) => timer === timers[0])).toBe(false);

      await stats.close();

      await expect.poll(() => clearInterval.mock.calls.some(([timer]) => timer === timers[0]), { timeout: 5000 }).toBe(true);
    } finally {
      setInterval.mockRestore();
      clearInterval.mockRestore();
    }
  });

  it('cacheEvents delivers SET and an EVICT when the entry bound is hit, and CLEAR on clearCache', async () => {
    const url = await start({ CACHE_MAX_SIZE: '2' });
    const events = track(subscribe(transport, CacheEventsDocument, { url, ...ADMIN }));
    await whenLive(events, url);

    const keys: string[] = [];
    for (const prompt of ['first', 'second', 'third']) {
      keys.push(dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt } })).generation!.key);
    }
    const received: CacheEventsSubscription['cacheEvents'][] = [];
    const evict = await events.until((result) => {
      received.push(result.data!.cacheEvents);
      return result.data?.cacheEvents.type === 'EVICT';
    });
    expect(evict.data?.cacheEvents).toMatchObject({ type: 'EVICT', key: keys[0], reason: 'maxEntries', model: 'sim-1' });
    expect(received.filter((event) => event.type === 'SET').map((event) => event.key)).toEqual(keys.slice(0, 2));

    const cleared = dataOf(await postOperation(fetch, url, ClearCacheDocument, {}, ADMIN));
    const clear = await events.until((result) => result.data?.cacheEvents.type === 'CLEAR');
    expect(clear.data?.cacheEvents).toMatchObject({ type: 'CLEAR', removed: 2, bytes: cleared.clearCache.freedBytes, reason: 'cleared' });
  });

  it('cacheEvents delivers DELETE for evictCacheEntries and CONFIG with the new settings', async () => {
    const url = await start();
    const admin = ADMIN;
    const events = track(subscribe(transport, CacheEventsDocument, { url, ...admin }));
    await whenLive(events, url);
    dataOf(await postOperation(fetch, url, UpdateCacheConfigDocument, { input: { maxEntries: 50 } }, admin));
    const config = await events.until((result) => result.data?.cacheEvents.config?.maxEntries === 50);
    expect(config.data?.cacheEvents).toMatchObject({ type: 'CONFIG', config: { maxEntries: 50, enabled: true } });

    const key = dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'doomed' } })).generation!.key;
    dataOf(await postOperation(fetch, url, EvictCacheEntriesDocument, { keys: [key] }, admin));
    const deleted = await events.until((result) => result.data?.cacheEvents.type === 'DELETE');

    expect(deleted.data?.cacheEvents).toMatchObject({ type: 'DELETE', key, model: 'sim-1' });
    expect(deleted.data?.cacheEvents.bytes).toBeGreaterThan(0);
  });

  it('refuses cacheEvents without the admin token and registers no listener', async () => {
    const url = await start();
    const listeners = harness.cache.events.listenerCount('event');

    const result = await track(subscribe(transport, CacheEventsDocument, { url })).next();

    expect(result.errors?.map((error) => error.extensions?.['code'])).toEqual(['UNAUTHENTICATED']);
    expect(harness.cache.events.listenerCount('event')).toBe(listeners);
  });

  it('a cacheEvents subscriber that goes away leaves no listener behind', async () => {
    const url = await start();
    // Metrics and logs listen too.
    const listeners = harness.cache.events.listenerCount('event');
    const events = subscribe(transport, CacheEventsDocument, { url, ...ADMIN });
    await whenLive(events, url);
    expect(harness.cache.events.listenerCount('event')).toBe(listeners + 1);

    await events.close();

    await expect.poll(() => harness.cache.events.listenerCount('event'), { timeout: 5000 }).toBe(listeners);
  });

  it('serves 12 cacheEvents subscribers at once with no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const url = await start();
      const all = Array.from({ length: 12 }, () => track(subscribe(transport, CacheEventsDocument, { url, ...ADMIN })));
      for (const events of all) await whenLive(events, url);

      dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'seen by all' } }));
      const seen = await Promise.all(all.map((events) => events.until((result) => result.data?.cacheEvents.type === 'SET')));

      expect(seen.map((result) => result.data?.cacheEvents.type)).toEqual(Array(12).fill('SET'));
      expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
