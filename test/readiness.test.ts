import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { GenerationDocument } from '../src/generated/graphql.js';
import { createLogger } from '../src/logger.js';
import { testConfig } from './helpers/config.js';
import { createHarness, dataOf, postOperation } from './helpers/harness.js';
import { startOpenAIServer, unreachableBaseUrl, type FakeOpenAIServer } from './helpers/openai-server.js';

describe('/ready', () => {
  let upstream: FakeOpenAIServer | undefined;
  afterEach(async () => {
    await upstream?.close();
    upstream = undefined;
  });

  const openaiApp = (baseUrl: string, env: Record<string, string> = {}) =>
    createApp(testConfig({ GENERATOR: 'openai', OPENAI_BASE_URL: baseUrl, OPENAI_MODEL: 'test-model', ...env }), {
      logger: createLogger('silent'),
      defaultMetrics: false,
    }).yoga;

  it('is ready with the simulated generator', async () => {
    const response = await createHarness().yoga.fetch('http://yoga/ready');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ready', generator: { id: 'simulated/1', ready: true } });
  });

  it('is ready when the OpenAI-compatible server lists its models', async () => {
    upstream = await startOpenAIServer();
    const response = await openaiApp(upstream.baseUrl).fetch('http://yoga/ready');

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ready', generator: { ready: true } });
    expect(upstream.requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /v1/models']);
  });

  it('stays ready while that server fails, reporting why: hits are still served', async () => {
    upstream = await startOpenAIServer();
    const yoga = openaiApp(upstream.baseUrl);
    const input = { prompt: 'made while the upstream was up' };
    dataOf(await postOperation(yoga.fetch.bind(yoga), 'http://yoga/graphql', GenerationDocument, { input }));
    upstream.behaviour = { kind: 'status', status: 502, body: 'bad gateway' };

    const response = await yoga.fetch('http://yoga/ready');
    const hit = dataOf(await postOperation(yoga.fetch.bind(yoga), 'http://yoga/graphql', GenerationDocument, { input })).generation;

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ready', generator: { ready: false, error: expect.stringContaining('502') } });
    expect(hit?.cacheStatus).toBe('HIT');
  });

  it('stays ready when that server cannot be reached', async () => {
    const response = await openaiApp(await unreachableBaseUrl()).fetch('http://yoga/ready');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ready', generator: { ready: false } });
  });

  it.each([
    ['answers with an error', async () => (upstream = await startOpenAIServer({ kind: 'status', status: 502, body: 'bad gateway' })).baseUrl],
    ['cannot be reached', unreachableBaseUrl],
  ])('with READY_REQUIRES_GENERATOR=1, is unavailable (503) when that server %s', async (_case, baseUrl) => {
    const response = await openaiApp(await baseUrl(), { READY_REQUIRES_GENERATOR: '1' }).fetch('http://yoga/ready');

    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ status: 'unavailable', generator: { ready: false } });
  });

  it('with READY_REQUIRES_GENERATOR=1, is ready while the generator is', async () => {
    upstream = await startOpenAIServer();
    expect((await openaiApp(upstream.baseUrl, { READY_REQUIRES_GENERATOR: '1' }).fetch('http://yoga/ready')).status).toBe(200);
  });

  it('reports the generator on /metrics as gencache_generator_up, 1 then 0 when the upstream fails', async () => {
    upstream = await startOpenAIServer();
    const yoga = openaiApp(upstream.baseUrl);
    const up = async () => /^gencache_generator_up (\d)$/m.exec(await (await yoga.fetch('http://yoga/metrics')).text())?.[1];

    expect(await up()).toBe('1');
    upstream.behaviour = { kind: 'status', status: 502, body: 'bad gateway' };
    expect(await up()).toBe('0');
    expect((await yoga.fetch('http://yoga/ready')).status).toBe(200);
  });

  it('leaves liveness at /health to Yoga', async () => {
    expect((await createHarness().yoga.fetch('http://yoga/health')).status).toBe(200);
  });
});
