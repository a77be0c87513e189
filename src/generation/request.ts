import type { InputLimits } from '../config.js';
import { canonicalJson, generationKey } from '../cache/keys.js';
import { badUserInput } from '../errors.js';
import type { GenerationRequest, Generator, JsonObject } from './generator.js';

/** A client's description of a generation, before validation. */
export interface GenerationInput {
  readonly prompt: string;
  readonly model?: string | null | undefined;
  readonly parameters?: unknown;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Validates an input against the limits and the generator, applies the defaults and computes the
 * key. Throws BAD_USER_INPUT naming the offending field; never touches the cache.
 */
export function toGenerationRequest(
  input: GenerationInput,
  generator: Generator,
  limits: InputLimits,
): GenerationRequest {
  const { prompt } = input;
  if (prompt.trim() === '') throw badUserInput('prompt must not be empty');
  if (!prompt.isWellFormed()) throw badUserInput('prompt is not well-formed Unicode: it has a lone surrogate');
  if (prompt.length > limits.maxPromptLength) {
    throw badUserInput(`prompt is ${prompt.length} characters; the limit is ${limits.maxPromptLength}`);
  }

  const model = input.model ?? generator.defaultModel;
  if (!generator.models.includes(model)) {
    throw badUserInput(`model ${JSON.stringify(model)} is not allowed; allowed: ${generator.models.join(', ')}`);
  }

  const given = input.parameters ?? {};
  if (!isPlainObject(given)) {
    throw badUserInput(`parameters must be a JSON object, got ${Array.isArray(given) ? 'an array' : typeof given}`);
  }
  // Canonical and plain JSON have the same length: only the order of keys differs.
  const parametersBytes = Buffer.byteLength(JSON.stringify(given));
  if (parametersBytes > limits.maxParametersBytes) {
    throw badUserInput(`parameters are ${parametersBytes} bytes as JSON; the limit is ${limits.maxParametersBytes}`);
  }
  const parameters = { ...generator.defaultParameters, ...given } as JsonObject;
  const problem = generator.checkParameters?.(parameters);
  if (problem !== undefined) throw badUserInput(`parameters: ${problem}`);

  let canonicalParameters: string;
  try {
    canonicalParameters = canonicalJson(parameters);
  } catch (error) {
    throw badUserInput(`parameters are not valid JSON: ${(error as Error).message}`);
  }
  // The canonical JSON of { prompt, model, parameters }, written out: keys in sorted order, and
  // the prompt, the longest part, serialised once by JSON.stringify rather than walked twice.
  const canonicalInput = `{"model":${JSON.stringify(model)},"parameters":${canonicalParameters},"prompt":${JSON.stringify(prompt)}}`;

  return { key: generationKey(generator.id, canonicalInput), prompt, model, parameters };
}
