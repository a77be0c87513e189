import { parse } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import { countGenerations } from '../src/plugins/use-generation-limit.js';
import { createHarness, serve, type Harness } from './helpers/harness.js';
import { rawPost } from './helpers/http.js';
import { codesOf, send, type Transport } from './helpers/transports.js';

const LIMIT = 5;

/** `count` aliases of `field`, each a generation of its own prompt. */
const aliases = (count: number, field = 'generation', operation = 'query') =>
  `${operation} { ${Array.from({ length: count }, (_, i) => `g${i}: ${field}(input: {prompt: "alias ${i}"}) { key }`).join(' ')} }`;
const listOf = (count: number) => Array.from({ length: count }, (_, i) => ({ prompt: `item ${i}` }));
const LIST_QUERY = 'query ($inputs: [GenerationInput!]!) { generations(inputs: $inputs) { key } }';

interface Answer {
  readonly status: number;
  readonly codes: unknown[];
  readonly message: string | undefined;
}

describe('countGenerations', () => {
  it.each([
    ['one generation', '{ generation(input: {prompt: "a"}) { key } }', {}, 1],
    ['aliases', aliases(7), {}, 7],
    ['a literal list', '{ generations(inputs: [{prompt: "a"}, {prompt: "b"}, {prompt: "c"}]) { key } }', {}, 3],
    ['a list variable', LIST_QUERY, { inputs: listOf(12) }, 12],
    ['a single value for a list variable', LIST_QUERY, { inputs: { prompt: 'a' } }, 1],
    ['fields through fragments', 'query { ...A ... on Query { b: generation(input: {prompt: "b"}) { key } } } fragment A on Query { a: generation(input: {prompt: "a"}) { key } }', {}, 2],
    ['generate mutations', aliases(3, 'generate', 'mutation'), {}, 3],
    ['a generationStream subscription', 'subscription { generationStream(input: {prompt: "a"}) { delta } }', {}, 1],
    ['stored generations of cache entries, which generate nothing', '{ cacheEntries { edges { node { generation { output } } } } }', {}, 0],
  ])('counts %s', (_name, source, variables, expected) => {
    expect(countGenerations(parse(source), undefined, variables)).toBe(expected);
  });

  it('counts the operation that operationName chooses, not the document', () => {
    const document = parse(`query Small { generation(input: {prompt: "a"}) { key } } ${aliases(9).replace('query', 'query Big')}`);

    expect(countGenerations(document, 'Small', {})).toBe(1);
    expect(countGenerations(document, 'Big', {})).toBe(9);
  });
});

describe.each([
  ['the fast lane', true],
  ["Yoga's adapter", false],
])('MAX_GENERATIONS_PER_OPERATION over HTTP, through %s', (_path, fastLane) => {
  async function setup(): Promise<{ harness: Harness; ask: (query: string, variables?: unknown) => Promise<Answer> }> {
    const harness = createHarness({ env: { MAX_GENERATIONS_PER_OPERATION: String(LIMIT) }, fastLane });
    const url = await serve(harness);
    const serveSpy = harness.fastLane && vi.spyOn(harness.fastLane, 'serve');
    const ask = async (query: string, variables?: unknown) => {
      const response = await rawPost(url, JSON.stringify({ query, variables }), { 'content-type': 'application/json' });
      const body = JSON.parse(response.body) as { errors?: { message: string; extensions?: { code?: string } }[] };
      if (serveSpy) expect(serveSpy).toHaveBeenCalled();
      return { status: response.status, codes: (body.errors ?? []).map((error) => error.extensions?.code), message: body.errors?.[0]?.message };
    };
    return { harness, ask };
  }

  it('runs an operation of exactly the limit, as aliases', async () => {
    const { harness, ask } = await setup();
    expect((await ask(aliases(LIMIT))).codes).toEqual([]);
    expect(harness.generator.calls).toHaveLength(LIMIT);
  });

  it.each([
    ['aliases', aliases(LIMIT + 1), undefined],
    ['a list', LIST_QUERY, { inputs: listOf(LIMIT + 1) }],
    ['aliases and a list together', `query ($inputs: [GenerationInput!]!) { a: generation(input: {prompt: "a"}) { key } list: generations(inputs: $inputs) { key } }`, { inputs: listOf(LIMIT) }],
    ['generate mutations', aliases(LIMIT + 1, 'generate', 'mutation'), undefined],
  ])('refuses one generation over the limit, asked through %s, with BAD_USER_INPUT, generating nothing', async (_name, query, variables) => {
    const { harness, ask } = await setup();

    const answer = await ask(query, variables);

    expect(answer.codes).toEqual(['BAD_USER_INPUT']);
    expect(answer.message).toBe(`the operation asks for ${LIMIT + 1} generations; the limit is ${LIMIT} an operation`);
    expect(harness.generator.calls).toHaveLength(0);
    expect(harness.service.stats()).toMatchObject({ generations: 0, misses: 0, entries: 0 });
  });
});

describe.each<Transport>(['get', 'sse', 'graphql-ws'])('MAX_GENERATIONS_PER_OPERATION over %s', (transport) => {
  it('refuses an operation one over the limit, generating nothing, and runs one of exactly the limit', async () => {
    const harness = createHarness({ env: { MAX_GENERATIONS_PER_OPERATION: String(LIMIT) } });
    const url = await serve(harness);

    const over = await send(transport, url, { query: aliases(LIMIT + 1) });
    expect(codesOf(over)).toEqual(['BAD_USER_INPUT']);
    expect(over.errors?.[0]?.message).toBe(`the operation asks for ${LIMIT + 1} generations; the limit is ${LIMIT} an operation`);
    expect(harness.generator.calls).toHaveLength(0);

    const within = await send(transport, url, { query: aliases(LIMIT) });
    expect(within.errors).toBeUndefined();
    expect(harness.generator.calls).toHaveLength(LIMIT);
  });
});
