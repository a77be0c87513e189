import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CacheStatsDocument, GenerationDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, postOperation } from './helpers/harness.js';
import { logLine, parseLog, serverEnv, startProcess, startServer } from './helpers/server-process.js';

describe('the server process', () => {
  it('exits with code 1 and names PORT on stderr when PORT is invalid', async () => {
    const child = startServer({ ...process.env, PORT: 'abc' });

    const [code] = await child.exited;

    expect(code).toBe(1);
    expect(child.stderr()).toMatch(/\bPORT: /);
  });

  it('exits with code 1 and a log line naming the address when the port is in use', async () => {
    const occupant = createServer();
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve));
    const { port } = occupant.address() as AddressInfo;
    try {
      const child = startServer({ ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' });

      const refusal = await logLine(child, 'cannot listen');
      const [code] = await child.exited;

      expect(code).toBe(1);
      expect(refusal).toMatchObject({ level: 60, address: `127.0.0.1:${port}`, err: { code: 'EADDRINUSE' } });
      expect(child.lines.map(parseLog).map((log) => log?.msg)).not.toContain('gencache listening');
    } finally {
      occupant.close();
    }
  });

  it('serves generations on the URL it logs and exits 0 on SIGTERM', async () => {
    const child = startServer(serverEnv());

    const listening = await logLine(child, 'gencache listening');
    expect(listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    const adminWarning = await logLine(
      child,
      'ADMIN_TOKEN is not set: the admin surface is open to loopback clients only, without a token',
    );
    expect(adminWarning.level).toBe(40);

    const input = { prompt: 'hello from a real socket', parameters: { maxTokens: 3 } };
    const result = await postOperation(fetch, listening.url!, GenerationDocument, { input });
    const generation = dataOf(result).generation;
    // The simulated generator's output is a function of the key alone: the in-process server must agree.
    const expected = dataOf(await createHarness().execute(GenerationDocument, { input })).generation;

    expect(result.status).toBe(200);
    expect(generation).toMatchObject({
      prompt: 'hello from a real socket',
      model: 'sim-1',
      contentType: 'text/plain',
      cacheStatus: 'MISS',
      key: expected?.key,
      output: expected?.output,
    });

    child.kill('SIGTERM');
    const [code, signal] = await child.exited;

    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(child.lines.map(parseLog).map((log) => log?.msg)).toEqual(
      expect.arrayContaining(['gencache listening', 'shutting down', 'stopped']),
    );
  });

  // A terminal's Ctrl-C and a supervisor signal the whole process group: npm and node both get
  // the signal, and npm forwards it to node once more.
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'under npm start, %s to the process group lets the request in flight finish, and npm exits 0',
    async (groupSignal) => {
      const child = startProcess('npm', ['start', '--silent'], serverEnv({ GENERATOR_LATENCY_MS: '1500' }), true);
      const listening = await logLine(child, 'gencache listening');
      const inFlight = postOperation(fetch, listening.url!, GenerationDocument, { input: { prompt: `in flight at ${groupSignal}` } });
      // Signalled only once the generation is under way.
      await expect.poll(async () => dataOf(await postOperation(fetch, listening.url!, CacheStatsDocument)).cacheStats.inFlight, { interval: 50 }).toBe(1);

      process.kill(-child.pid!, groupSignal);
      const [result, [code, signal]] = await Promise.all([inFlight, child.exited]);

      expect(result.status).toBe(200);
      expect(dataOf(result).generation).toMatchObject({ prompt: `in flight at ${groupSignal}`, cacheStatus: 'MISS' });
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      const messages = child.lines.map(parseLog).map((log) => log?.msg);
      expect(messages).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
      expect(messages.indexOf('stopped')).toBeGreaterThan(messages.indexOf('shutting down'));
    },
    120_000,
  );
});
