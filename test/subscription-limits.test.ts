import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CacheStatsLiveDocument } from '../src/generated/graphql.js';
import { createHarness, serve } from './helpers/harness.js';
import { subscribe, wsClient, type Subscriber, type SubscriptionResult, type Transport } from './helpers/subscribers.js';

type Stats = SubscriptionResult<unknown>;

/** A subscriber that closes when the test finishes. */
function tracked(transport: Transport, url: string): Subscriber<unknown> {
  const subscriber = subscribe(transport, CacheStatsLiveDocument, { url, variables: { intervalMs: 60_000 } });
  onTestFinished(() => subscriber.close());
  return subscriber;
}

const codesOf = (result: Stats) => (result.errors ?? []).map((error) => error.extensions?.['code']);

/** One graphql-ws connection, shared by every subscription made through it. */
function connection(url: string): Client {
  const client = wsClient(url);
  onTestFinished(() => client.dispose());
  return client;
}

/** The first result of a `cacheStats` subscription on a shared connection, or its refusal. */
function firstOn(client: Client): Promise<{ result?: Stats; refusal?: unknown[] }> {
  return new Promise((resolve) => {
    client.subscribe(
      { query: print(CacheStatsLiveDocument), variables: { intervalMs: 60_000 } },
      {
        next: (result) => resolve({ result: result as Stats }),
        error: (errors) => resolve({ refusal: (errors as { extensions?: { code?: string } }[]).map((error) => error.extensions?.code) }),
        complete: () => undefined,
      },
    );
  });
}

describe('subscriptions on one graphql-ws connection (MAX_SUBSCRIPTIONS_PER_CONNECTION)', () => {
  it('runs as many as the limit on one connection, refuses one more, and lets another connection run its own', async () => {
    const url = await serve(createHarness({ env: { MAX_SUBSCRIPTIONS_PER_CONNECTION: '2' } }));
    const first = connection(url);

    const within = [await firstOn(first), await firstOn(first)];
    const over = await firstOn(first);
    const elsewhere = await firstOn(connection(url));

    expect(within.map((each) => each.result?.errors)).toEqual([undefined, undefined]);
    expect(over.refusal).toEqual(['TOO_MANY_SUBSCRIPTIONS']);
    expect(elsewhere.result?.errors).toBeUndefined();
  });
});

describe.each<Transport>(['sse', 'graphql-ws'])('subscriptions on the whole server (MAX_SUBSCRIPTIONS), over %s', (transport) => {
  it('runs as many as the limit, refuses one more with TOO_MANY_SUBSCRIPTIONS, and takes a new one once one ends', async () => {
    const harness = createHarness({ env: { MAX_SUBSCRIPTIONS: '2' } });
    const url = await serve(harness);

    const open = [tracked(transport, url), tracked(transport, url)];
    for (const subscriber of open) expect((await subscriber.next()).errors).toBeUndefined();
    const refused = await tracked(transport, url).next();
    await open[0]!.close();
    const after = await (async () => {
      // The end of a subscription reaches the server after its client's close: retry until it has.
      for (;;) {
        const result = await tracked(transport, url).next();
        if (!codesOf(result).includes('TOO_MANY_SUBSCRIPTIONS')) return result;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    expect(codesOf(refused)).toEqual(['TOO_MANY_SUBSCRIPTIONS']);
    expect(after.errors).toBeUndefined();
  });
});

describe('subscriptions over both transports count against one limit', () => {
  it('refuses a graphql-ws subscription when SSE holds the last place', async () => {
    const url = await serve(createHarness({ env: { MAX_SUBSCRIPTIONS: '2' } }));

    expect((await tracked('graphql-ws', url).next()).errors).toBeUndefined();
    expect((await tracked('sse', url).next()).errors).toBeUndefined();

    expect(codesOf(await tracked('graphql-ws', url).next())).toEqual(['TOO_MANY_SUBSCRIPTIONS']);
    expect(codesOf(await tracked('sse', url).next())).toEqual(['TOO_MANY_SUBSCRIPTIONS']);
  });
});
