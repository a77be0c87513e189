import { MAX_TTL_SECONDS } from '../cache/settings.js';

/** Limits on what one request may ask of the generation service; bad input past them is BAD_USER_INPUT. */
export interface InputLimits {
  /** Characters (UTF-16 code units) of a prompt, or of all the messages of a chat. @default 32768 */
  readonly maxPromptLength: number;
  /** UTF-8 bytes of `parameters` as JSON. @default 16384 */
  readonly maxParametersBytes: number;
  /** Levels of nested objects and arrays in `parameters`, the object itself the first. @default 8 */
  readonly maxParametersDepth: number;
  /** Items of one `generations` list. @default 100 */
  readonly maxBatchSize: number;
  /** Largest per-request `ttlSeconds`: a year. */
  readonly maxTtlSeconds: number;
}

export const DEFAULT_MAX_PROMPT_LENGTH = 32_768;
/** Messages of one chat input. */
export const MAX_MESSAGES = 100;
export const DEFAULT_MAX_PARAMETERS_BYTES = 16_384;
export const DEFAULT_MAX_PARAMETERS_DEPTH = 8;
export const DEFAULT_MAX_BATCH_SIZE = 100;

export const DEFAULT_INPUT_LIMITS: InputLimits = Object.freeze({
  maxPromptLength: DEFAULT_MAX_PROMPT_LENGTH,
  maxParametersBytes: DEFAULT_MAX_PARAMETERS_BYTES,
  maxParametersDepth: DEFAULT_MAX_PARAMETERS_DEPTH,
  maxBatchSize: DEFAULT_MAX_BATCH_SIZE,
  maxTtlSeconds: MAX_TTL_SECONDS,
});
