import { LRUCache } from 'lru-cache';
import type { z } from 'zod';
import { MAX_MESSAGES, type InputLimits } from './limits.js';
import { canonicalJson, generationKey } from '../cache/keys.js';
import { badUserInput } from '../errors.js';
import type { ChatMessage, GenerationRequest, Generator, JsonObject } from './generator.js';

/** A client's description of a generation, before validation: a prompt or the messages of a chat. */
export interface GenerationInput {
  readonly prompt?: string | null | undefined;
  readonly messages?: readonly ChatMessage[] | null | undefined;
  readonly model?: string | null | undefined;
  readonly parameters?: unknown;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

interface PreparedParameters {
  /** The parameters as the generator's schema gives them: validated, defaults applied. */
  readonly parameters: Readonly<JsonObject>;
  readonly canonicalParameters: string;
  /** Why the parameters are refused, if they are. */
  readonly problem: string | undefined;
}

/** Parameter sets seen recently, per generator: most requests repeat a few (often `{}`). */
const PREPARED_PER_GENERATOR = 1000;
/** Characters of parameter JSON kept in that memo, per generator. */
const PREPARED_MAX_CHARS = 1_000_000;
const prepared = new WeakMap<Generator, LRUCache<string, PreparedParameters>>();

/** One of zod's issues as a sentence about the parameter it names. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const path = ['parameters', ...issue.path.map(String)].join('.');
  switch (issue.code) {
    case 'unrecognized_keys':
      return `${path} has no parameter ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
    case 'too_big':
      return `${path} must be ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}${issue.origin === 'array' ? ' items' : issue.origin === 'string' ? ' characters' : ''}`;
    case 'too_small':
      return `${path} must be ${issue.inclusive === false ? 'more than' : 'at least'} ${String(issue.minimum)}${issue.origin === 'array' ? ' items' : issue.origin === 'string' ? ' characters' : ''}`;
    case 'invalid_type':
      return `${path} must be ${issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`}`;
    default:
      return `${path}: ${issue.message}`;
  }
}

/**
 * The given parameters parsed by the generator's schema (top-level nulls dropped first: unset)
 * and canonicalised: a pure function of the given parameters, memoised.
 */
function prepareParameters(generator: Generator, given: Record<string, unknown>, givenJson: string): PreparedParameters {
  let memo = prepared.get(generator);
  if (memo === undefined) {
    memo = new LRUCache({ max: PREPARED_PER_GENERATOR, maxSize: PREPARED_MAX_CHARS, sizeCalculation: (_value, key) => key.length });
    prepared.set(generator, memo);
  }
  let result = memo.get(givenJson);
  if (result === undefined) {
    const set = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== null));
    const parsed = generator.parameters.safeParse(set);
    let parameters: Readonly<JsonObject> = Object.freeze({});
    let canonicalParameters = '';
    let problem: string | undefined;
    if (!parsed.success) {
      problem = parsed.error.issues.map(describeIssue).join('; ');
    } else {
      // Shared by every request with these parameters: frozen.
      parameters = Object.freeze(parsed.data);
      try {
        canonicalParameters = canonicalJson(parameters);
      } catch (error) {
        problem = `parameters are not valid JSON: ${(error as Error).message}`;
      }
    }
    result = { parameters, canonicalParameters, problem };
    memo.set(givenJson, result);
  }
  return result;
}

/** Keys that name an object's prototype machinery, never a parameter. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Why a JSON value cannot be a parameter, or undefined: a number that is not finite (JSON.parse
 * reads 1e400 as Infinity, which JSON.stringify would write as null, so that it would mean null),
 * a key of the prototype machinery, or objects and arrays nested deeper than the limit (which
 * would otherwise exhaust the stack of the canonicaliser). The walk stops at the limit.
 */
function unsafeJson(value: unknown, maxDepth: number, depth: number, path: string): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} must be a finite number, got ${String(value)}`;
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth > maxDepth) return `parameters nest deeper than ${maxDepth} levels`;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const problem = unsafeJson(value[index], maxDepth, depth + 1, `${path}[${index}]`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) return `${path} must not have the key ${JSON.stringify(key)}`;
    const problem = unsafeJson((value as Record<string, unknown>)[key], maxDepth, depth + 1, `${path}.${key}`);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * Validates an input against the limits and the generator, applies the defaults and computes the
 * key. Throws BAD_USER_INPUT naming the offending field; never touches the cache.
 */
export function toGenerationRequest(
  input: GenerationInput,
  generator: Generator,
  limits: InputLimits,
): GenerationRequest {
  const text = toText(input, limits);

  const model = input.model ?? generator.defaultModel;
  if (!generator.models.includes(model)) {
    throw badUserInput(`model ${JSON.stringify(model)} is not allowed; allowed: ${generator.models.join(', ')}`);
  }

  const given = input.parameters ?? {};
  if (!isPlainObject(given)) {
    throw badUserInput(`parameters must be a JSON object, got ${Array.isArray(given) ? 'an array' : typeof given}`);
  }
  const unsafe = unsafeJson(given, limits.maxParametersDepth, 1, 'parameters');
  if (unsafe !== undefined) throw badUserInput(unsafe);
  const givenJson = JSON.stringify(given);
  // Canonical and plain JSON have the same length: only the order of keys differs.
  const parametersBytes = Buffer.byteLength(givenJson);
  if (parametersBytes > limits.maxParametersBytes) {
    throw badUserInput(`parameters are ${parametersBytes} bytes as JSON; the limit is ${limits.maxParametersBytes}`);
  }
  const { parameters, canonicalParameters, problem } = prepareParameters(generator, given, givenJson);
  if (problem !== undefined) throw badUserInput(problem);

  // The canonical JSON of { prompt, model, parameters } (or of { messages, model, parameters }),
  // written out: keys in sorted order, and the prompt, the longest part, serialised once by
  // JSON.stringify rather than walked twice. A chat of one USER message keys as its prompt.
  const canonicalInput = text.chat
    ? `{"messages":${canonicalJson(text.messages)},"model":${JSON.stringify(model)},"parameters":${canonicalParameters}}`
    : `{"model":${JSON.stringify(model)},"parameters":${canonicalParameters},"prompt":${JSON.stringify(text.prompt)}}`;

  return { key: generationKey(generator.id, canonicalInput), prompt: text.prompt, messages: text.messages, chat: text.chat, model, parameters };
}

interface RequestText {
  readonly prompt: string;
  readonly messages: readonly ChatMessage[];
  readonly chat: boolean;
}

/** Why a prompt or a message's content is refused, if it is. */
function textProblem(text: string, name: string): string | undefined {
  // A test rather than trim(): no copy of a long prompt on every request.
  if (!/\S/.test(text)) return `${name} must not be empty`;
  if (!text.isWellFormed()) return `${name} is not well-formed Unicode: it has a lone surrogate`;
  return undefined;
}

/** The prompt or the messages of an input, validated: exactly one of the two, within the limits. */
function toText(input: GenerationInput, limits: InputLimits): RequestText {
  const { prompt, messages } = input;
  const hasPrompt = prompt !== null && prompt !== undefined;
  const hasMessages = messages !== null && messages !== undefined;
  if (hasPrompt && hasMessages) throw badUserInput('give either prompt or messages, not both');
  if (hasPrompt) {
    const problem = textProblem(prompt, 'prompt');
    if (problem !== undefined) throw badUserInput(problem);
    if (prompt.length > limits.maxPromptLength) {
      throw badUserInput(`prompt is ${prompt.length} characters; the limit is ${limits.maxPromptLength}`);
    }
    return { prompt, messages: [{ role: 'USER', content: prompt }], chat: false };
  }
  if (!hasMessages) throw badUserInput('give either prompt or messages');
  if (messages.length === 0) throw badUserInput('messages must not be empty');
  if (messages.length > MAX_MESSAGES) throw badUserInput(`messages has ${messages.length} items; the limit is ${MAX_MESSAGES}`);
  let characters = 0;
  let lastUser: string | undefined;
  for (const [index, { role, content }] of messages.entries()) {
    const problem = textProblem(content, `messages[${index}].content`);
    if (problem !== undefined) throw badUserInput(problem);
    characters += content.length;
    if (role === 'USER') lastUser = content;
  }
  if (characters > limits.maxPromptLength) {
    throw badUserInput(`messages are ${characters} characters in all; the limit is ${limits.maxPromptLength}`);
  }
  // Copies: the request keeps only the two fields of each message.
  const copies = messages.map(({ role, content }) => ({ role, content }));
  const chat = !(copies.length === 1 && copies[0]?.role === 'USER');
  return { prompt: lastUser ?? copies.at(-1)?.content ?? '', messages: copies, chat };
}
