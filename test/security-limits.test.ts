import { getIntrospectionQuery, Lexer, Source, TokenKind } from 'graphql';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JsonObject } from '../src/generation/generator.js';
import { SECURITY_LIMITS } from '../src/plugins/use-security-limits.js';
import { createHarness, type Harness } from './helpers/harness.js';

interface Answer {
  readonly status: number;
  readonly body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
}

async function send(harness: Harness, query: string): Promise<Answer> {
  const response = await harness.yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

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

const refusal = (answer: Answer) => ({ status: answer.status, codes: answer.body.errors?.map((error) => error.extensions?.code) });

describe('security limits on the shape of an operation', () => {
  it(`serves ${SECURITY_LIMITS.aliases} aliases and refuses ${SECURITY_LIMITS.aliases + 1} as BAD_USER_INPUT`, async () => {
    const harness = createHarness();

    const served = await send(harness, aliased(SECURITY_LIMITS.aliases));
    const refused = await send(harness, aliased(SECURITY_LIMITS.aliases + 1));

    expect(served.body.errors).toBeUndefined();
    expect(Object.keys(served.body.data as object)).toHaveLength(SECURITY_LIMITS.aliases);
    expect(refusal(refused)).toEqual({ status: 400, codes: ['BAD_USER_INPUT'] });
    expect(refused.body.errors?.[0]?.message).toContain(`Aliases limit of ${SECURITY_LIMITS.aliases} exceeded`);
  });

  it(`refuses fields nested deeper than ${SECURITY_LIMITS.depth}, and only those`, async () => {
    const harness = createHarness();

    const atLimit = await send(harness, nested(SECURITY_LIMITS.depth - 1));
    const over = await send(harness, nested(SECURITY_LIMITS.depth));

    // At the limit the (made-up) fields fail ordinary validation; the depth limit says nothing.
    expect(atLimit.body.errors?.some((error) => error.message.includes('depth limit'))).toBe(false);
    expect(refusal(over)).toEqual({ status: 400, codes: ['BAD_USER_INPUT'] });
    expect(over.body.errors?.[0]?.message).toContain(`depth limit of ${SECURITY_LIMITS.depth} exceeded`);
  });

  it('leaves the deepest real operation and introspection (GraphiQL needs it) alone', async () => {
    const harness = createHarness();
    const deepest = await send(harness, '{ cacheEntries { edges { node { generation { key } } } } }');
    const introspection = await send(harness, getIntrospectionQuery());

    // cacheEntries is an admin field: refused for want of a token, not for depth.
    expect(deepest.body.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(introspection.body.errors).toBeUndefined();
  });

  it(`serves a document of ${SECURITY_LIMITS.tokens} tokens and refuses one of ${SECURITY_LIMITS.tokens + 1}`, async () => {
    // A generator with a list parameter, as some take a list of token ids.
    const harness = createHarness({ parameters: z.strictObject({ list: z.array(z.int()).optional() }) as z.ZodType<JsonObject> });

    const served = await send(harness, withTokens(SECURITY_LIMITS.tokens));
    const refused = await send(harness, withTokens(SECURITY_LIMITS.tokens + 1));

    expect(served.body.errors).toBeUndefined();
    // A parse failure, coded as Yoga codes every parse failure.
    expect(refused.body.errors?.[0]?.message).toContain(`Token limit of ${SECURITY_LIMITS.tokens} exceeded`);
    expect(refused.body.errors?.map((error) => error.extensions?.code)).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(harness.generator.calls).toHaveLength(1);
  });

  it(`serves ${SECURITY_LIMITS.directives} directives and refuses ${SECURITY_LIMITS.directives + 1}`, async () => {
    const harness = createHarness();

    const served = await send(harness, directed(SECURITY_LIMITS.directives));
    const refused = await send(harness, directed(SECURITY_LIMITS.directives + 1));

    expect(served.body.errors).toBeUndefined();
    expect(refusal(refused)).toEqual({ status: 400, codes: ['BAD_USER_INPUT'] });
  });
});
