import { describe, expect, it } from 'vitest';
import { CacheStatsDocument } from '../src/generated/graphql.js';
import { toGenerationRequest } from '../src/generation/request.js';
import { SIMULATED_MAX_TOKENS, SimulatedGenerator } from '../src/generation/simulated-generator.js';
import { testConfig } from './helpers/config.js';
import { createHarness, dataOf, serve, type Harness } from './helpers/harness.js';
import { codesOf, send, TRANSPORTS, type Transport, type TransportResult } from './helpers/transports.js';

const LIMIT = 1024;
const simulated = new SimulatedGenerator({ latencyMs: 0 });
const { limits } = testConfig();

/** UTF-8 bytes of the simulated generator's output for a prompt and a maxTokens. */
async function outputBytes(prompt: string, maxTokens: number): Promise<number> {
  const request = toGenerationRequest({ prompt, parameters: { maxTokens } }, simulated, limits);
  return Buffer.byteLength((await simulated.generate(request, new AbortController().signal)).output);
}

/** A maxTokens whose output fits `limit` bytes exactly or just under, where one more word does not. */
async function edgeOf(prompt: string, limit: number): Promise<number> {
  for (let maxTokens = 1; maxTokens < SIMULATED_MAX_TOKENS; maxTokens++) {
    if ((await outputBytes(prompt, maxTokens)) <= limit && (await outputBytes(prompt, maxTokens + 1)) > limit) return maxTokens;
  }
  throw new Error(`no edge at ${limit} bytes`);
}

type Send = (query: string, variables?: Record<string, unknown>) => Promise<TransportResult>;

/** Sends queries to the served harness over one transport. */
async function doorOf(harness: Harness, transport: Transport): Promise<Send> {
  const url = await serve(harness);
  return (query, variables = {}) => send(transport, url, { query, variables });
}

/** A result with errors is still 200 over HTTP (graphql-ws has no status). */
const okStatus = (transport: Transport) => (transport === 'graphql-ws' ? 0 : 200);

const GENERATION = 'query ($input: GenerationInput!) { generation(input: $input) { key output cacheStatus } }';

describe('the output limit (MAX_OUTPUT_BYTES)', () => {
  it.each(TRANSPORTS)('serves and stores an output of at most the limit, and refuses a longer one with RESPONSE_TOO_LARGE, unstored (%s)', async (door) => {
    const harness = createHarness({ env: { MAX_OUTPUT_BYTES: String(LIMIT) } });
    const prompt = `edge over ${door}`;
    const edge = await edgeOf(prompt, LIMIT);
    const ask = await doorOf(harness, door);

    const fits = await ask(GENERATION, { input: { prompt, parameters: { maxTokens: edge } } });
    const tooLong = await ask(GENERATION, { input: { prompt, parameters: { maxTokens: edge + 1 } } });
    const again = await ask(GENERATION, { input: { prompt, parameters: { maxTokens: edge + 1 } } });

    expect(fits.errors).toBeUndefined();
    expect(Buffer.byteLength((fits.data?.['generation'] as { output: string }).output)).toBeLessThanOrEqual(LIMIT);
    for (const refused of [tooLong, again]) {
      expect(refused.status).toBe(okStatus(door));
      expect(refused.data).toEqual({ generation: null });
      expect(codesOf(refused)).toEqual(['RESPONSE_TOO_LARGE']);
      // Streamed, the generation is stopped as soon as it passes the limit.
      expect(refused.errors?.[0]?.message).toMatch(new RegExp(`^the generation's output is (at least )?\\d+ bytes; the limit is ${LIMIT}$`));
    }
    // Each refused output was generated, counted as a failure, and never stored.
    expect(harness.generator.calls).toHaveLength(3);
    expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ entries: 1, generations: 3, generationErrors: 2 });
  });
});

describe('the response limit (MAX_RESPONSE_BYTES)', () => {
  /** `count` aliases of one generation, each selecting its output. */
  const aliases = (count: number) =>
    `query ($input: GenerationInput!) { ${Array.from({ length: count }, (_, i) => `a${i}: generation(input: $input) { output }`).join(' ')} }`;

  it.each(TRANSPORTS)('serves outputs adding up to the limit, and answers the one past it RESPONSE_TOO_LARGE (%s)', async (door) => {
    const harness = createHarness({ env: { MAX_RESPONSE_BYTES: String(LIMIT) } });
    const input = { prompt: `response over ${door}`, parameters: { maxTokens: 20 } };
    const bytes = await outputBytes(input.prompt, 20);
    const fit = Math.floor(LIMIT / bytes);
    const ask = await doorOf(harness, door);

    const atLimit = await ask(aliases(fit), { input });
    const over = await ask(aliases(fit + 1), { input });

    expect(atLimit.errors).toBeUndefined();
    expect(Object.values(atLimit.data ?? {}).filter((value) => value !== null)).toHaveLength(fit);
    expect(over.status).toBe(okStatus(door));
    expect(codesOf(over)).toEqual(['RESPONSE_TOO_LARGE']);
    expect(over.errors?.[0]?.message).toBe(`the outputs of this response pass ${LIMIT} bytes; ask for fewer generations at once`);
    expect(Object.values(over.data ?? {}).filter((value) => value !== null)).toHaveLength(fit);
    // One generation for both operations; the limit refuses bytes, not work.
    expect(harness.generator.calls).toHaveLength(1);
  });

  it('counts bytes, not characters: outputs of multi-byte text', async () => {
    const harness = createHarness({ env: { MAX_RESPONSE_BYTES: String(LIMIT) } });
    // A prompt cached with a long non-ASCII output: 400 three-byte characters are 1200 bytes.
    await harness.cache.set({
      key: toGenerationRequest({ prompt: 'wide' }, simulated, limits).key,
      prompt: 'wide',
      model: 'sim-1',
      parameters: { maxTokens: 64, temperature: 0.7 },
      output: '語'.repeat(400),
      contentType: 'text/plain',
      createdAt: 0,
      generationMs: 1,
    });

    const ask = await doorOf(harness, 'lane');
    const result = await ask(GENERATION, { input: { prompt: 'wide' } });

    expect(codesOf(result)).toEqual(['RESPONSE_TOO_LARGE']);
    expect(harness.generator.calls).toHaveLength(0);
  });

  it(`holds the default limits against ${SIMULATED_MAX_TOKENS} words times a full list`, async () => {
    const harness = createHarness();
    const inputs = Array.from({ length: 100 }, (_, i) => ({ prompt: `long ${i}`, parameters: { maxTokens: SIMULATED_MAX_TOKENS } }));

    const ask = await doorOf(harness, 'lane');
    const result = await ask('query ($inputs: [GenerationInput!]!) { generations(inputs: $inputs) { output } }', { inputs });

    expect(result.errors).toBeUndefined();
    expect(result.data?.['generations']).toHaveLength(100);
    const refused = await ask(GENERATION, { input: { prompt: 'x', parameters: { maxTokens: 1_000_000 } } });
    expect(codesOf(refused)).toEqual(['BAD_USER_INPUT']);
  });
});
