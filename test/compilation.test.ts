import { parse } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isCompilable } from '../src/compilation.js';
import { schema } from '../src/schema/index.js';
import { createHarness, listen, type Harness, type Listening } from './helpers/harness.js';

describe('which documents run compiled', () => {
  it.each([
    ['variables only', 'query Q($input: GenerationInput!) { generation(input: $input) { output } }', true],
    ['an inline prompt', '{ generation(input: {prompt: "p"}) { output } }', true],
    ['JSON parameters as a variable', 'query Q($p: JSON) { generation(input: {prompt: "p", parameters: $p}) { output } }', true],
    ['an inline JSON literal', '{ generation(input: {prompt: "p", parameters: {seed: 1}}) { output } }', false],
    ['a variable inside a JSON literal', 'query Q($s: Int) { generation(input: {prompt: "p", parameters: {seed: $s}}) { output } }', false],
    ['an inline JSON scalar', '{ generation(input: {prompt: "p", parameters: 5}) { output } }', false],
    ['a JSON literal inside a list', '{ generations(inputs: [{prompt: "p"}, {prompt: "q", parameters: {a: [1]}}]) { output } }', false],
    ['two operations', 'query A { cacheConfig { enabled } } query B { cacheConfig { enabled } }', false],
    ['a query with fragments', 'query Q { cacheConfig { ...F } } fragment F on CacheConfig { enabled }', true],
    ['a mutation', 'mutation { clearCache { removed } }', false],
    ['a subscription', 'subscription { cacheStats(intervalMs: 250) { hits } }', false],
  ])('%s: %s', (_name, source, expected) => {
    expect(isCompilable(schema, parse(source))).toBe(expected);
  });
});

describe('a variable inside a JSON literal', () => {
  let harness: Harness;
  let server: Listening;
  beforeAll(async () => {
    harness = createHarness();
    server = await listen(harness);
  });
  afterAll(async () => {
    await server.close();
  });

  const generate = async (query: string, variables?: Record<string, unknown>) => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const { data } = (await response.json()) as { data: { generation: { key: string; parameters: Record<string, unknown> } } };
    return data.generation;
  };
  const withVariable = 'query Q($s: Int) { generation(input: {prompt: "seeded", parameters: {seed: $s}}) { key parameters } }';

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('takes the variable into the parameters and the key, every time, without a warning', async () => {
    const errors = vi.spyOn(console, 'error');
    const serve = vi.spyOn(harness.fastLane!, 'serve');

    const five = [await generate(withVariable, { s: 5 }), await generate(withVariable, { s: 5 })];
    const six = await generate(withVariable, { s: 6 });
    const inline = await generate('{ generation(input: {prompt: "seeded", parameters: {seed: 5}}) { key parameters } }');
    const variablesOnly = 'query Q($p: JSON) { generation(input: {prompt: "seeded", parameters: $p}) { key parameters } }';
    const asVariable = [await generate(variablesOnly, { p: { seed: 5 } }), await generate(variablesOnly, { p: { seed: 5 } })];

    expect(five[0]!.parameters).toMatchObject({ seed: 5 });
    expect(six.parameters).toMatchObject({ seed: 6 });
    expect(new Set([...five, inline, ...asVariable].map((generation) => generation.key)).size).toBe(1);
    expect(six.key).not.toBe(five[0]!.key);
    expect(harness.generator.calls.map((call) => call.parameters)).toEqual([expect.objectContaining({ seed: 5 }), expect.objectContaining({ seed: 6 })]);
    // Every request took the fast lane, which runs each document as Yoga does.
    expect(await Promise.all(serve.mock.results.map((result) => result.value))).toEqual(Array(6).fill(true));
    expect(errors).not.toHaveBeenCalled();
  });
});
