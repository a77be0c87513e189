import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CacheStatsDocument, GenerationDocument } from '../src/generated/graphql.js';
import { dataOf, postOperation, type OperationResult } from './helpers/harness.js';
import { fleetEnv, freePort, REDIS_URL, redisSkipReason, startRedisServer } from './helpers/redis.js';
import { logLine, logLines, serverEnv, startServer, type ServerProcess } from './helpers/server-process.js';

/**
 * The fleet as it runs: real server processes (`node --import tsx src/index.ts`) on ports of
 * their own, sharing a real Redis. test/shared-tier.test.ts shows the same features in one
 * process; here a holder dies with SIGKILL and Redis itself goes away and comes back.
 */

const OUTAGE = 'shared tier: Redis does not answer; serving from this instance alone until it does';
const RECOVERY = 'shared tier: Redis answers again';
/** How long a poll waits for a process to notice something, at most: a bound, not an expectation. */
const NOTICE = { timeout: 15_000, interval: 100 };

interface Instance {
  readonly process: ServerProcess;
  readonly url: string;
}

/**
 * Every process a test starts, which must all have exited when it has finished. Checked last:
 * onTestFinished hooks run in reverse order of registration, and this one is registered first.
 */
function expectNothingLeftRunning(): ServerProcess[] {
  const started: ServerProcess[] = [];
  onTestFinished(() => {
    const running = started.filter((child) => child.exitCode === null && child.signalCode === null);
    expect(running.map((child) => child.spawnargs.join(' '))).toEqual([]);
    for (const child of started) expect(() => process.kill(child.pid!, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });
  return started;
}

async function startInstance(started: ServerProcess[], env: Record<string, string>): Promise<Instance> {
  const child = startServer(serverEnv(env));
  started.push(child);
  const { url } = await logLine(child, 'gencache listening');
  return { process: child, url: url! };
}

const statsOf = async ({ url }: Instance) => dataOf(await postOperation(fetch, url, CacheStatsDocument)).cacheStats;

const generate = (instance: Instance, prompt: string) => postOperation(fetch, instance.url, GenerationDocument, { input: { prompt } });

/** The keys of a Redis matching a pattern, walked with SCAN. */
async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  for await (const keys of redis.scanStream({ match: pattern, count: 500 }) as AsyncIterable<string[]>) found.push(...keys);
  return found;
}

describe.skipIf(redisSkipReason !== undefined)('a fleet of server processes sharing Redis', () => {
  it('runs the generator once in total for 40 concurrent requests of a new prompt split between two processes', async () => {
    const started = expectNothingLeftRunning();
    const env = { ...fleetEnv(), GENERATOR_LATENCY_MS: '300' };
    const [a, b] = await Promise.all([startInstance(started, env), startInstance(started, env)]);

    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => generate(i % 2 === 0 ? a : b, 'wanted by forty, across processes')));
    const generations = results.map((result) => dataOf(result).generation!);
    const [statsA, statsB] = await Promise.all([statsOf(a), statsOf(b)]);

    expect(results.map((result) => result.status)).toEqual(results.map(() => 200));
    expect(statsA.generations + statsB.generations).toBe(1);
    expect(new Set(generations.map((generation) => generation.output)).size).toBe(1);
    expect(new Set(generations.map((generation) => generation.key)).size).toBe(1);
    const statuses = generations.map((generation) => generation.cacheStatus);
    expect(statuses.filter((status) => status === 'MISS')).toHaveLength(1);
    expect(statuses.filter((status) => !['MISS', 'COALESCED', 'HIT', 'SHARED_HIT'].includes(status))).toEqual([]);
  });

  it('lets a waiting process generate once the lock of a holder killed with SIGKILL mid-generation lapses', async () => {
    const started = expectNothingLeftRunning();
    const fleet: Record<string, string> = { ...fleetEnv(), CACHE_LOCK_TTL_MS: '1000' };
    const namespace = fleet['CACHE_NAMESPACE']!;
    // A would take a minute: it is killed long before.
    const [a, b] = await Promise.all([
      startInstance(started, { ...fleet, GENERATOR_LATENCY_MS: '60000' }),
      startInstance(started, { ...fleet, GENERATOR_LATENCY_MS: '200' }),
    ]);
    const redis = new Redis(REDIS_URL);
    onTestFinished(() => void redis.disconnect());
    const prompt = 'its first maker dies';

    const toA = generate(a, prompt).then(
      () => 'answered',
      (error: unknown) => error,
    );
    // A generates only once it holds the lock.
    await expect.poll(async () => (await statsOf(a)).inFlight, NOTICE).toBe(1);
    const [lock] = await scanKeys(redis, `${namespace}lock:*`);
    const tokenOfA = await redis.get(lock!);
    const toB = generate(b, prompt);
    // B has looked the key up and missed: it is claiming or waiting, the lock being A's.
    await expect.poll(async () => (await statsOf(b)).misses, NOTICE).toBe(1);
    expect(await redis.get(lock!)).toBe(tokenOfA);
    a.process.kill('SIGKILL');
    const [, signal] = await a.process.exited;
    // Still A's once A is dead: B can take the key only after this lock has lapsed.
    const heldByTheDead = await redis.get(lock!);

    const answer = await toB;
    const generation = dataOf(answer).generation!;

    expect(signal).toBe('SIGKILL');
    expect(heldByTheDead).toBe(tokenOfA);
    expect(await toA).toBeInstanceOf(TypeError); // fetch failed: the connection was cut, not left hanging
    expect(answer.status).toBe(200);
    expect(lock).toBe(`${namespace}lock:${generation.key}`);
    expect(generation).toMatchObject({ prompt, cacheStatus: 'MISS' });
    expect(await statsOf(b)).toMatchObject({ generations: 1, generationErrors: 0, coalesced: 0, inFlight: 0 });
    // B released the lock it took after the lapse, and stored what it made.
    expect(await redis.exists(lock!)).toBe(0);
    expect(await redis.exists(`${namespace}entry:${generation.key}`)).toBe(1);
  });

  it('serves every request while its Redis is stopped and started again, and shares again once it is back', async () => {
    const started = expectNothingLeftRunning();
    const port = await freePort();
    const firstRedis = await startRedisServer(port);
    started.push(firstRedis);
    const env = {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      CACHE_NAMESPACE: 'gencache:test:outage:',
      REDIS_COMMAND_TIMEOUT_MS: '2000',
      GENERATOR_LATENCY_MS: '20',
      // Longer than the test may run: a request held until another instance's lock lapses (its
      // announcement lost with the connection) fails the test instead of only slowing it.
      CACHE_LOCK_TTL_MS: '60000',
    };
    const [a, b] = await Promise.all([startInstance(started, env), startInstance(started, env)]);
    expect([(await statsOf(a)).sharedTier, (await statsOf(b)).sharedTier]).toEqual([true, true]);

    const load = keepAsking([a, b]);
    await expect.poll(() => load.answered(), NOTICE).toBeGreaterThanOrEqual(40);
    firstRedis.kill('SIGKILL');
    await firstRedis.exited;
    await Promise.all([logLine(a.process, OUTAGE), logLine(b.process, OUTAGE)]);
    await expect.poll(async () => [(await statsOf(a)).sharedTier, (await statsOf(b)).sharedTier], NOTICE).toEqual([false, false]);
    // Served during the outage, from each instance alone.
    const atOutage = load.answered();
    await expect.poll(() => load.answered(), NOTICE).toBeGreaterThanOrEqual(atOutage + 40);
    started.push(await startRedisServer(port));
    await expect.poll(async () => [(await statsOf(a)).sharedTier, (await statsOf(b)).sharedTier], NOTICE).toEqual([true, true]);
    await Promise.all([logLine(a.process, RECOVERY), logLine(b.process, RECOVERY)]);
    const results = await load.stop();

    expect(results.filter((result) => result.status !== 200 || result.errors !== undefined || !result.data)).toEqual([]);
    for (const instance of [a, b]) {
      expect(logLines(instance.process, OUTAGE)).toHaveLength(1);
      expect(logLines(instance.process, RECOVERY)).toHaveLength(1);
    }
    // The shared tier is used again, without a restart: what A makes now, B finds there.
    const generationsOfB = (await statsOf(b)).generations;
    const made = dataOf(await generate(a, 'made after the return of Redis')).generation!;
    const found = dataOf(await generate(b, 'made after the return of Redis')).generation!;
    expect(made.cacheStatus).toBe('MISS');
    expect(found).toMatchObject({ cacheStatus: 'SHARED_HIT', key: made.key, output: made.output });
    expect((await statsOf(b)).generations).toBe(generationsOfB);
  });
});

/**
 * Requests to every instance at once, each a new prompt or one of a few repeated ones, asked of
 * all instances together (so that they also wait on each other's generations), until stopped.
 */
function keepAsking(instances: readonly Instance[], workers = 4) {
  const results: Pick<OperationResult<unknown>, 'status' | 'errors' | 'data'>[] = [];
  let stopping = false;
  // A request that fails at the socket is recorded as a failure, not thrown.
  const ask = (instance: Instance, prompt: string) =>
    generate(instance, prompt).then(
      (result) => ({ status: result.status, errors: result.errors, data: result.data?.generation }),
      (error: unknown) => ({ status: 0, errors: [{ message: String(error) }], data: undefined }),
    );
  const work = async (worker: number) => {
    for (let round = 0; !stopping; round++) {
      const prompt = round % 2 === 0 ? `new from worker ${worker}, round ${round}` : `repeated ${round % 5}`;
      results.push(...(await Promise.all(instances.map((instance) => ask(instance, prompt)))));
    }
  };
  const running = Promise.all(Array.from({ length: workers }, (_, worker) => work(worker)));
  return {
    answered: () => results.length,
    stop: async () => {
      stopping = true;
      await running;
      return results;
    },
  };
}
