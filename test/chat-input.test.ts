import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessage } from '../src/generation/generator.js';
import { MAX_MESSAGES } from '../src/generation/limits.js';
import { toGenerationRequest, type GenerationInput } from '../src/generation/request.js';
import { SimulatedGenerator } from '../src/generation/simulated-generator.js';
import { CacheStatsDocument, GenerationDocument, GenerationStreamDocument } from '../src/generated/graphql.js';
import { testConfig } from './helpers/config.js';
import { createHarness, dataOf, errorCodes, listen, serve, type Harness, type OperationResult } from './helpers/harness.js';
import { subscribe } from './helpers/subscribers.js';

const generator = new SimulatedGenerator({ latencyMs: 0 });
const { limits } = testConfig();
const keyOf = (input: GenerationInput): string => toGenerationRequest(input, generator, limits).key;
const user = (content: string): ChatMessage => ({ role: 'USER', content });

describe('chat input keys', () => {
  it('keys a prompt and a chat of that one USER message alike, with the same output', async () => {
    const prompt = toGenerationRequest({ prompt: 'x' }, generator, limits);
    const chat = toGenerationRequest({ messages: [user('x')] }, generator, limits);

    expect(chat.key).toBe(prompt.key);
    expect({ ...chat, messages: [...chat.messages] }).toEqual({ ...prompt, messages: [...prompt.messages] });
    const signal = new AbortController().signal;
    expect((await generator.generate(chat, signal)).output).toBe((await generator.generate(prompt, signal)).output);
  });

  it("keeps a prompt's key as it was: the canonical JSON of model, parameters and prompt", () => {
    const request = toGenerationRequest({ prompt: 'x' }, generator, limits);
    expect(request).toMatchObject({ prompt: 'x', messages: [user('x')], chat: false });
    const other = toGenerationRequest({ messages: [{ role: 'SYSTEM', content: 'x' }] }, generator, limits);
    expect(other.key).not.toBe(request.key);
  });

  it('gives different roles, orders and splits different keys', () => {
    const keys = [
      keyOf({ messages: [{ role: 'SYSTEM', content: 'a' }, user('b')] }),
      keyOf({ messages: [user('a'), user('b')] }),
      keyOf({ messages: [{ role: 'ASSISTANT', content: 'a' }, user('b')] }),
      keyOf({ messages: [user('b'), { role: 'SYSTEM', content: 'a' }] }),
      keyOf({ messages: [{ role: 'SYSTEM', content: 'ab' }] }),
      keyOf({ messages: [user('ab')] }),
      keyOf({ messages: [user('a'), user('b'), user('b')] }),
      keyOf({ prompt: 'b' }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keys a chat by its roles and contents only', () => {
    const extra = { role: 'USER', content: 'b', name: 'ignored' } as ChatMessage;
    expect(keyOf({ messages: [{ role: 'SYSTEM', content: 'a' }, extra] })).toBe(keyOf({ messages: [{ role: 'SYSTEM', content: 'a' }, user('b')] }));
  });

  it("takes the last USER message as a chat's prompt, else its last message", () => {
    expect(toGenerationRequest({ messages: [user('a'), { role: 'ASSISTANT', content: 'b' }] }, generator, limits).prompt).toBe('a');
    expect(toGenerationRequest({ messages: [{ role: 'SYSTEM', content: 's' }] }, generator, limits).prompt).toBe('s');
  });
});

const LIMITS = { MAX_PROMPT_LENGTH: '100' };

/** Asserts one BAD_USER_INPUT matching the message, and that nothing was generated or stored. */
async function expectRefused(harness: Harness, result: OperationResult<unknown>, message: RegExp): Promise<void> {
  expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
  expect(result.errors?.[0]?.message).toMatch(message);
  expect(harness.generator.calls).toHaveLength(0);
  expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats).toMatchObject({ entries: 0, misses: 0 });
}

function expectAccepted(result: OperationResult<unknown>): void {
  expect(result.errors).toBeUndefined();
  expect(result.status).toBe(200);
}

interface WithMessages {
  generation: { key: string; prompt: string; output: string; cacheStatus: string; messages: ChatMessage[] | null } | null;
}
const WithMessagesDocument: TypedDocumentNode<WithMessages, { input: GenerationInput }> = parse(
  'query WithMessages($input: GenerationInput!) { generation(input: $input) { key prompt output cacheStatus messages { role content } } }',
);

describe('chat input through Yoga', () => {
  it.each([
    ['both prompt and messages', { prompt: 'x', messages: [user('x')] }, /give either prompt or messages, not both/],
    ['neither prompt nor messages', {}, /give either prompt or messages$/],
    ['null for both', { prompt: null, messages: null }, /give either prompt or messages$/],
    ['an empty list of messages', { messages: [] }, /messages must not be empty/],
    ['an empty message', { messages: [user('a'), { role: 'ASSISTANT' as const, content: ' \n' }] }, /messages\[1\]\.content must not be empty/],
    ['a lone surrogate', { messages: [user('a\uD800b')] }, /messages\[0\]\.content is not well-formed Unicode/],
  ] as [string, GenerationInput, RegExp][])('refuses %s', async (_name, input, message) => {
    const harness = createHarness({ env: LIMITS });
    await expectRefused(harness, await harness.execute(GenerationDocument, { input: input as never }), message);
  });

  it('accepts messages whose characters in all are at the prompt limit, and refuses one more', async () => {
    const harness = createHarness({ env: LIMITS });
    expectAccepted(await harness.execute(GenerationDocument, { input: { messages: [{ role: 'SYSTEM', content: 's'.repeat(40) }, user('u'.repeat(60))] } }));
    const over = await harness.execute(GenerationDocument, { input: { messages: [{ role: 'SYSTEM', content: 's'.repeat(41) }, user('u'.repeat(60))] } });
    expect(errorCodes(over)).toEqual(['BAD_USER_INPUT']);
    expect(over.errors?.[0]?.message).toBe('messages are 101 characters in all; the limit is 100');
  });

  it(`accepts ${MAX_MESSAGES} messages and refuses ${MAX_MESSAGES + 1}`, async () => {
    const harness = createHarness();
    const messages = (count: number) => Array.from({ length: count }, (_, i) => user(`m${i}`));
    expectAccepted(await harness.execute(GenerationDocument, { input: { messages: messages(MAX_MESSAGES) } }));
    const over = await harness.execute(GenerationDocument, { input: { messages: messages(MAX_MESSAGES + 1) } });
    expect(errorCodes(over)).toEqual(['BAD_USER_INPUT']);
    expect(over.errors?.[0]?.message).toBe(`messages has ${MAX_MESSAGES + 1} items; the limit is ${MAX_MESSAGES}`);
  });

  it('answers a chat with its messages; a prompt, and a chat of one USER message, with none, and their record keeps its JSON', async () => {
    const harness = createHarness();
    const messages: ChatMessage[] = [{ role: 'SYSTEM', content: 'Be brief.' }, user('Hi')];
    const chat = dataOf(await harness.execute(WithMessagesDocument, { input: { messages } })).generation!;
    const prompt = dataOf(await harness.execute(WithMessagesDocument, { input: { prompt: 'Hi' } })).generation!;
    const single = dataOf(await harness.execute(WithMessagesDocument, { input: { messages: [user('Hi')] } })).generation!;

    expect(chat).toMatchObject({ prompt: 'Hi', messages, cacheStatus: 'MISS' });
    expect(prompt).toMatchObject({ prompt: 'Hi', messages: null, cacheStatus: 'MISS' });
    expect(single).toMatchObject({ key: prompt.key, output: prompt.output, messages: null, cacheStatus: 'HIT' });
    expect(chat.key).not.toBe(prompt.key);
    expect(Object.keys(harness.cache.peek(prompt.key)!.record)).not.toContain('messages');
    expect(harness.cache.peek(chat.key)!.record.messages).toEqual(messages);
  });
});

describe('chat input on the fast lane', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('keys, limits and refuses as Yoga does', async () => {
    const harness = createHarness({ env: LIMITS });
    const server = await listen(harness);
    try {
      const laneServe = vi.spyOn(harness.fastLane!, 'serve');
      const post = async (input: unknown) => {
        const response = await fetch(server.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: 'query Q($input: GenerationInput!) { generation(input: $input) { key messages { role content } } }', variables: { input } }),
        });
        return (await response.json()) as OperationResult<{ generation: { key: string } | null }>;
      };

      const prompt = await post({ prompt: 'x' });
      const single = await post({ messages: [user('x')] });
      const atLimit = await post({ messages: [{ role: 'SYSTEM', content: 's'.repeat(40) }, user('u'.repeat(60))] });
      const overLimit = await post({ messages: [{ role: 'SYSTEM', content: 's'.repeat(41) }, user('u'.repeat(60))] });
      const tooMany = await post({ messages: Array.from({ length: MAX_MESSAGES + 1 }, () => user('m')) });
      const both = await post({ prompt: 'x', messages: [user('x')] });
      const neither = await post({});

      expect(dataOf(single).generation!.key).toBe(dataOf(prompt).generation!.key);
      expect(atLimit.errors).toBeUndefined();
      expect(overLimit.errors?.[0]?.message).toBe('messages are 101 characters in all; the limit is 100');
      expect(tooMany.errors?.[0]?.message).toBe(`messages has ${MAX_MESSAGES + 1} items; the limit is ${MAX_MESSAGES}`);
      expect(both.errors?.[0]?.message).toBe('give either prompt or messages, not both');
      expect(neither.errors?.[0]?.message).toBe('give either prompt or messages');
      for (const refused of [overLimit, tooMany, both, neither]) expect(errorCodes(refused)).toEqual(['BAD_USER_INPUT']);
      expect(await Promise.all(laneServe.mock.results.map((result) => result.value))).toEqual(Array(7).fill(true));
    } finally {
      await server.close();
    }
  });
});

describe('chat input on generationStream', () => {
  it('streams a chat, keyed as the query keys it', async () => {
    const harness = createHarness();
    const url = await serve(harness);
    const messages: ChatMessage[] = [{ role: 'SYSTEM', content: 'Be brief.' }, user('Stream this')];
    const subscriber = subscribe('sse', GenerationStreamDocument, { url, variables: { input: { messages } } });
    try {
      const last = await subscriber.until((result) => result.data?.generationStream.done === true);
      const query = dataOf(await harness.execute(GenerationDocument, { input: { messages } })).generation!;
      expect(last.data?.generationStream.generation).toMatchObject({ key: query.key, output: query.output, prompt: 'Stream this' });
      expect(query.cacheStatus).toBe('HIT');
      expect(harness.generator.calls).toHaveLength(1);
    } finally {
      await subscriber.close();
    }
  });
});
