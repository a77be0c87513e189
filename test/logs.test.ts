import { print } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { CacheEventsDocument, CacheStatsLiveDocument, ClearCacheDocument, GenerationDocument, UpdateCacheConfigDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, errorCodes, postOperation, serve } from './helpers/harness.js';
import { captureLogs } from './helpers/logs.js';
import { subscribe } from './helpers/subscribers.js';

const TOKEN = 'an-admin-token-of-some-length';
const ADMIN = { authorization: `Bearer ${TOKEN}` };

/** The access log's lines among those logged. */
const accessLines = (lines: Record<string, unknown>[]) => lines.filter((line) => line['msg'] === 'request');

describe('the access log', () => {
  it('writes one info line a request, on the fast lane and through Yoga, with method, path, operation, status, duration and cache statuses', async () => {
    const { logger, lines } = captureLogs('info');
    const harness = createHarness({ logger });
    const url = await serve(harness);
    const lane = vi.spyOn(harness.fastLane!, 'serve');
    const input = { prompt: 'logged' };

    dataOf(await postOperation(fetch, url, GenerationDocument, { input }));
    dataOf(await postOperation(fetch, url, GenerationDocument, { input }));
    // A GET is Yoga's: its query string carries the document and the variables.
    const search = new URLSearchParams({ query: print(GenerationDocument), variables: JSON.stringify({ input }) });
    expect((await fetch(`${url}?${search}`)).status).toBe(200);
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ nope }' }) });
    await expect.poll(() => accessLines(lines).length).toBe(4);

    expect(await Promise.all(lane.mock.results.map((result) => result.value))).toEqual([true, true, true]);
    expect(accessLines(lines)).toEqual([
      expect.objectContaining({ level: 30, method: 'POST', path: '/graphql', operation: 'Generation', status: 200, cache: { MISS: 1 } }),
      expect.objectContaining({ level: 30, method: 'POST', path: '/graphql', operation: 'Generation', status: 200, cache: { HIT: 1 } }),
      expect.objectContaining({ level: 30, method: 'GET', path: '/graphql', operation: 'Generation', status: 200, cache: { HIT: 1 } }),
      expect.objectContaining({ level: 30, method: 'POST', path: '/graphql', status: 200, errors: ['GRAPHQL_VALIDATION_FAILED'] }),
    ]);
    for (const line of accessLines(lines)) expect(line['durationMs']).toEqual(expect.any(Number));
  });

  it('writes a subscription\'s line when it ends', async () => {
    const { logger, lines } = captureLogs('info');
    const harness = createHarness({ logger });
    const url = await serve(harness);
    const stats = subscribe('sse', CacheStatsLiveDocument, { url, variables: { intervalMs: 100 } });
    await stats.next();
    await stats.next();
    expect(accessLines(lines)).toEqual([]);

    await stats.close();
    await expect.poll(() => accessLines(lines)).toEqual([expect.objectContaining({ method: 'POST', operation: 'CacheStatsLive', status: 200 })]);
    expect(accessLines(lines)[0]!['durationMs']).toBeGreaterThanOrEqual(100);
  });

  it('never logs prompts, outputs, variables or credentials', async () => {
    const { logger, lines } = captureLogs('trace');
    const harness = createHarness({ logger, env: { ADMIN_TOKEN: TOKEN } });
    const url = await serve(harness);
    const prompt = 'a prompt nobody else may read';

    const { output } = dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt } }, ADMIN)).generation!;
    const search = new URLSearchParams({ query: print(GenerationDocument), variables: JSON.stringify({ input: { prompt } }) });
    await fetch(`${url}?${search}`, { headers: { authorization: 'Bearer a-wrong-token-of-some-length' } });
    dataOf(await postOperation(fetch, url, ClearCacheDocument, {}, ADMIN));
    await expect.poll(() => accessLines(lines).length).toBe(3);

    const logged = JSON.stringify(lines);
    for (const secret of [prompt, encodeURIComponent(prompt), output, TOKEN, 'a-wrong-token']) expect(logged).not.toContain(secret);
  });

  it('writes no line a request below the info level', async () => {
    const { logger, lines } = captureLogs('warn');
    const harness = createHarness({ logger });
    const url = await serve(harness);

    dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'quiet' } }));
    await new Promise((resolve) => setTimeout(resolve, 20));

    expect(lines).toEqual([]);
  });
});

describe('refused admin attempts', () => {
  it('are logged at warn, with the code, the fields refused and the client address: UNAUTHENTICATED', async () => {
    const { logger, lines } = captureLogs('warn');
    const harness = createHarness({ logger, env: { ADMIN_TOKEN: TOKEN } });
    const url = await serve(harness);

    expect(errorCodes(await postOperation(fetch, url, ClearCacheDocument, {}, { authorization: 'Bearer not-the-token-at-all' }))).toEqual(['UNAUTHENTICATED']);

    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'admin access refused',
        code: 'UNAUTHENTICATED',
        fields: ['clearCache'],
        operation: 'ClearCache',
        method: 'POST',
        path: '/graphql',
        remoteAddress: '127.0.0.1',
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain('not-the-token-at-all');
  });

  it('are logged at warn over graphql-ws and on the REST endpoints too', async () => {
    const { logger, lines } = captureLogs('warn');
    const harness = createHarness({ logger, env: { ADMIN_TOKEN: TOKEN } });
    const url = await serve(harness);

    const events = subscribe('graphql-ws', CacheEventsDocument, { url, authorization: 'Bearer not-the-token-at-all' });
    expect((await events.next()).errors?.map((error) => error.extensions?.['code'])).toEqual(['UNAUTHENTICATED']);
    await events.close();
    const rest = await fetch(url.replace(/\/graphql$/, '/api/cache/clear?x=1'), { method: 'POST', headers: { 'content-type': 'application/json' } });

    expect(rest.status).toBe(401);
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, msg: 'admin access refused', code: 'UNAUTHENTICATED', fields: ['cacheEvents'], operation: 'CacheEvents', method: 'GET', path: '/graphql' }),
      expect.objectContaining({ level: 40, msg: 'admin access refused', code: 'UNAUTHENTICATED', fields: ['clearCache'], method: 'POST', path: '/api/cache/clear', remoteAddress: '127.0.0.1' }),
    ]);
  });

  it('are logged at warn: FORBIDDEN, without ADMIN_TOKEN, from a client that is not this machine', async () => {
    const { logger, lines } = captureLogs('warn');
    const harness = createHarness({ logger });

    // Yoga's fetch has no client address: not loopback.
    expect(errorCodes(await harness.execute(UpdateCacheConfigDocument, { input: { maxEntries: 5 } }))).toEqual(['FORBIDDEN']);

    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'admin access refused', code: 'FORBIDDEN', fields: ['updateCacheConfig'] })]);
  });
});

describe('configuration changes', () => {
  it('are one line each, with the settings before; a change that changes nothing is none', async () => {
    const { logger, lines } = captureLogs('info');
    const harness = createHarness({ logger, env: { ADMIN_TOKEN: TOKEN } });

    dataOf(await harness.execute(UpdateCacheConfigDocument, { input: { maxEntries: 5 } }, ADMIN));
    dataOf(await harness.execute(UpdateCacheConfigDocument, { input: { maxEntries: 5 } }, ADMIN));

    expect(lines.filter((line) => line['msg'] === 'cache configuration changed')).toEqual([
      expect.objectContaining({ level: 30, cache: expect.objectContaining({ maxEntries: 5 }), previous: expect.objectContaining({ maxEntries: 1000 }) }),
    ]);
  });
});

describe('LOG_LEVEL', () => {
  it.each([
    ['DEBUG', 'debug'],
    ['Warn', 'warn'],
    ['info', 'info'],
  ])('is read case-insensitively: %s is %s', (value, level) => {
    expect(loadConfig({ LOG_LEVEL: value }).logLevel).toBe(level);
  });
});
