import { getIntrospectionQuery, Lexer, Source, TokenKind } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JsonObject } from '../src/generation/generator.js';
import { SECURITY_LIMITS } from '../src/plugins/use-security-limits.js';
import { createHarness, listen, type Harness, type Listening } from './helpers/harness.js';
import { codesOf, send, TRANSPORTS, type Transport, type TransportResult } from './helpers/transports.js';

/**
 * Each limit just under and just over, on every door a document comes in by: the fast lane,
 * Yoga's HTTP handling (POST and GET), SSE and graphql-ws. Over graphql-ws a refusal is the
 * operation's `error` message, with the same codes, and the connection stays open.
 */

/** Lexical tokens of a document, as the parser sees them. */
function tokens(query: string): number {
  const lexer = new Lexer(new Source(query));
  let count = 0;
  while (lexer.advance().kind !== TokenKind.EOF) count++;
  return count;
}

const aliased = (count: number) => `{ ${Array.from({ length: count }, (_, i) => `a${i}: cacheConfig { maxEntries }`).join(' ')} }`;
const nested = (depth: number) => `{ ${Array.from({ length: depth }, (_, i) => `f${i} {`).join(' ')} leaf ${'} '.repeat(depth)}}`;
const directed = (count: number) => `{ ${Array.from({ length: count }, () => '__typename @skip(if: false)').join(' ')} }`;
/** A valid generation whose parameters hold a list long enough for `total` tokens in all. */
function withTokens(total: number): string {
  const base = (items: number) => `{ generation(input: {prompt: "tokens", parameters: {list: [${'1 '.repeat(items)}]}}) { key } }`;
  const items = total - tokens(base(0));
  const query = base(items);
  expect(tokens(query)).toBe(total);
  return query;
}

/** The HTTP transports answer a refused document with 400; SSE's answer is an event, graphql-ws has none. */
const REFUSAL_STATUS: Record<Transport, number | undefined> = { lane: 400, yoga: 400, get: 400, sse: undefined, 'graphql-ws': 0 };

function expectRefused(transport: Transport, result: TransportResult, code: string, message: string): void {
  expect(codesOf(result)).toEqual([code]);
  expect(result.errors?.[0]?.message).toContain(message);
  expect(result.data ?? undefined).toBeUndefined();
  if (REFUSAL_STATUS[transport] !== undefined) expect(result.status).toBe(REFUSAL_STATUS[transport]);
}

describe.each(TRANSPORTS)('security limits on the shape of an operation, over %s', (transport) => {
  let harness: Harness;
  let server: Listening;
  const ask = (query: string) => send(transport, server.url, { query });

  beforeAll(async () => {
    // A generator with a list parameter, as some take a list of token ids: the token limit's case.
    harness = createHarness({ parameters: z.strictObject({ list: z.array(z.int()).optional() }) as z.ZodType<JsonObject> });
    server = await listen(harness);
  });
  afterAll(() => server.close());

  it(`serves ${SECURITY_LIMITS.aliases} aliases and refuses ${SECURITY_LIMITS.aliases + 1} as BAD_USER_INPUT`, async () => {
    const served = await ask(aliased(SECURITY_LIMITS.aliases));
    const refused = await ask(aliased(SECURITY_LIMITS.aliases + 1));

    expect(served.errors).toBeUndefined();
    expect(Object.keys(served.data as object)).toHaveLength(SECURITY_LIMITS.aliases);
    expectRefused(transport, refused, 'BAD_USER_INPUT', `Aliases limit of ${SECURITY_LIMITS.aliases} exceeded`);
  });

  it(`refuses fields nested deeper than ${SECURITY_LIMITS.depth}, and only those`, async () => {
    const atLimit = await ask(nested(SECURITY_LIMITS.depth - 1));
    const over = await ask(nested(SECURITY_LIMITS.depth));

    // At the limit the (made-up) fields fail ordinary validation; the depth limit says nothing.
    expect(codesOf(atLimit).length).toBeGreaterThan(0);
    expect(codesOf(atLimit).every((code) => code === 'GRAPHQL_VALIDATION_FAILED')).toBe(true);
    expect(atLimit.errors?.some((error) => error.message.includes('depth limit'))).toBe(false);
    expectRefused(transport, over, 'BAD_USER_INPUT', `depth limit of ${SECURITY_LIMITS.depth} exceeded`);
  });

  it('leaves the deepest real operation and introspection (GraphiQL needs it) alone', async () => {
    const deepest = await ask('{ cacheEntries { edges { node { generation { key } } } } }');
    const introspection = await ask(getIntrospectionQuery());

    // A loopback client may use the admin surface while no token is set.
    expect(deepest.errors).toBeUndefined();
    expect(deepest.data).toEqual({ cacheEntries: { edges: expect.any(Array) as unknown } });
    expect(introspection.errors).toBeUndefined();
  });

  it(`serves a document of ${SECURITY_LIMITS.tokens} tokens and refuses one of ${SECURITY_LIMITS.tokens + 1}, generating nothing for it`, async () => {
    const served = await ask(withTokens(SECURITY_LIMITS.tokens));
    const calls = harness.generator.calls.length;
    const refused = await ask(withTokens(SECURITY_LIMITS.tokens + 1));

    expect(served.errors).toBeUndefined();
    expect(served.data).toEqual({ generation: { key: expect.any(String) as unknown } });
    // A parse failure, coded as Yoga codes every parse failure.
    expectRefused(transport, refused, 'GRAPHQL_PARSE_FAILED', `Token limit of ${SECURITY_LIMITS.tokens} exceeded`);
    expect(harness.generator.calls).toHaveLength(calls);
  });

  it(`serves ${SECURITY_LIMITS.directives} directives and refuses ${SECURITY_LIMITS.directives + 1}`, async () => {
    const served = await ask(directed(SECURITY_LIMITS.directives));
    const refused = await ask(directed(SECURITY_LIMITS.directives + 1));

    expect(served.errors).toBeUndefined();
    expectRefused(transport, refused, 'BAD_USER_INPUT', `Directives limit of ${SECURITY_LIMITS.directives} exceeded`);
  });

  it('refuses a document that does not parse as GRAPHQL_PARSE_FAILED', async () => {
    const refused = await ask('{ cacheConfig { maxEntries }');

    expectRefused(transport, refused, 'GRAPHQL_PARSE_FAILED', 'Syntax Error');
  });
});

describe('a document refused over one transport', () => {
  it.each([
    ['that does not parse', '{ cacheConfig { maxEntries } ', 'GRAPHQL_PARSE_FAILED'],
    ['over the token limit', withTokens(SECURITY_LIMITS.tokens + 1), 'GRAPHQL_PARSE_FAILED'],
  ])('%s gets the same code over the others afterwards, whatever came first (Yoga caches the parse error)', async (_case, query, code) => {
    const server = await listen(createHarness());
    try {
      for (const transport of ['graphql-ws', ...TRANSPORTS.filter((each) => each !== 'graphql-ws')] as Transport[]) {
        expect(codesOf(await send(transport, server.url, { query })), transport).toEqual([code]);
      }
    } finally {
      await server.close();
    }
  });
});
