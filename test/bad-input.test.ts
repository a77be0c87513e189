import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JsonObject } from '../src/generation/generator.js';
import { SIMULATED_MAX_TOKENS } from '../src/generation/simulated-generator.js';
import { CacheStatsDocument, GenerateDocument, GenerationDocument, GenerationsDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, errorCodes, listen, serve, type Harness, type Listening, type OperationResult } from './helpers/harness.js';
import { rawPost } from './helpers/http.js';
import { captureLogs } from './helpers/logs.js';
import { codesOf, send, TRANSPORTS } from './helpers/transports.js';

const LIMITS = { MAX_PROMPT_LENGTH: '100', MAX_PARAMETERS_BYTES: '64', MAX_BATCH_SIZE: '5' };

/** Asserts the result is one BAD_USER_INPUT, that nothing was generated or stored, and that the server still serves. */
async function expectRefused(harness: Harness, result: OperationResult<unknown>, message: RegExp): Promise<void> {
  expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
  expect(result.errors?.[0]?.message).toMatch(message);
  expect(harness.generator.calls).toHaveLength(0);
  expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ entries: 0, misses: 0 });
  const after = await harness.execute(GenerationDocument, { input: { prompt: 'still serving' } });
  expect(dataOf(after).generation!.cacheStatus).toBe('MISS');
}

/** Asserts the result was served without errors. */
function expectAccepted(result: OperationResult<unknown>): void {
  expect(result.errors).toBeUndefined();
  expect(result.status).toBe(200);
}

describe('bad input', () => {
  it.each([
    ['an empty prompt', ''],
    ['a whitespace prompt', ' \n\t '],
  ])('refuses %s', async (_name, prompt) => {
    const harness = createHarness({ env: LIMITS });
    await expectRefused(harness, await harness.execute(GenerationDocument, { input: { prompt } }), /prompt must not be empty/);
  });

  it('accepts a one-character prompt and one at the length limit', async () => {
    const harness = createHarness({ env: LIMITS });
    expectAccepted(await harness.execute(GenerationDocument, { input: { prompt: 'x' } }));
    expectAccepted(await harness.execute(GenerationDocument, { input: { prompt: 'p'.repeat(100) } }));
  });

  it('refuses a prompt one character over the limit', async () => {
    const harness = createHarness({ env: LIMITS });
    const result = await harness.execute(GenerationDocument, { input: { prompt: 'p'.repeat(101) } });
    await expectRefused(harness, result, /prompt is 101 characters; the limit is 100/);
  });

  it('accepts parameters of exactly the byte limit as canonical JSON', async () => {
    const harness = createHarness({ env: LIMITS });
    // {"stop":["…"]} is 13 bytes around the string: 51 characters make 64 bytes.
    expectAccepted(await harness.execute(GenerationDocument, { input: { prompt: 'x', parameters: { stop: ['s'.repeat(51)] } } }));
  });

  it('refuses parameters one byte over the limit', async () => {
    const harness = createHarness({ env: LIMITS });
    const result = await harness.execute(GenerationDocument, { input: { prompt: 'x', parameters: { stop: ['s'.repeat(52)] } } });
    await expectRefused(harness, result, /parameters are 65 bytes as JSON; the limit is 64/);
  });

  it('counts parameter bytes in UTF-8', async () => {
    const harness = createHarness({ env: LIMITS });
    // 26 two-byte characters: 52 bytes of string, 65 in all, though only 39 characters.
    const result = await harness.execute(GenerationDocument, { input: { prompt: 'x', parameters: { stop: ['é'.repeat(26)] } } });
    await expectRefused(harness, result, /parameters are 65 bytes/);
  });

  it.each([
    ['an array', [1, 2]],
    ['a string', 'temperature=1'],
    ['a number', 42],
    ['a boolean', true],
  ])('refuses parameters that are %s', async (_name, parameters) => {
    const harness = createHarness({ env: LIMITS });
    const result = await harness.execute(GenerationDocument, { input: { prompt: 'x', parameters } });
    await expectRefused(harness, result, /parameters must be a JSON object/);
  });

  /** `levels` objects nested in one another, the outermost included. */
  const nested = (levels: number): Record<string, unknown> => (levels === 1 ? { a: 1 } : { a: nested(levels - 1) });

  /** A generator that takes one free-form parameter, `a`, as some models take a JSON schema. */
  const freeForm = z.strictObject({ a: z.json().optional() }) as z.ZodType<JsonObject>;

  it('accepts parameters nested exactly MAX_PARAMETERS_DEPTH levels deep', async () => {
    const harness = createHarness({ env: { MAX_PARAMETERS_DEPTH: '8' }, parameters: freeForm });
    expectAccepted(await harness.execute(GenerationDocument, { input: { prompt: 'x', parameters: nested(8) } }));
  });

  it('refuses parameters nested one level deeper than MAX_PARAMETERS_DEPTH', async () => {
    const harness = createHarness({ env: { MAX_PARAMETERS_DEPTH: '8' }, parameters: freeForm });
    const result = await harness.execute(GenerationDocument, { input: { prompt: 'x', parameters: nested(9) } });
    await expectRefused(harness, result, /parameters nest deeper than 8 levels/);
  });

  it('refuses an array nested 5,000 deep as BAD_USER_INPUT, not as a server fault', async () => {
    const harness = createHarness();
    // Written out: JSON.stringify of so deep a value would exhaust this test's own stack.
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const body = `{"query":"query ($p: JSON) { generation(input: {prompt: \\"x\\", parameters: $p}) { key } }","variables":{"p":{"deep":${deep}}}}`;
    const response = await harness.yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const result = { status: response.status, ...((await response.json()) as object) } as OperationResult<unknown>;
    expect(result.status).toBe(200);
    await expectRefused(harness, result, /parameters nest deeper than 8 levels/);
  });

  it.each(['__proto__', 'constructor', 'prototype'])('refuses parameters with the key %s', async (key) => {
    const harness = createHarness();
    const body = `{"query":${JSON.stringify(`query ($p: JSON) { generation(input: {prompt: "x", parameters: $p}) { key } }`)},"variables":{"p":{"${key}":{"maxTokens":5}}}}`;
    const response = await harness.yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const result = { status: response.status, ...((await response.json()) as object) } as OperationResult<unknown>;
    await expectRefused(harness, result, new RegExp(`parameters must not have the key "${key}"`));
  });

  it('refuses a number JSON reads as Infinity, and then still accepts null in its place', async () => {
    const harness = createHarness();
    const send = async (seed: string) => {
      const body = `{"query":"query ($p: JSON) { generation(input: {prompt: \\"x\\", parameters: $p}) { key } }","variables":{"p":{"seed":${seed}}}}`;
      const response = await harness.yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return { status: response.status, ...((await response.json()) as object) } as OperationResult<unknown>;
    };

    const infinite = await send('1e400');
    expect(errorCodes(infinite)).toEqual(['BAD_USER_INPUT']);
    expect(infinite.errors?.[0]?.message).toMatch(/parameters.seed must be a finite number, got Infinity/);
    expectAccepted(await send('null'));
  });

  it('refuses a model outside the allow-list', async () => {
    const harness = createHarness({ env: LIMITS });
    const result = await harness.execute(GenerationDocument, { input: { prompt: 'x', model: 'gpt-9' } });
    await expectRefused(harness, result, /model "gpt-9" is not allowed; allowed: sim-1, sim-2/);
  });

  it.each([
    ['zero', 0, /parameters\.maxTokens must be at least 1/],
    ['a fraction', 1.5, /parameters\.maxTokens must be a whole number/],
    ['a string', '10', /parameters\.maxTokens must be a number/],
    ['over the maximum', SIMULATED_MAX_TOKENS + 1, new RegExp(`parameters\\.maxTokens must be at most ${SIMULATED_MAX_TOKENS}`)],
  ])('refuses maxTokens that is %s', async (_name, maxTokens, message) => {
    const harness = createHarness({ env: LIMITS });
    const result = await harness.execute(GenerationDocument, { input: { prompt: 'x', parameters: { maxTokens } } });
    await expectRefused(harness, result, message);
  });

  it('accepts maxTokens at the simulated generator\'s maximum', async () => {
    const harness = createHarness();
    const result = await harness.execute(GenerationDocument, { input: { prompt: 'x', parameters: { maxTokens: SIMULATED_MAX_TOKENS } } });
    expect(dataOf(result).generation?.output.split(' ')).toHaveLength(SIMULATED_MAX_TOKENS + 1);
  });

  it.each([
    ['an unknown name', { style: 'terse' }, /parameters has no parameter "style"/],
    ['another spelling of a declared name', { max_tokens: 5 }, /parameters has no parameter "max_tokens"/],
    ['a seed that is not a whole number', { seed: 1.5 }, /parameters\.seed must be a whole number/],
    ['five stop sequences', { stop: ['a', 'b', 'c', 'd', 'e'] }, /parameters\.stop must be at most 4 items/],
  ])('refuses parameters with %s', async (_name, parameters, message) => {
    const harness = createHarness();
    const result = await harness.execute(GenerationDocument, { input: { prompt: 'x', parameters } });
    await expectRefused(harness, result, message);
  });

  it('takes null for a parameter as unset: its default applies, and the key is that of leaving it out', async () => {
    const harness = createHarness();
    const explicit = dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'nulls', parameters: { maxTokens: null, seed: null } } })).generation!;
    const omitted = dataOf(await harness.execute(GenerationDocument, { input: { prompt: 'nulls' } })).generation!;
    expect(explicit.parameters).toEqual({ maxTokens: 64, temperature: 0.7 });
    expect(omitted).toMatchObject({ key: explicit.key, cacheStatus: 'HIT' });
  });

  it('refuses a negative ttlSeconds and accepts 0', async () => {
    const harness = createHarness({ env: LIMITS });
    const refused = await harness.execute(GenerateDocument, { input: { prompt: 'x' }, ttlSeconds: -1 });
    await expectRefused(harness, refused, /ttlSeconds must be from 0 to 31536000, got -1/);
    const accepted = await harness.execute(GenerationDocument, { input: { prompt: 'x' }, ttlSeconds: 0 });
    expectAccepted(accepted);
    expect(dataOf(accepted).generation!.expiresAt).toBeNull();
  });

  it('refuses a ttlSeconds over a year and accepts one of exactly a year', async () => {
    const harness = createHarness({ env: LIMITS });
    const refused = await harness.execute(GenerationDocument, { input: { prompt: 'x' }, ttlSeconds: 31_536_001 });
    await expectRefused(harness, refused, /ttlSeconds must be from 0 to 31536000/);
    expectAccepted(await harness.execute(GenerationDocument, { input: { prompt: 'y' }, ttlSeconds: 31_536_000 }));
  });

  it('accepts a generations list at the limit and refuses one over it', async () => {
    const harness = createHarness({ env: LIMITS });
    const over = Array.from({ length: 6 }, (_, index) => ({ prompt: `p${index}` }));
    await expectRefused(harness, await harness.execute(GenerationsDocument, { inputs: over }), /inputs has 6 items; the limit is 5/);
    const atLimit = await harness.execute(GenerationsDocument, { inputs: over.slice(0, 5) });
    expectAccepted(atLimit);
    expect(dataOf(atLimit).generations).toHaveLength(5);
  });

  it('refuses a whole list when one item is invalid, naming the item, and generates none of it', async () => {
    const harness = createHarness({ env: LIMITS });
    const result = await harness.execute(GenerationsDocument, { inputs: [{ prompt: 'fine' }, { prompt: '' }] });
    await expectRefused(harness, result, /inputs\[1\]: prompt must not be empty/);
  });

  it('gives BAD_USER_INPUT with HTTP 400 to variables of the wrong type', async () => {
    const harness = createHarness({ env: LIMITS });
    const result = await harness.execute(GenerationDocument, { input: { prompt: 5 as unknown as string } });
    expect(result.status).toBe(400);
    await expectRefused(harness, result, /String cannot represent a non string value/);
  });
});

/**
 * The limits on inputs and the request errors of an operation, on every door it comes in by (the
 * fast lane, Yoga's POST and GET, SSE, graphql-ws): just under is served, just over refused with
 * the same code, and nothing is generated for a refusal.
 */
describe.each(TRANSPORTS)('bad input over %s', (transport) => {
  let harness: Harness;
  let server: Listening;
  beforeAll(async () => {
    harness = createHarness({ env: LIMITS });
    server = await listen(harness);
  });
  afterAll(() => server.close());

  const generation = print(GenerationDocument);
  const generations = print(GenerationsDocument);
  let prompts = 0;
  /** A prompt no other case of this transport asked for, so that each accepted case generates. */
  const fresh = (length = 8) => `${transport}-${++prompts}-`.padEnd(length, 'p');

  it.each([
    ['a prompt at the length limit, and one over it', { input: { prompt: 'at' } }, { input: { prompt: 'over' } }, /prompt is 101 characters; the limit is 100/],
    ['parameters at the byte limit, and one byte over it', { input: { parameters: 51 } }, { input: { parameters: 52 } }, /parameters are 65 bytes as JSON; the limit is 64/],
    ['a generations list at the limit, and one over it', { inputs: 5 }, { inputs: 6 }, /inputs has 6 items; the limit is 5/],
  ])('%s', async (_case, under, over, message) => {
    // Made here, per transport: the prompts must be new to the cache.
    const variablesOf = (shape: Record<string, unknown>): Record<string, unknown> => {
      if ('inputs' in shape) return { inputs: Array.from({ length: shape['inputs'] as number }, () => ({ prompt: fresh() })) };
      const input = shape['input'] as { prompt?: string; parameters?: number };
      if (input.prompt !== undefined) return { input: { prompt: fresh(input.prompt === 'at' ? 100 : 101) } };
      return { input: { prompt: fresh(), parameters: { stop: ['s'.repeat(input.parameters!)] } } };
    };
    const query = 'inputs' in under ? generations : generation;
    const calls = harness.generator.calls.length;
    const served = await send(transport, server.url, { query, variables: variablesOf(under) });
    const afterServed = harness.generator.calls.length;
    const refused = await send(transport, server.url, { query, variables: variablesOf(over) });

    expect(served.errors).toBeUndefined();
    expect(afterServed).toBeGreaterThan(calls);
    expect(codesOf(refused)).toEqual(['BAD_USER_INPUT']);
    expect(refused.errors?.[0]?.message).toMatch(message);
    expect(harness.generator.calls).toHaveLength(afterServed);
  });

  it.each([
    ['a variable of the wrong type', { query: generation, variables: { input: { prompt: 5 } } }, 'BAD_USER_INPUT', /String cannot represent a non string value/],
    ['a required variable left out', { query: generation }, 'BAD_USER_INPUT', /of required type "GenerationInput!" was not provided/],
    ['an operation name the document does not have', { query: generation, operationName: 'Nope', variables: { input: { prompt: 'x' } } }, 'OPERATION_RESOLUTION_FAILURE', /Could not determine what operation to execute/],
  ])('refuses %s with its code, generating nothing', async (_case, params, code, message) => {
    const calls = harness.generator.calls.length;
    const refused = await send(transport, server.url, params);

    expect(codesOf(refused)).toEqual([code]);
    expect(refused.errors?.[0]?.message).toMatch(message);
    expect(refused.data ?? undefined).toBeUndefined();
    expect(harness.generator.calls).toHaveLength(calls);
  });
});

describe('parameters of a GET or a form POST that are not JSON', () => {
  const query = 'query ($input: GenerationInput!) { generation(input: $input) { key } }';

  it.each([
    ['variables', { query, variables: 'not json' }],
    ['extensions', { query: '{ cacheConfig { enabled } }', extensions: '{"persistedQuery":' }],
  ])('refuses %s that are not JSON with 400 BAD_REQUEST, logging no fault, and serves the same parameters as JSON', async (_name, params) => {
    const { logger, lines } = captureLogs('info');
    const harness = createHarness({ logger });
    const url = await serve(harness);
    const search = new URLSearchParams(params);
    const form = { 'content-type': 'application/x-www-form-urlencoded', 'x-graphql-yoga-csrf': '1', accept: 'application/graphql-response+json' };

    const byGet = await fetch(`${url}?${search}`, { headers: { accept: 'application/graphql-response+json' } });
    const byForm = await rawPost(url, search.toString(), form);

    for (const [status, body] of [[byGet.status, await byGet.text()], [byForm.status, byForm.body]] as const) {
      expect(status).toBe(400);
      expect(JSON.parse(body)).toEqual({ errors: [{ message: 'The "variables" or "extensions" parameter is not valid JSON.', extensions: { code: 'BAD_REQUEST' } }] });
    }
    expect(harness.generator.calls).toHaveLength(0);
    expect(lines.filter((line) => (line['level'] as number) >= 50)).toEqual([]);
    const valid = await fetch(`${url}?${new URLSearchParams({ query, variables: JSON.stringify({ input: { prompt: 'fine' } }) })}`);
    expect(valid.status).toBe(200);
  });
});

/**
 * Parameters that are not what GraphQL over HTTP asks for, in a JSON body (the fast lane, Yoga, a
 * request for SSE): the codes the README's error table gives them. graphql-ws clients cannot send
 * these; its protocol refuses such a message.
 */
describe.each(['lane', 'yoga', 'sse'] as const)('malformed GraphQL parameters over %s', (transport) => {
  it.each([
    ['a query that is not a string', { query: 5 }, 'BAD_REQUEST'],
    ['variables that are not an object', { query: '{ cacheConfig { enabled } }', variables: [1] }, 'BAD_REQUEST'],
    ['extensions that are not an object', { query: '{ cacheConfig { enabled } }', extensions: 'x' }, 'BAD_REQUEST'],
    ['several operations and none named', { query: 'query A { cacheConfig { enabled } } query B { cacheConfig { enabled } }' }, 'OPERATION_RESOLUTION_FAILURE'],
  ])('refuses %s with 400 and its code', async (_case, params, code) => {
    const url = await serve(createHarness());

    const refused = await send(transport, url, params);

    expect(refused.status).toBe(400);
    expect(codesOf(refused)).toEqual([code]);
  });
});
