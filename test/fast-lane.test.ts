import { getIntrospectionQuery, print } from 'graphql';
import { createYoga, type Plugin, type YogaLogger } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { createFastLane, type FastLane } from '../src/fast-lane.js';
import { schema } from '../src/schema/index.js';
import { GencacheError } from '../src/errors.js';
import { createGraphQlServer, maskUnexpected, type GencacheYoga } from '../src/yoga.js';
import {
  CacheConfigDocument,
  CacheEntriesDocument,
  CacheEntryDocument,
  ClearCacheDocument,
  GenerationDocument,
  GenerationOutputDocument,
  GenerationsDocument,
} from '../src/generated/graphql.js';
import { createHarness, dataOf, listen, postOperation, type Harness, type Listening } from './helpers/harness.js';
import { externalIPv4, rawPost, type RawResponse } from './helpers/http.js';
import { captureLogs } from './helpers/logs.js';

const TOKEN = 'fast-lane-admin-token';

/** A POST with exactly these headers, with a Content-Length or chunked in two pieces. */
const send = (url: string, text: string, headers: Record<string, string>, chunked = false) =>
  rawPost(url, text, headers, chunked ? { chunkSize: 10 } : {});

/**
 * What a client can tell apart in a response, byte for byte, but the date: status line, header
 * names in their case and order, values, and body.
 */
const comparable = ({ status, statusMessage, rawHeaders, body: text }: RawResponse) => ({
  status,
  statusMessage,
  headers: rawHeaders.flatMap((value, index) =>
    index % 2 === 1 || value.toLowerCase() === 'date' ? [] : [`${value}: ${rawHeaders[index + 1]}`],
  ),
  body: text,
});

const JSON_TYPE = { 'content-type': 'application/json' };
const body = (query: string, variables?: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ query, variables, ...extra });
const generationQuery = print(GenerationDocument);

interface Case {
  readonly name: string;
  readonly body: string;
  readonly headers?: Record<string, string>;
  readonly chunked?: boolean;
  /** Which side answers the repeat on the server with the fast lane. */
  readonly lane: 'fast' | 'yoga';
}

/**
 * Requests sent to a server with the fast lane and to one without, over one service: each must
 * take the lane where expected, and be answered exactly as Yoga answers it.
 */
const CASES: Case[] = [
  { name: 'a cached generation, with the whole fragment', body: body(generationQuery, { input: { prompt: 'shared' } }), lane: 'fast' },
  { name: 'the lean operation', body: body(print(GenerationOutputDocument), { input: { prompt: 'shared' } }), lane: 'fast' },
  { name: 'Accept: application/json', body: body(generationQuery, { input: { prompt: 'a' } }), headers: { accept: 'application/json' }, lane: 'fast' },
  {
    name: 'Accept: application/graphql-response+json; charset=utf-8',
    body: body(generationQuery, { input: { prompt: 'a' } }),
    headers: { accept: 'application/graphql-response+json; charset=utf-8' },
    lane: 'fast',
  },
  { name: 'Accept: */*', body: body(generationQuery, { input: { prompt: 'a' } }), headers: { accept: '*/*' }, lane: 'fast' },
  ...[
    'application/graphql-response+json,application/json;q=0.9',
    'application/json, application/graphql-response+json',
    'text/html, application/*;q=0.5',
    'multipart/mixed, application/graphql-response+json',
    'application/json; charset=latin1, application/graphql-response+json',
    'Application/JSON',
    '',
  ].map((accept): Case => ({ name: `Accept: ${accept}`, body: body(generationQuery, { input: { prompt: 'a' } }), headers: { accept }, lane: 'fast' })),
  {
    name: 'Content-Type with a charset, and the operation named',
    body: body(generationQuery, { input: { prompt: 'b' } }, { operationName: 'Generation', extensions: {} }),
    headers: { 'content-type': 'application/json; charset=utf-8' },
    lane: 'fast',
  },
  { name: 'an inline literal and no variables', body: body('{ generation(input: {prompt: "inline"}) { key output cacheStatus } }'), lane: 'fast' },
  {
    name: 'duplicates inside a list',
    body: body(print(GenerationsDocument), { inputs: [{ prompt: 'x' }, { prompt: 'y' }, { prompt: 'x' }] }),
    lane: 'fast',
  },
  {
    name: 'a field error (model not allowed)',
    body: body(generationQuery, { input: { prompt: 'p', model: 'no-such-model' } }),
    headers: { accept: 'application/graphql-response+json' },
    lane: 'fast',
  },
  { name: 'CACHE_ONLY of what is not cached', body: body(generationQuery, { input: { prompt: 'never' }, policy: 'CACHE_ONLY' }), lane: 'fast' },
  { name: 'an unexpected error, masked', body: body(generationQuery, { input: { prompt: 'explode' } }), lane: 'fast' },
  { name: 'an admin field without a token', body: body(print(CacheEntryDocument), { key: 'k' }), lane: 'fast' },
  {
    name: 'an admin field with the token',
    body: body(print(CacheEntryDocument), { key: 'k' }),
    headers: { authorization: `Bearer ${TOKEN}` },
    lane: 'fast',
  },
  { name: 'the public cache configuration', body: body(print(CacheConfigDocument)), lane: 'fast' },
  { name: "GraphiQL's introspection query", body: body(getIntrospectionQuery()), lane: 'fast' },
  { name: 'a chunked body', body: body(generationQuery, { input: { prompt: 'shared' } }), chunked: true, lane: 'fast' },
  { name: 'null variables, operation name and extensions', body: body(print(CacheConfigDocument), null, { operationName: null, extensions: null }), lane: 'fast' },
  { name: 'extensions Yoga ignores', body: body(print(CacheConfigDocument), undefined, { extensions: { trace: true } }), lane: 'fast' },
  {
    name: 'Content-Type: application/json;charset=latin1',
    body: body(print(CacheConfigDocument)),
    headers: { 'content-type': 'application/json;charset=latin1' },
    lane: 'yoga',
  },
  { name: 'variables of the wrong type', body: body(generationQuery, { input: { prompt: 7 } }), lane: 'fast' },
  { name: 'missing variables', body: body(generationQuery), lane: 'fast' },
  { name: 'another operation name', body: body(generationQuery, { input: { prompt: 'a' } }, { operationName: 'Other' }), lane: 'fast' },
  { name: 'a mutation', body: body(print(ClearCacheDocument)), headers: { authorization: `Bearer ${TOKEN}` }, lane: 'fast' },
  { name: 'a syntax error', body: body('{ generation(input: '), lane: 'fast' },
  { name: 'a validation error', body: body('{ nope }'), lane: 'fast' },
  { name: 'an operation over the alias limit', body: body(`{ ${Array.from({ length: 33 }, (_, i) => `a${i}: cacheConfig { enabled }`).join(' ')} }`), lane: 'fast' },
  { name: 'a Host with a path', body: body(print(CacheConfigDocument)), headers: { host: 'example.test/elsewhere' }, lane: 'fast' },
  { name: 'Accept: text/event-stream', body: body(generationQuery, { input: { prompt: 'a' } }), headers: { accept: 'text/event-stream' }, lane: 'fast' },
  { name: 'Accept: multipart/mixed', body: body(generationQuery, { input: { prompt: 'a' } }), headers: { accept: 'multipart/mixed' }, lane: 'fast' },
  { name: 'Accept: text/html', body: body(generationQuery, { input: { prompt: 'a' } }), headers: { accept: 'text/html' }, lane: 'fast' },
  { name: 'Accept: application/json; charset=latin1', body: body(generationQuery, { input: { prompt: 'a' } }), headers: { accept: 'application/json; charset=latin1' }, lane: 'fast' },
  // Yoga answers these: its request parsing, or its refusal of the parameters before anything runs.
  { name: 'an unknown parameter', body: body(generationQuery, { input: { prompt: 'a' } }, { padding: 'x' }), lane: 'yoga' },
  { name: 'a batch', body: JSON.stringify([{ query: '{ cacheConfig { enabled } }' }]), lane: 'yoga' },
  { name: 'JSON that does not parse', body: '{"query": ', lane: 'yoga' },
  { name: 'an empty body', body: '', lane: 'yoga' },
  { name: 'an empty object', body: '{}', lane: 'yoga' },
  { name: 'a query that is not a string', body: JSON.stringify({ query: 7 }), lane: 'yoga' },
  { name: 'Content-Type: Application/JSON', body: body(print(CacheConfigDocument)), headers: { 'content-type': 'Application/JSON' }, lane: 'yoga' },
  {
    name: 'Content-Type: application/json ; charset=utf-8',
    body: body(print(CacheConfigDocument)),
    headers: { 'content-type': 'application/json ; charset=utf-8' },
    lane: 'yoga',
  },
  { name: 'a Host with a space', body: body(print(CacheConfigDocument)), headers: { host: 'example test' }, lane: 'yoga' },
];

/** What a second GraphQL server over the harness's service is built from. */
const dependenciesOf = (harness: Harness) => ({
  service: harness.service,
  cache: harness.cache,
  statsFeed: harness.statsFeed,
  logger: harness.logger,
  generator: harness.generator,
  adminToken: harness.config.adminToken,
  metrics: harness.metrics.registry,
});

describe('the fast lane', () => {
  let harness: Harness;
  let withLane: Listening;
  let withoutLane: Listening;
  let serve: MockInstance<FastLane['serve']>;
  const { logger, lines: logged } = captureLogs('error');

  beforeAll(async () => {
    harness = createHarness({ env: { ADMIN_TOKEN: TOKEN }, logger });
    // A server without the lane over the same service: generations, and so responses, are shared.
    const yogaOnly = createGraphQlServer({ ...dependenciesOf(harness), logger, fastLane: false });
    expect(yogaOnly.fastLane).toBeUndefined();
    serve = vi.spyOn(harness.fastLane!, 'serve');
    const loadMany = harness.service.loadMany.bind(harness.service);
    vi.spyOn(harness.service, 'loadMany').mockImplementation(async (requests, options) => {
      if (requests.some((item) => item.prompt === 'explode')) throw new Error('a defect below the schema');
      return loadMany(requests, options);
    });
    withLane = await listen(harness);
    withoutLane = await listen(yogaOnly);
  });
  afterAll(async () => {
    await withLane.close();
    await withoutLane.close();
  });

  /** Whether the last request to the server with the lane was answered by it. */
  const lastTookLane = async () => {
    const results = serve.mock.results;
    if (results.length === 0) return false;
    return (await results.at(-1)!.value) === true;
  };

  it.each(CASES)('answers $name as Yoga does ($lane)', async ({ body: text, headers, chunked, lane }) => {
    const requestHeaders = { ...JSON_TYPE, ...headers };
    // Generations are made (or fail) the first time; the repeats compare what is cached.
    await send(withoutLane.url, text, requestHeaders, chunked);

    const callsBefore = serve.mock.calls.length;
    const fromLane = await send(withLane.url, text, requestHeaders, chunked);
    const tookLane = serve.mock.calls.length > callsBefore && (await lastTookLane());
    const fromYoga = await send(withoutLane.url, text, requestHeaders, chunked);

    expect(tookLane).toBe(lane === 'fast');
    expect(comparable(fromLane)).toEqual(comparable(fromYoga));
  });

  it('logs the unexpected errors it masks, as Yoga does', async () => {
    const text = body(generationQuery, { input: { prompt: 'explode' } });
    logged.length = 0;

    for (const url of [withoutLane.url, withLane.url, withLane.url, withoutLane.url]) await send(url, text, JSON_TYPE);

    expect(await lastTookLane()).toBe(true);
    const defects = logged.filter((line) => (line['err'] as { message?: string } | undefined)?.message === 'a defect below the schema');
    expect(defects).toHaveLength(4);
    expect(defects.map((line) => line['level'])).toEqual([50, 50, 50, 50]);
  });

  it('leaves requests with an Origin, other content types and other paths to Yoga', async () => {
    const text = body(generationQuery, { input: { prompt: 'shared' } });
    await send(withoutLane.url, text, JSON_TYPE);
    const cases: Record<string, string>[] = [
      { ...JSON_TYPE, origin: 'http://example.test' },
      { 'content-type': 'application/graphql+json' },
      { 'content-type': 'text/plain' },
    ];
    for (const headers of cases) {
      const callsBefore = serve.mock.calls.length;
      const fromLane = await send(withLane.url, text, headers);
      const fromYoga = await send(withoutLane.url, text, headers);
      expect(serve.mock.calls.length, JSON.stringify(headers)).toBe(callsBefore);
      expect(comparable(fromLane)).toEqual(comparable(fromYoga));
    }
    const callsBefore = serve.mock.calls.length;
    expect((await send(withLane.url.replace('/graphql', '/graphql?x=1'), text, JSON_TYPE)).status).toBe(200);
    expect(serve.mock.calls.length).toBe(callsBefore);
  });
});

describe('generations through the fast lane', () => {
  let server: Listening | undefined;
  afterAll(async () => {
    await server?.close();
  });

  it('runs the generator once for 50 concurrent requests of a new input, and counts them', async () => {
    const harness = createHarness({ latencyMs: 200 });
    server = await listen(harness);
    const serve = vi.spyOn(harness.fastLane!, 'serve');
    dataOf(await postOperation(fetch, server.url, GenerationDocument, { input: { prompt: 'first' } }));
    const input = { prompt: 'a storm over the bay' };

    const results = await Promise.all(Array.from({ length: 50 }, () => postOperation(fetch, server!.url, GenerationDocument, { input })));

    const answers = await Promise.all(serve.mock.results.map((result) => result.value));
    expect(answers).toEqual(Array(51).fill(true));
    const statuses = results.map((result) => dataOf(result).generation!.cacheStatus);
    expect(harness.generator.calls.filter((call) => call.prompt === input.prompt)).toHaveLength(1);
    expect(statuses.filter((status) => status === 'MISS')).toHaveLength(1);
    const coalesced = statuses.filter((status) => status === 'COALESCED').length;
    expect(coalesced + statuses.filter((status) => status === 'HIT').length).toBe(49);
    expect(results.map((result) => result.extensions?.cache?.['generation']?.status)).toEqual(statuses);
    expect(harness.service.stats()).toMatchObject({ generations: 2, coalesced, hits: 49 - coalesced, inFlight: 0, queued: 0 });
  });
});

describe('admin access through the fast lane, without ADMIN_TOKEN', () => {
  const external = externalIPv4();
  let server: Listening | undefined;
  afterAll(async () => {
    await server?.close();
  });

  /** Two requests for the admin field `cacheEntries`, both through the lane. */
  const twice = async (address: string) => {
    const harness = createHarness();
    await server?.close();
    server = await listen(harness, '0.0.0.0');
    const serve = vi.spyOn(harness.fastLane!, 'serve');
    const url = server.url.replace('0.0.0.0', address);
    const answers = [await postOperation(fetch, url, CacheEntriesDocument, { first: 1 }), await postOperation(fetch, url, CacheEntriesDocument, { first: 1 })];
    expect(await Promise.all(serve.mock.results.map((result) => result.value))).toEqual([true, true]);
    return answers.map((answer) => answer.errors?.[0]?.extensions?.['code'] ?? 'allowed');
  };

  it('allows a loopback client', async () => {
    expect(await twice('127.0.0.1')).toEqual(['allowed', 'allowed']);
  });

  it.skipIf(external === undefined)(`refuses a client over a non-loopback address (${external ?? 'none here'}) as FORBIDDEN`, async () => {
    expect(await twice(external!)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
  });
});

describe('a failure outside any resolver', () => {
  /** What a context throws, by the request's Authorization header. */
  const THROWN: Record<string, unknown> = {
    error: new Error('the context could not be made'),
    gencache: new GencacheError('NOT_FOUND', 'an expected error, but thrown outside a resolver'),
    string: 'a thrown string',
  };
  const context = (authorization: string | null | undefined) => {
    if (authorization != null && authorization in THROWN) throw THROWN[authorization];
    return {};
  };
  const { logger, lines: logged } = captureLogs('error');
  // The production masking, on a server with the lane and on one without.
  const yogaWith = () =>
    createYoga({
      schema,
      context: ({ request }) => context(request.headers.get('authorization')),
      maskedErrors: { maskError: maskUnexpected },
      logging: logger as unknown as YogaLogger,
      maxRequestBodySize: false,
    }) as unknown as GencacheYoga;
  const laneYoga = yogaWith();
  const lane = createFastLane({ yoga: laneYoga, plugins: [], laneSafe: [] })!;
  let servers: readonly [Listening, Listening];
  beforeAll(async () => {
    servers = [await listen({ yoga: laneYoga, fastLane: lane }), await listen({ yoga: yogaWith(), fastLane: undefined })];
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });

  it.each(Object.keys(THROWN))('is masked, logged and answered with 500 by the fast lane as by Yoga (%s)', async (thrown) => {
    const serve = vi.spyOn(lane, 'serve');
    const text = body('{ __typename }');
    expect((await send(servers[0].url, text, JSON_TYPE)).status).toBe(200);
    logged.length = 0;

    const failing = { ...JSON_TYPE, authorization: thrown };
    const fromLane = await send(servers[0].url, text, failing);
    const fromYoga = await send(servers[1].url, text, failing);

    expect(await serve.mock.results.at(-1)!.value).toBe(true);
    expect(fromLane.status).toBe(500);
    expect(JSON.parse(fromLane.body)).toEqual({ errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
    expect(comparable(fromLane)).toEqual(comparable(fromYoga));
    // Each server logged what it masked, once, alike.
    expect(logged).toHaveLength(2);
    expect({ ...logged[0], time: 0 }).toEqual({ ...logged[1], time: 0 });
    expect(logged[0]).toMatchObject({ level: 50 });
  });
});

describe('the plugins of Yoga\'s list and the fast lane', () => {
  let server: Listening | undefined;
  afterAll(async () => {
    await server?.close();
  });

  it("runs a plugin added to the list on the lane's requests: its onParams, envelop and onResultProcess hooks", async () => {
    const seen = { onParams: 0, onParse: 0, onExecute: 0, onResultProcess: 0, operations: [] as string[] };
    const plugin: Plugin = {
      onParams: () => void seen.onParams++,
      onParse: () => void seen.onParse++,
      onExecute: ({ args }) => {
        seen.onExecute++;
        seen.operations.push(args.operationName ?? '');
      },
      onResultProcess: () => void seen.onResultProcess++,
    };
    const harness = createHarness({ plugins: [plugin] });
    server = await listen(harness);
    const serve = vi.spyOn(harness.fastLane!, 'serve');

    for (let i = 0; i < 3; i++) {
      dataOf(await postOperation(fetch, server.url, GenerationOutputDocument, { input: { prompt: 'seen by plugins' } }));
    }

    expect(await Promise.all(serve.mock.results.map((result) => result.value))).toEqual([true, true, true]);
    expect(seen).toEqual({ onParams: 3, onParse: 3, onExecute: 3, onResultProcess: 3, operations: ['', '', ''] });
  });

  it.each(['onRequest', 'onRequestParse', 'onResponse'])('turns itself off for a plugin with an %s hook, which only Yoga runs', (hook) => {
    const harness = createHarness({ plugins: [{ [hook]: () => undefined } as Plugin] });

    expect(harness.fastLane).toBeUndefined();
    expect(createHarness().fastLane).toBeDefined();
  });
});

describe('a defect in the fast lane', () => {
  /** A lane that fails, as the test says, for requests marked `x-defect`, and leaves the rest to Yoga. */
  const failing = (how: 'throws' | 'rejects'): FastLane => ({
    takes: (req) => req.method === 'POST',
    serve: (req) => {
      if (req.headers['x-defect'] === undefined) return false;
      const defect = new Error(`the lane ${how}`);
      if (how === 'throws') throw defect;
      return Promise.reject(defect);
    },
  });

  it.each(['throws', 'rejects'] as const)('closes the connection, logs the error once and leaves the server serving (the lane %s)', async (how) => {
    const { logger, lines: logged } = captureLogs('error');
    const yoga = createYoga({ schema, logging: logger as unknown as YogaLogger, maxRequestBodySize: false }) as unknown as GencacheYoga;
    const server = await listen({ yoga, fastLane: failing(how) });
    try {
      const text = body('{ __typename }');

      await expect(send(server.url, text, { ...JSON_TYPE, 'x-defect': '1' })).rejects.toThrow(/socket hang up|ECONNRESET/);
      const after = await send(server.url, text, JSON_TYPE);

      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ level: 50, err: { message: `the lane ${how}` } });
      expect(after.status).toBe(200);
      expect(JSON.parse(after.body)).not.toHaveProperty('errors');
    } finally {
      await server.close();
    }
  });
});
