import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MemoryStore } from '../src/cache/memory-store.js';
import { GencacheError } from '../src/errors.js';
import { createApp } from '../src/app.js';
import type { GenerationRequest, JsonObject } from '../src/generation/generator.js';
import { DEFAULT_OPENAI_MAX_TOKENS, OpenAIGenerator, type OpenAIGeneratorOptions } from '../src/generation/openai-generator.js';
import { createLogger } from '../src/logger.js';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { CacheStatsDocument, GenerationDocument, GenerationStreamDocument, type GenerationStreamSubscription } from '../src/generated/graphql.js';
import { testConfig } from './helpers/config.js';
import { dataOf, errorCodes, postOperation, serve } from './helpers/harness.js';
import { captureLogs } from './helpers/logs.js';
import { DEFAULT_CONTENT, startOpenAIServer, unreachableBaseUrl, type FakeOpenAIServer } from './helpers/openai-server.js';
import { subscribe, type Subscriber, type SubscriptionResult } from './helpers/subscribers.js';

let server: FakeOpenAIServer;

beforeEach(async () => {
  server = await startOpenAIServer();
});

afterEach(async () => {
  await server.close();
});

const generatorFor = (options: Partial<OpenAIGeneratorOptions> = {}) =>
  new OpenAIGenerator({ baseUrl: server.baseUrl, model: 'test-model', ...options });

const request = (prompt = 'Say hello', parameters: JsonObject = {}): GenerationRequest => ({
  key: 'key-of-the-request',
  prompt,
  messages: [{ role: 'USER', content: prompt }],
  chat: false,
  model: 'test-model',
  parameters,
});

const neverAborted = () => new AbortController().signal;

/** The value a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

const onlyRequest = () => {
  expect(server.requests).toHaveLength(1);
  return server.requests[0]!;
};

describe('OpenAIGenerator request', () => {
  it('POSTs to the chat completions endpoint under the base URL', async () => {
    await generatorFor().generate(request(), neverAborted());

    const { method, path } = onlyRequest();
    expect({ method, path }).toEqual({ method: 'POST', path: '/v1/chat/completions' });
  });

  it.each(['/', '//'])('ignores a trailing %s on the base URL', async (suffix) => {
    await generatorFor({ baseUrl: `${server.baseUrl}${suffix}` }).generate(request(), neverAborted());

    expect(onlyRequest().path).toBe('/v1/chat/completions');
  });

  it('sends the model, the prompt as one user message and stream false as JSON', async () => {
    await generatorFor().generate(request('Write a haiku'), neverAborted());

    const { headers, body } = onlyRequest();
    expect(headers['content-type']).toBe('application/json');
    expect(body).toEqual({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Write a haiku' }],
      stream: false,
    });
  });

  it("sends a chat's messages in order, their roles lower-cased", async () => {
    const messages = [
      { role: 'SYSTEM', content: 'Be brief.' },
      { role: 'USER', content: 'Hi' },
      { role: 'ASSISTANT', content: 'Hello.' },
      { role: 'USER', content: 'Bye' },
    ] as const;
    await generatorFor().generate({ ...request('Bye'), messages, chat: true }, neverAborted());

    expect(onlyRequest().body).toMatchObject({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Bye' },
      ],
    });
  });

  it('sends the parameters with camelCase names in snake_case', async () => {
    await generatorFor().generate(request('p', { temperature: 0.2, maxTokens: 64, topP: 0.9 }), neverAborted());

    expect(onlyRequest().body).toEqual({
      model: 'test-model',
      messages: [{ role: 'user', content: 'p' }],
      stream: false,
      temperature: 0.2,
      max_tokens: 64,
      top_p: 0.9,
    });
  });

  it('sends Authorization: Bearer with the API key when one is set', async () => {
    await generatorFor({ apiKey: 'sk-test-123' }).generate(request(), neverAborted());

    expect(onlyRequest().headers['authorization']).toBe('Bearer sk-test-123');
  });

  it.each([
    ['no API key', undefined],
    ['an empty API key', ''],
  ])('sends no Authorization header with %s', async (_name, apiKey) => {
    await generatorFor({ apiKey }).generate(request(), neverAborted());

    expect(onlyRequest().headers).not.toHaveProperty('authorization');
  });
});

describe('OpenAIGenerator output', () => {
  it('is choices[0].message.content as text/plain', async () => {
    server.behaviour = { kind: 'answer', content: 'Hello there!' };

    const output = await generatorFor().generate(request(), neverAborted());

    expect(output).toEqual({ output: 'Hello there!', contentType: 'text/plain', usage: { promptTokens: 3, completionTokens: 5 } });
  });
});

describe('OpenAIGenerator failures', () => {
  it.each([500, 429, 404])('a %i answer rejects with GENERATION_FAILED naming the status', async (status) => {
    server.behaviour = { kind: 'status', status, body: '{"error":{"message":"upstream trouble"}}' };

    const error = await rejection(generatorFor().generate(request(), neverAborted()));

    expect(error).toBeInstanceOf(GencacheError);
    expect(error).toMatchObject({ code: 'GENERATION_FAILED', message: expect.stringMatching(new RegExp(`\\b${status}\\b`)) });
  });

  it('keeps the upstream body of a non-2xx answer out of the message, in its cause for the log', async () => {
    server.behaviour = { kind: 'status', status: 500, body: 'model is loading' };

    const error = await rejection(generatorFor().generate(request(), neverAborted()));

    expect((error as Error).message).not.toContain('model is loading');
    expect((error as Error).message).not.toContain(server.baseUrl);
    expect(((error as Error).cause as Error).message).toContain('model is loading');
  });

  it('a 200 answer that is not JSON rejects with GENERATION_FAILED naming the status', async () => {
    server.behaviour = { kind: 'malformed' };

    const error = await rejection(generatorFor().generate(request(), neverAborted()));

    expect(error).toBeInstanceOf(GencacheError);
    expect(error).toMatchObject({ code: 'GENERATION_FAILED', message: expect.stringMatching(/\b200\b.*not JSON/) });
  });

  it('a 200 answer whose body is cut off rejects with GENERATION_FAILED naming the status', async () => {
    server.behaviour = { kind: 'cut-off' };

    const error = await rejection(generatorFor().generate(request(), neverAborted()));

    expect(error).toBeInstanceOf(GencacheError);
    expect(error).toMatchObject({ code: 'GENERATION_FAILED', message: expect.stringMatching(/\b200\b.*cut off/) });
  });

  it('an answer of exactly maxBodyBytes is read, and one a byte longer rejects with RESPONSE_TOO_LARGE', async () => {
    const body = JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'é'.repeat(1000) } }] });
    server.behaviour = { kind: 'status', status: 200, body };
    const length = Buffer.byteLength(body);

    await expect(generatorFor({ maxBodyBytes: length }).generate(request(), neverAborted())).resolves.toMatchObject({ output: 'é'.repeat(1000) });
    const error = await rejection(generatorFor({ maxBodyBytes: length - 1 }).generate(request(), neverAborted()));

    expect(error).toMatchObject({ code: 'RESPONSE_TOO_LARGE', message: `openai generator: upstream answered 200 with a body over ${length - 1} bytes` });
  });

  it('an upstream body without end rejects with RESPONSE_TOO_LARGE once past maxBodyBytes, and the connection is closed', async () => {
    server.behaviour = { kind: 'endless' };

    const error = await rejection(generatorFor({ maxBodyBytes: 1 << 20 }).generate(request(), neverAborted()));

    expect(error).toMatchObject({ code: 'RESPONSE_TOO_LARGE' });
    await expect.poll(() => onlyRequest().abandoned).toBe(true);
  });

  it('a 200 answer without choices rejects with GENERATION_FAILED naming the status', async () => {
    server.behaviour = { kind: 'no-choices' };

    const error = await rejection(generatorFor().generate(request(), neverAborted()));

    expect(error).toBeInstanceOf(GencacheError);
    expect(error).toMatchObject({
      code: 'GENERATION_FAILED',
      message: expect.stringMatching(/\b200\b.*choices\[0\]\.message\.content/),
    });
  });

  it.each([
    ['an empty choices list', { choices: [] }],
    ['a choice without a message', { choices: [{ index: 0, finish_reason: 'stop' }] }],
    ['a null content', { choices: [{ index: 0, message: { role: 'assistant', content: null } }] }],
    ['a non-string content', { choices: [{ index: 0, message: { role: 'assistant', content: 42 } }] }],
    ['a JSON array', []],
    ['JSON null', null],
  ])('a 200 answer with %s rejects with GENERATION_FAILED', async (_name, body) => {
    server.behaviour = { kind: 'status', status: 200, body: JSON.stringify(body) };

    const error = await rejection(generatorFor().generate(request(), neverAborted()));

    expect(error).toBeInstanceOf(GencacheError);
    expect(error).toMatchObject({ code: 'GENERATION_FAILED', message: expect.stringMatching(/\b200\b/) });
  });

  it('an unreachable base URL rejects with GENERATION_FAILED', async () => {
    const baseUrl = await unreachableBaseUrl();

    const error = await rejection(generatorFor({ baseUrl }).generate(request(), neverAborted()));

    expect(error).toBeInstanceOf(GencacheError);
    expect(error).toMatchObject({ code: 'GENERATION_FAILED', message: 'openai generator: could not reach the upstream server' });
    expect(((error as Error).cause as Error).message).toContain(`could not reach ${baseUrl}/chat/completions`);
  });
});

describe('OpenAIGenerator abort', () => {
  it('aborting while the server holds the answer rejects with the signal reason', async () => {
    server.behaviour = { kind: 'hold' };
    const controller = new AbortController();
    const reason = { why: 'the caller gave up' };

    const generation = rejection(generatorFor().generate(request(), controller.signal));
    await server.until((s) => s.requests.length === 1);
    controller.abort(reason);

    // The server never answers, so only the abort can settle the call.
    expect(await generation).toBe(reason);
  });

  it('aborting while the server holds the answer closes the connection', async () => {
    server.behaviour = { kind: 'hold' };
    const controller = new AbortController();

    const generation = rejection(generatorFor().generate(request(), controller.signal));
    await server.until((s) => s.requests.length === 1);
    controller.abort(new Error('stop'));
    await generation;

    await server.until((s) => s.requests[0]!.abandoned);
    expect(onlyRequest().abandoned).toBe(true);
  });

  it('a signal aborted before the call rejects with its reason and sends nothing', async () => {
    const reason = new GencacheError('GENERATION_TIMEOUT', 'already too late');

    const error = await rejection(generatorFor().generate(request(), AbortSignal.abort(reason)));

    expect(error).toBe(reason);
    expect(server.requests).toHaveLength(0);
  });
});

describe('the openai generator behind the GraphQL API', () => {
  const buildApp = () => {
    const config = testConfig({ GENERATOR: 'openai', OPENAI_BASE_URL: server.baseUrl, OPENAI_MODEL: 'test-model' });
    const { yoga } = createApp(config, { logger: createLogger('silent'), defaultMetrics: false });
    return (variables: { input: { prompt?: string; messages?: { role: 'SYSTEM' | 'USER' | 'ASSISTANT'; content: string }[]; parameters?: unknown } }) =>
      postOperation(yoga.fetch.bind(yoga), 'http://yoga/graphql', GenerationDocument, variables);
  };

  it('serves the upstream content once generated, then from the cache', async () => {
    server.behaviour = { kind: 'answer', content: 'Bonjour!' };
    const execute = buildApp();
    const variables = { input: { prompt: 'Say hello in French' } };

    const first = dataOf(await execute(variables)).generation;
    const second = dataOf(await execute(variables)).generation;

    expect(first).toMatchObject({
      output: 'Bonjour!',
      contentType: 'text/plain',
      model: 'test-model',
      prompt: 'Say hello in French',
      cacheStatus: 'MISS',
    });
    expect(second).toMatchObject({ output: 'Bonjour!', key: first?.key, cacheStatus: 'HIT' });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.body).toMatchObject({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Say hello in French' }],
    });
  });

  it('sends the messages of a chat input with lower-case roles; a prompt and its one USER message are one generation', async () => {
    server.behaviour = { kind: 'answer', content: 'Salut!' };
    const execute = buildApp();

    const chat = await execute({ input: { messages: [{ role: 'SYSTEM', content: 'Answer in French.' }, { role: 'USER', content: 'Say hi' }] } });
    const prompt = await execute({ input: { prompt: 'Say hi' } });
    const single = await execute({ input: { messages: [{ role: 'USER', content: 'Say hi' }] } });

    expect(dataOf(chat).generation).toMatchObject({ output: 'Salut!', prompt: 'Say hi', cacheStatus: 'MISS' });
    expect(dataOf(prompt).generation).toMatchObject({ cacheStatus: 'MISS' });
    expect(dataOf(single).generation).toMatchObject({ key: dataOf(prompt).generation?.key, cacheStatus: 'HIT' });
    expect(dataOf(chat).generation?.key).not.toBe(dataOf(prompt).generation?.key);
    expect(server.requests.map((recorded) => (recorded.body as { messages: unknown }).messages)).toEqual([
      [
        { role: 'system', content: 'Answer in French.' },
        { role: 'user', content: 'Say hi' },
      ],
      [{ role: 'user', content: 'Say hi' }],
    ]);
  });

  it('sends maxTokens as max_tokens, and refuses max_tokens itself, so that one request has one key', async () => {
    const execute = buildApp();

    const camel = await execute({ input: { prompt: 'p', parameters: { maxTokens: 5 } } });
    const snake = await execute({ input: { prompt: 'p', parameters: { max_tokens: 5 } } });
    const both = await execute({ input: { prompt: 'p', parameters: { maxTokens: 5, max_tokens: 100 } } });

    expect(dataOf(camel).generation).toMatchObject({ cacheStatus: 'MISS', parameters: { maxTokens: 5 } });
    expect(server.requests.map((recorded) => recorded.body)).toEqual([expect.objectContaining({ max_tokens: 5 })]);
    for (const refused of [snake, both]) {
      expect(errorCodes(refused)).toEqual(['BAD_USER_INPUT']);
      expect(refused.errors?.[0]?.message).toBe('parameters has no parameter "max_tokens"');
    }
  });

  it(`accepts maxTokens up to ${DEFAULT_OPENAI_MAX_TOKENS} and refuses one more before calling upstream`, async () => {
    const execute = buildApp();

    const atCap = await execute({ input: { prompt: 'p', parameters: { maxTokens: DEFAULT_OPENAI_MAX_TOKENS } } });
    const over = await execute({ input: { prompt: 'p', parameters: { maxTokens: DEFAULT_OPENAI_MAX_TOKENS + 1 } } });

    expect(dataOf(atCap).generation?.cacheStatus).toBe('MISS');
    expect(errorCodes(over)).toEqual(['BAD_USER_INPUT']);
    expect(over.errors?.[0]?.message).toBe(`parameters.maxTokens must be at most ${DEFAULT_OPENAI_MAX_TOKENS}`);
    expect(server.requests).toHaveLength(1);
  });

  it('reports an upstream 503 as GENERATION_FAILED naming the status', async () => {
    server.behaviour = { kind: 'status', status: 503, body: '{"error":"overloaded"}' };
    const execute = buildApp();

    const result = await execute({ input: { prompt: 'Say hello' } });

    expect(result.status).toBe(200);
    expect(result.data).toEqual({ generation: null });
    expect(errorCodes(result)).toEqual(['GENERATION_FAILED']);
    expect(result.errors?.[0]?.message).toMatch(/\b503\b/);
  });

  it("tells a client the upstream's status only: its address and its answer go to the log", async () => {
    server.behaviour = { kind: 'status', status: 503, body: '{"error":"GPU 3 of node gpu-7.internal is out of memory"}' };
    const { logger, lines } = captureLogs('warn');
    const config = testConfig({ GENERATOR: 'openai', OPENAI_BASE_URL: server.baseUrl, OPENAI_MODEL: 'test-model' });
    const { yoga } = createApp(config, { logger, defaultMetrics: false });

    const result = await postOperation(yoga.fetch.bind(yoga), 'http://yoga/graphql', GenerationDocument, { input: { prompt: 'Say hello' } });

    expect(result.errors?.[0]?.message).toBe('openai generator: upstream answered 503 Service Unavailable');
    expect(JSON.stringify(result)).not.toContain('gpu-7.internal');
    expect(JSON.stringify(result)).not.toContain(server.baseUrl);
    const logged = lines.find((line) => line['msg'] === 'generation failed');
    expect(logged?.['detail']).toEqual(expect.stringContaining('gpu-7.internal'));
    expect(logged?.['detail']).toEqual(expect.stringContaining(server.baseUrl));
  });

  it('generates again after an upstream failure once the upstream recovers', async () => {
    server.behaviour = { kind: 'status', status: 503, body: '{"error":"overloaded"}' };
    const execute = buildApp();
    const variables = { input: { prompt: 'Say hello' } };
    expect(errorCodes(await execute(variables))).toEqual(['GENERATION_FAILED']);

    server.behaviour = { kind: 'answer', content: DEFAULT_CONTENT };
    const recovered = dataOf(await execute(variables)).generation;

    expect(recovered).toMatchObject({ output: DEFAULT_CONTENT, cacheStatus: 'MISS' });
    expect(server.requests).toHaveLength(2);
  });
});

describe('OpenAIGenerator streaming, given onDelta', () => {
  const DELTAS = ['Once', ' upon', ' a', ' time'];

  /** Generates with an onDelta that records the deltas, in order. */
  const streamed = (generator = generatorFor(), signal = neverAborted()) => {
    const deltas: string[] = [];
    return { deltas, generation: generator.generate(request(), signal, (delta) => deltas.push(delta)) };
  };

  it('sends stream true with the usage included, and accepts an event stream', async () => {
    server.behaviour = { kind: 'stream', deltas: DELTAS };

    await streamed().generation;

    const { headers, body } = onlyRequest();
    expect(body).toEqual({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(headers['accept']).toContain('text/event-stream');
  });

  it('passes each delta of the stream on, and the output is their concatenation', async () => {
    server.behaviour = { kind: 'stream', deltas: DELTAS };

    const { deltas, generation } = streamed();

    expect(await generation).toEqual({ output: DELTAS.join(''), contentType: 'text/plain', usage: { promptTokens: 3, completionTokens: DELTAS.length } });
    expect(deltas).toEqual(DELTAS);
  });

  it('passes the first deltas on while the server still holds the last one', async () => {
    server.behaviour = { kind: 'stream', deltas: DELTAS, holdLast: true };

    const { deltas, generation } = streamed();
    await expect.poll(() => deltas).toEqual(DELTAS.slice(0, -1));
    server.release();

    expect(await generation).toMatchObject({ output: DELTAS.join('') });
    expect(deltas).toEqual(DELTAS);
  });

  it('reads a server that answers JSON despite stream true, its content as one delta', async () => {
    server.behaviour = { kind: 'answer', content: 'Hello there!' };

    const { deltas, generation } = streamed();

    expect(await generation).toMatchObject({ output: 'Hello there!', contentType: 'text/plain' });
    expect(deltas).toEqual(['Hello there!']);
  });

  it.each([
    ['breaks off', 'cut-off', /\b200\b.*cut off/],
    ['ends without [DONE]', 'no-done', /\b200\b.*without \[DONE\]/],
  ] as const)('a stream that %s rejects with GENERATION_FAILED naming the status', async (_name, end, message) => {
    server.behaviour = { kind: 'stream', deltas: DELTAS, end };

    const error = await rejection(streamed().generation);

    expect(error).toBeInstanceOf(GencacheError);
    expect(error).toMatchObject({ code: 'GENERATION_FAILED', message: expect.stringMatching(message) });
  });

  it('a stream without deltas is an empty output', async () => {
    server.behaviour = { kind: 'stream', deltas: [] };

    const { deltas, generation } = streamed();

    expect(await generation).toMatchObject({ output: '', contentType: 'text/plain' });
    expect(deltas).toEqual([]);
  });

  it('a stream event that is not JSON rejects with GENERATION_FAILED, its data in the cause', async () => {
    server.behaviour = { kind: 'events', body: 'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices": [\n\ndata: [DONE]\n\n' };

    const { deltas, generation } = streamed();
    const error = await rejection(generation);

    expect(error).toMatchObject({ code: 'GENERATION_FAILED', message: expect.stringMatching(/\b200\b.*not JSON/) });
    expect(((error as Error).cause as Error).message).toContain('{"choices": [');
    expect(deltas).toEqual(['a']);
  });

  it('reads comments and events split across network chunks as the SSE format says', async () => {
    const body = ': keep-alive\n\ndata: {"choices":[{"delta":{"content":"a"}}]}\r\n\r\ndata:{"choices":[{"delta":{"content":"b"}}]}\n\ndata: [DONE]\n\n';
    // Cut inside the second event, between its field name and its value.
    server.behaviour = { kind: 'events', body, splitAt: body.indexOf('data:{') + 'data:'.length };

    const { deltas, generation } = streamed();

    expect(await generation).toMatchObject({ output: 'ab' });
    expect(deltas).toEqual(['a', 'b']);
  });

  it('a non-2xx answer to a stream request rejects with GENERATION_FAILED naming the status', async () => {
    server.behaviour = { kind: 'status', status: 503, body: '{"error":"overloaded"}' };

    const error = await rejection(streamed().generation);

    expect(error).toMatchObject({ code: 'GENERATION_FAILED', message: 'openai generator: upstream answered 503 Service Unavailable' });
  });

  it('a stream past maxBodyBytes rejects with RESPONSE_TOO_LARGE and closes the connection', async () => {
    server.behaviour = { kind: 'stream', deltas: Array.from({ length: 200 }, () => 'x'.repeat(100)), holdLast: true };

    const { deltas, generation } = streamed(generatorFor({ maxBodyBytes: 4096 }));
    const error = await rejection(generation);

    expect(error).toMatchObject({ code: 'RESPONSE_TOO_LARGE', message: 'openai generator: upstream answered 200 with a stream over 4096 bytes' });
    expect(deltas.join('').length).toBeLessThan(4096);
    await expect.poll(() => onlyRequest().abandoned).toBe(true);
  });

  it('aborting mid-stream rejects with the signal reason and closes the connection', async () => {
    server.behaviour = { kind: 'stream', deltas: DELTAS, holdLast: true };
    const controller = new AbortController();
    const reason = { why: 'the caller gave up' };

    const { deltas, generation } = streamed(generatorFor(), controller.signal);
    await expect.poll(() => deltas.length).toBe(DELTAS.length - 1);
    controller.abort(reason);

    expect(await rejection(generation)).toBe(reason);
    await expect.poll(() => onlyRequest().abandoned).toBe(true);
  });
});

describe('the streaming openai generator behind generationStream', () => {
  type Chunk = GenerationStreamSubscription['generationStream'];
  const DELTAS = ['The', ' first', ' delta', ' arrives', ' early'];
  const subscribers: Subscriber<GenerationStreamSubscription>[] = [];

  afterEach(async () => {
    await Promise.all(subscribers.splice(0).map((subscriber) => subscriber.close()));
  });

  const start = async () => {
    const config = testConfig({ GENERATOR: 'openai', OPENAI_BASE_URL: server.baseUrl, OPENAI_MODEL: 'test-model' });
    return serve(createApp(config, { logger: createLogger('silent'), defaultMetrics: false }));
  };

  const open = (url: string, prompt: string) => {
    const subscriber = subscribe('sse', GenerationStreamDocument, { url, variables: { input: { prompt } } });
    subscribers.push(subscriber);
    return subscriber;
  };

  const chunkOf = (result: SubscriptionResult<GenerationStreamSubscription>): Chunk => {
    expect(result.errors).toBeUndefined();
    return result.data!.generationStream;
  };

  it('a client has the first delta before the upstream sends its last chunk', async () => {
    server.behaviour = { kind: 'stream', deltas: DELTAS, holdLast: true };
    const url = await start();
    const subscriber = open(url, 'stream it');

    const first = chunkOf(await subscriber.next());

    // The upstream still holds its last delta and [DONE]: only a streamed delta can be here.
    expect(first).toMatchObject({ done: false, index: 0, cacheStatus: 'MISS' });
    expect(first.delta.length).toBeGreaterThan(0);
    expect(DELTAS.slice(0, -1).join('').startsWith(first.delta)).toBe(true);
    server.release();
    const chunks = [first];
    while (chunks.at(-1)?.done !== true) chunks.push(chunkOf(await subscriber.next()));
    expect(chunks.map((chunk) => chunk.delta).join('')).toBe(DELTAS.join(''));
    expect(chunks.at(-1)!.generation).toMatchObject({ output: DELTAS.join(''), cacheStatus: 'MISS' });
    expect(server.requests).toHaveLength(1);
  });

  it('an upstream that breaks mid-stream fails both subscribers with GENERATION_FAILED and stores nothing', async () => {
    server.behaviour = { kind: 'stream', deltas: DELTAS, holdLast: true, end: 'cut-off' };
    const url = await start();
    const first = open(url, 'broken stream');
    chunkOf(await first.next());
    const second = open(url, 'broken stream');
    expect(chunkOf(await second.next())).toMatchObject({ done: false, cacheStatus: 'COALESCED' });

    server.release();
    const failures = await Promise.all([first, second].map((subscriber) => subscriber.until((result) => result.errors !== undefined)));

    for (const failure of failures) expect(failure.errors?.map((error) => error.extensions?.['code'])).toEqual(['GENERATION_FAILED']);
    expect(server.requests).toHaveLength(1);
    const cached = await postOperation(fetch, url, GenerationDocument, { input: { prompt: 'broken stream' }, policy: 'CACHE_ONLY' });
    expect(dataOf(cached).generation).toBeNull();
    expect(server.requests).toHaveLength(1);
  });
});

describe('token usage of the openai generator', () => {
  const DELTAS = ['one', ' two', ' three'];

  it.each([
    ['no usage', {}],
    ['a usage without completion_tokens', { usage: { prompt_tokens: 3 } }],
    ['a negative count', { usage: { prompt_tokens: -1, completion_tokens: 2 } }],
    ['a fractional count', { usage: { prompt_tokens: 1.5, completion_tokens: 2 } }],
  ])('reports none for an answer with %s', async (_name, extra) => {
    server.behaviour = { kind: 'status', status: 200, body: JSON.stringify({ choices: [{ message: { content: 'x' } }], ...extra }) };

    const output = await generatorFor().generate(request(), neverAborted());

    expect(output).toEqual({ output: 'x', contentType: 'text/plain', usage: undefined });
  });

  const TokensDocument = parse(`
    query Tokens($input: GenerationInput!) {
      generation(input: $input) { cacheStatus promptTokens completionTokens }
    }
  `) as TypedDocumentNode<
    { generation: { cacheStatus: string; promptTokens: number | null; completionTokens: number | null } | null },
    { input: { prompt: string } }
  >;

  const start = () => {
    const config = testConfig({ GENERATOR: 'openai', OPENAI_BASE_URL: server.baseUrl, OPENAI_MODEL: 'test-model' });
    const app = createApp(config, { logger: createLogger('silent'), defaultMetrics: false });
    const fetchOf = app.yoga.fetch.bind(app.yoga);
    return {
      app,
      tokens: async (prompt: string) => dataOf(await postOperation(fetchOf, 'http://yoga/graphql', TokensDocument, { input: { prompt } })).generation,
      savedTokens: async () => dataOf(await postOperation(fetchOf, 'http://yoga/graphql', CacheStatsDocument, {})).cacheStats.savedTokens,
    };
  };

  it('keeps the counts in the record, serves them on each hit, and counts a hit as savedTokens', async () => {
    server.behaviour = { kind: 'stream', deltas: DELTAS };
    const { app, tokens, savedTokens } = start();

    const miss = await tokens('count me');
    const hit = await tokens('count me');

    expect(miss).toEqual({ cacheStatus: 'MISS', promptTokens: 3, completionTokens: DELTAS.length });
    expect(hit).toEqual({ cacheStatus: 'HIT', promptTokens: 3, completionTokens: DELTAS.length });
    expect(await savedTokens()).toBe(3 + DELTAS.length);
    expect(app.service.totals().savedTokens).toBe(3 + DELTAS.length);
  });

  it('counts a load that joined a generation in flight as savedTokens, the one that started it not', async () => {
    server.behaviour = { kind: 'stream', deltas: DELTAS, holdLast: true };
    const { app, tokens, savedTokens } = start();

    const first = tokens('joined');
    await server.until((s) => s.requests.length === 1);
    const second = tokens('joined');
    await expect.poll(() => app.service.stats().coalesced).toBe(1);
    server.release();

    expect((await Promise.all([first, second])).map((generation) => generation?.cacheStatus).sort()).toEqual(['COALESCED', 'MISS']);
    expect(server.requests).toHaveLength(1);
    expect(await savedTokens()).toBe(3 + DELTAS.length);
  });

  it('leaves the counts null and the record without them when the upstream reports none', async () => {
    server.behaviour = { kind: 'status', status: 200, body: JSON.stringify({ choices: [{ message: { content: 'x' } }] }) };
    const { app, tokens, savedTokens } = start();

    expect(await tokens('uncounted')).toEqual({ cacheStatus: 'MISS', promptTokens: null, completionTokens: null });
    expect(await tokens('uncounted')).toMatchObject({ cacheStatus: 'HIT', promptTokens: null });
    expect(await savedTokens()).toBe(0);
    const [entry] = [...(app.cache as MemoryStore).entries()];
    expect(Object.keys(entry!.record)).not.toContain('promptTokens');
  });
});
