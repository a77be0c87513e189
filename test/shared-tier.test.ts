import { print } from 'graphql';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  CacheEntriesDocument,
  CacheEventsDocument,
  CacheStatsDocument,
  CacheStatsLiveDocument,
  CancelGenerationDocument,
  ClearCacheDocument,
  EvictCacheEntriesDocument,
  GenerationDocument,
  UpdateCacheConfigDocument,
} from '../src/generated/graphql.js';
import { createHarness, dataOf, errorCodes, postOperation, serve } from './helpers/harness.js';
import { fleetEnv, redisSkipReason } from './helpers/redis.js';
import { subscribe } from './helpers/subscribers.js';

const TOKEN = 'an-admin-token-of-some-length';
const ADMIN = { authorization: `Bearer ${TOKEN}` };

describe.skipIf(redisSkipReason !== undefined)('the shared tier (Redis)', () => {
  it('serves on instance B, as SHARED_HIT with the same output, what instance A generated; then from B\'s own cache', async () => {
    const env = fleetEnv();
    const a = createHarness({ env });
    const b = createHarness({ env });
    await Promise.all([a.connected, b.connected]);
    const [urlA, urlB] = [await serve(a), await serve(b)];
    const input = { prompt: 'made on A' };

    const made = dataOf(await postOperation(fetch, urlA, GenerationDocument, { input })).generation!;
    const shared = dataOf(await postOperation(fetch, urlB, GenerationDocument, { input })).generation!;
    const local = dataOf(await postOperation(fetch, urlB, GenerationDocument, { input })).generation!;

    expect(made.cacheStatus).toBe('MISS');
    expect(shared).toMatchObject({ cacheStatus: 'SHARED_HIT', key: made.key, output: made.output, generationMs: made.generationMs });
    expect(local).toMatchObject({ cacheStatus: 'HIT', key: made.key, output: made.output });
    expect([a.generator.calls.length, b.generator.calls.length]).toEqual([1, 0]);
    expect(dataOf(await postOperation(fetch, urlB, CacheStatsDocument)).cacheStats).toMatchObject({
      hits: 2,
      sharedHits: 1,
      misses: 0,
      entries: 1,
      sharedTier: true,
    });
  });

  it('serves the keys a batch misses locally from the shared tier, and fills the local cache with them', async () => {
    const env = fleetEnv();
    const a = createHarness({ env });
    const b = createHarness({ env });
    await Promise.all([a.connected, b.connected]);
    const inputs = ['one', 'two', 'three'].map((prompt) => ({ prompt }));
    await Promise.all(inputs.map(async (input) => dataOf(await a.execute(GenerationDocument, { input }))));
    // B has 'one' in its own cache already.
    expect(dataOf(await b.execute(GenerationDocument, { input: inputs[0]! })).generation?.cacheStatus).toBe('SHARED_HIT');

    const query = 'query ($inputs: [GenerationInput!]!) { generations(inputs: $inputs) { prompt cacheStatus } }';
    const response = await b.yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables: { inputs } }) });
    const { data } = (await response.json()) as { data: { generations: { prompt: string; cacheStatus: string }[] } };

    expect(data.generations).toEqual([
      { prompt: 'one', cacheStatus: 'HIT' },
      { prompt: 'two', cacheStatus: 'SHARED_HIT' },
      { prompt: 'three', cacheStatus: 'SHARED_HIT' },
    ]);
    expect(b.generator.calls).toHaveLength(0);
    expect(b.service.stats()).toMatchObject({ entries: 3, hits: 4, sharedHits: 3 });
  });

  it('reports the shared tier on /ready and /metrics, and null in cacheStats without REDIS_URL', async () => {
    const fleet = createHarness({ env: fleetEnv() });
    const alone = createHarness();
    await fleet.connected;

    const ready = await (await fleet.yoga.fetch('http://yoga/ready')).json();
    const metrics = await (await fleet.yoga.fetch('http://yoga/metrics')).text();

    expect(ready).toMatchObject({ status: 'ready', cache: { enabled: true, sharedTier: 'up' } });
    expect(metrics).toMatch(/^gencache_shared_tier_up 1$/m);
    expect(dataOf(await alone.execute(CacheStatsDocument)).cacheStats.sharedTier).toBeNull();
    expect(await (await alone.yoga.fetch('http://yoga/ready')).json()).toMatchObject({ cache: { enabled: true } });
  });
});

describe.skipIf(redisSkipReason !== undefined)('single-flight across instances', () => {
  it('runs the generator once for 40 concurrent requests of a new prompt split between two instances', async () => {
    const env = fleetEnv();
    const a = createHarness({ env, latencyMs: 300 });
    const b = createHarness({ env, latencyMs: 300 });
    await Promise.all([a.connected, b.connected]);
    const [urlA, urlB] = [await serve(a), await serve(b)];
    const input = { prompt: 'wanted by forty' };

    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => postOperation(fetch, i % 2 === 0 ? urlA : urlB, GenerationDocument, { input })),
    );
    const generations = results.map((result) => dataOf(result).generation!);

    expect(a.generator.calls.length + b.generator.calls.length).toBe(1);
    expect(new Set(generations.map((generation) => generation.output)).size).toBe(1);
    expect(generations.filter((generation) => generation.cacheStatus === 'MISS')).toHaveLength(1);
    expect(generations.filter((generation) => generation.cacheStatus !== 'MISS').every((generation) => ['COALESCED', 'HIT', 'SHARED_HIT'].includes(generation.cacheStatus))).toBe(true);
  });

  it('gives the failure of a generation to the waiters on the other instance, and stores nothing', async () => {
    const env = fleetEnv();
    const a = createHarness({ env, latencyMs: 300 });
    const b = createHarness({ env, latencyMs: 300 });
    await Promise.all([a.connected, b.connected]);
    a.generator.behaviour = { kind: 'fail', message: 'no GPU' };
    b.generator.behaviour = { kind: 'fail', message: 'no GPU' };
    const input = { prompt: 'doomed everywhere' };

    const first = a.execute(GenerationDocument, { input });
    await expect.poll(() => a.generator.calls.length).toBe(1);
    const second = await b.execute(GenerationDocument, { input });

    expect(errorCodes(await first)).toEqual(['GENERATION_FAILED']);
    expect(errorCodes(second)).toEqual(['GENERATION_FAILED']);
    expect(b.generator.calls).toHaveLength(0);
    expect(b.service.stats()).toMatchObject({ entries: 0, coalesced: 0, generationErrors: 0 });
  });
});

describe.skipIf(redisSkipReason !== undefined)('a generation abandoned on one instance of a fleet', () => {
  it('is generated by the instance whose client still waits for it, rather than failed there', async () => {
    const env = fleetEnv();
    const a = createHarness({ env: { ...env, ABANDONED_GENERATIONS: 'cancel' } });
    const b = createHarness({ env });
    await Promise.all([a.connected, b.connected]);
    a.generator.behaviour = { kind: 'held', release: new Promise(() => {}) };
    const input = { prompt: 'left on A, wanted on B' };
    const leaving = new AbortController();
    const body = JSON.stringify({ query: print(GenerationDocument), variables: { input } });
    void fetch(await serve(a), { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: leaving.signal }).catch(() => {});
    await expect.poll(() => a.generator.calls.length).toBe(1);
    const waiting = b.execute(GenerationDocument, { input });
    await expect.poll(() => b.service.inFlight().length).toBe(1);

    leaving.abort();
    const generation = dataOf(await waiting).generation!;

    expect(generation.cacheStatus).toBe('MISS');
    expect(b.generator.calls).toHaveLength(1);
    expect(a.service.stats()).toMatchObject({ cancelled: 1, entries: 0 });
    expect(b.service.stats()).toMatchObject({ cancelled: 0, generationErrors: 0, entries: 1 });
  });
});

describe.skipIf(redisSkipReason !== undefined)('cancelGeneration in a fleet', () => {
  it('on the instance that waits, cancels the generation on the one that generates: the waiters of both fail, nothing is stored', async () => {
    const env = { ...fleetEnv(), ADMIN_TOKEN: TOKEN };
    const a = createHarness({ env });
    const b = createHarness({ env });
    await Promise.all([a.connected, b.connected]);
    a.generator.behaviour = { kind: 'held', release: new Promise(() => {}) };
    const input = { prompt: 'cancelled from B' };
    const onA = a.execute(GenerationDocument, { input });
    await expect.poll(() => a.generator.calls.length).toBe(1);
    const onB = b.execute(GenerationDocument, { input });
    await expect.poll(() => b.service.inFlight().map(({ running }) => running)).toEqual([false]);

    const cancelled = await b.execute(CancelGenerationDocument, { key: b.service.inFlight()[0]!.key }, ADMIN);

    expect(dataOf(cancelled).cancelGeneration).toBe(true);
    expect(errorCodes(await onB)).toEqual(['GENERATION_CANCELLED']);
    expect(errorCodes(await onA)).toEqual(['GENERATION_CANCELLED']);
    expect(a.service.inFlight()).toEqual([]);
    expect(b.generator.calls).toHaveLength(0);
    expect(a.service.stats()).toMatchObject({ cancelled: 1, generationErrors: 0, entries: 0 });
    expect(b.service.stats()).toMatchObject({ cancelled: 1, entries: 0 });
  });
});

describe.skipIf(redisSkipReason !== undefined)('administration of the shared tier', () => {
  it('clearCache and evictCacheEntries remove from the shared tier too, and say what they removed there', async () => {
    const env = { ...fleetEnv(), ADMIN_TOKEN: TOKEN };
    const a = createHarness({ env });
    const b = createHarness({ env });
    await Promise.all([a.connected, b.connected]);
    for (const [prompt, model] of [['x', 'sim-1'], ['y', 'sim-2'], ['z', 'sim-1']] as const) {
      dataOf(await a.execute(GenerationDocument, { input: { prompt, model } }));
    }

    const evicted = dataOf(await a.execute(EvictCacheEntriesDocument, { model: 'sim-2' }, ADMIN)).evictCacheEntries;
    const cleared = dataOf(await a.execute(ClearCacheDocument, {}, ADMIN)).clearCache;

    expect(evicted).toMatchObject({ removed: 1, shared: { removed: 1 } });
    expect(cleared).toMatchObject({ removed: 2, shared: { removed: 2 } });
    expect(evicted.shared?.freedBytes).toBe(evicted.freedBytes);
    // Nothing left to share: B generates.
    expect(dataOf(await b.execute(GenerationDocument, { input: { prompt: 'x' } })).generation?.cacheStatus).toBe('MISS');
    const alone = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    expect(dataOf(await alone.execute(ClearCacheDocument, {}, ADMIN)).clearCache.shared).toBeNull();
  });
});

describe.skipIf(redisSkipReason !== undefined)('changes, events and statistics across instances', () => {
  it("clearCache on A empties B's own cache, and a cacheEvents subscriber on B sees A's CLEAR", async () => {
    const env = { ...fleetEnv(), ADMIN_TOKEN: TOKEN };
    const a = createHarness({ env: { ...env, INSTANCE_ID: 'instance-a' } });
    const b = createHarness({ env: { ...env, INSTANCE_ID: 'instance-b' } });
    await Promise.all([a.connected, b.connected]);
    const urlB = await serve(b);
    dataOf(await a.execute(GenerationDocument, { input: { prompt: 'everywhere' } }));
    expect(dataOf(await b.execute(GenerationDocument, { input: { prompt: 'everywhere' } })).generation?.cacheStatus).toBe('SHARED_HIT');
    expect(b.service.stats().entries).toBe(1);
    const events = subscribe('sse', CacheEventsDocument, { url: urlB, ...ADMIN });
    onTestFinished(() => events.close());
    // Live once B's own changes come through: until then, no-op changes are made.
    const live = events.until((result) => result.data?.cacheEvents.type === 'CONFIG');
    let isLive = false;
    void live.then(() => (isLive = true));
    while (!isLive) {
      dataOf(await b.execute(UpdateCacheConfigDocument, { input: {} }, ADMIN));
      await Promise.race([live, new Promise((resolve) => setTimeout(resolve, 50))]);
    }

    dataOf(await a.execute(ClearCacheDocument, {}, ADMIN));
    // A's CLEAR, and B's own that it made on hearing of it, in whichever order they come.
    const clears = new Map<string, { removed?: number | null; reason?: string | null }>();
    await events.until((result) => {
      const event = result.data?.cacheEvents;
      if (event?.type === 'CLEAR') clears.set(event.instance, event);
      return clears.size === 2;
    });

    expect(clears.get('instance-a')).toMatchObject({ removed: 1, reason: 'cleared' });
    expect(clears.get('instance-b')).toMatchObject({ removed: 1, reason: 'cleared on another instance' });
    expect(b.service.stats().entries).toBe(0);
  });

  it('updateCacheConfig and evictCacheEntries on A reach B', async () => {
    const env = { ...fleetEnv(), ADMIN_TOKEN: TOKEN };
    const a = createHarness({ env });
    const b = createHarness({ env });
    await Promise.all([a.connected, b.connected]);
    const made = dataOf(await b.execute(GenerationDocument, { input: { prompt: 'evict me' } })).generation!;
    dataOf(await b.execute(GenerationDocument, { input: { prompt: 'keep me' } }));

    dataOf(await a.execute(UpdateCacheConfigDocument, { input: { maxEntries: 7, defaultTtlSeconds: 60 } }, ADMIN));
    dataOf(await a.execute(EvictCacheEntriesDocument, { keys: [made.key] }, ADMIN));

    await expect.poll(() => b.cache.settings).toMatchObject({ maxEntries: 7, defaultTtlSeconds: 60 });
    await expect.poll(() => b.service.stats().entries).toBe(1);
    expect(b.cache.settings).toEqual(a.cache.settings);
  });

  it('cacheStats(scope: FLEET) on either instance is the sum of both', async () => {
    const env = fleetEnv();
    const a = createHarness({ env });
    const b = createHarness({ env });
    await Promise.all([a.connected, b.connected]);
    dataOf(await a.execute(GenerationDocument, { input: { prompt: 'one on A' } }));
    dataOf(await b.execute(GenerationDocument, { input: { prompt: 'one on B' } }));
    dataOf(await b.execute(GenerationDocument, { input: { prompt: 'one on A' } }));

    // Each instance publishes its statistics every second.
    const fleetOf = async (harness: typeof a) => dataOf(await harness.execute(CacheStatsDocument, { scope: 'FLEET' })).cacheStats;
    await expect.poll(() => fleetOf(a), { timeout: 5000 }).toMatchObject({ instances: 2, generations: 2, hits: 1, sharedHits: 1, entries: 3 });
    await expect.poll(() => fleetOf(b), { timeout: 5000 }).toMatchObject({ instances: 2, generations: 2, hits: 1, sharedHits: 1, entries: 3 });
    expect(dataOf(await a.execute(CacheStatsDocument)).cacheStats).toMatchObject({ instances: 1, generations: 1, entries: 1 });
  });

  it.each(['sse', 'graphql-ws'] as const)('streams the fleet sum with cacheStats(scope: FLEET) over %s', async (transport) => {
    const env = fleetEnv();
    const a = createHarness({ env });
    const b = createHarness({ env });
    await Promise.all([a.connected, b.connected]);
    const url = await serve(a);
    dataOf(await a.execute(GenerationDocument, { input: { prompt: 'on A' } }));
    dataOf(await b.execute(GenerationDocument, { input: { prompt: 'on B' } }));

    const stats = subscribe(transport, CacheStatsLiveDocument, { url, variables: { intervalMs: 200, scope: 'FLEET' } });
    onTestFinished(() => stats.close());
    const both = await stats.until((result) => result.data?.cacheStats.instances === 2);

    expect(both.data?.cacheStats).toMatchObject({ instances: 2, generations: 2, entries: 2 });
  });
});

describe.skipIf(redisSkipReason !== undefined)('listing the shared tier', () => {
  it('lists the entries of the shared tier with tier: SHARED, in the order they were stored, a page at a time', async () => {
    const env = { ...fleetEnv(), ADMIN_TOKEN: TOKEN };
    // A generation takes a few milliseconds: each is stored at its own instant.
    const a = createHarness({ env, latencyMs: 5 });
    const b = createHarness({ env });
    await Promise.all([a.connected, b.connected]);
    const keys: string[] = [];
    for (const prompt of ['first', 'second', 'third']) keys.push(dataOf(await a.execute(GenerationDocument, { input: { prompt } })).generation!.key);

    const local = dataOf(await b.execute(CacheEntriesDocument, {}, ADMIN)).cacheEntries;
    const page1 = dataOf(await b.execute(CacheEntriesDocument, { tier: 'SHARED', first: 2, orderBy: 'LEAST_RECENT' }, ADMIN)).cacheEntries;
    const page2 = dataOf(await b.execute(CacheEntriesDocument, { tier: 'SHARED', first: 2, orderBy: 'LEAST_RECENT', after: page1.pageInfo.endCursor }, ADMIN)).cacheEntries;

    expect(local.totalCount).toBe(0);
    expect(page1.totalCount).toBe(3);
    expect([...page1.edges, ...page2.edges].map((edge) => edge.node.key)).toEqual(keys);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    expect(page2.pageInfo.hasNextPage).toBe(false);
    expect(page1.edges[0]?.node).toMatchObject({ prompt: 'first', model: 'sim-1', hits: 0 });
  });

  it('refuses tier: SHARED without a shared tier, as BAD_USER_INPUT', async () => {
    const alone = createHarness({ env: { ADMIN_TOKEN: TOKEN } });

    const result = await alone.execute(CacheEntriesDocument, { tier: 'SHARED' }, ADMIN);

    expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
    expect(result.errors?.[0]?.message).toBe('tier SHARED: there is no shared tier (REDIS_URL is not set)');
  });
});
