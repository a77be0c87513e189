import type { z } from 'zod';

/**
 * What a generator is to the service: a function of one canonical request. A generator never
 * sees the cache; it must honour the AbortSignal (timeouts and shutdown abort it).
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Who speaks a chat message. */
export const CHAT_ROLES = ['SYSTEM', 'USER', 'ASSISTANT'] as const;
export type ChatRole = (typeof CHAT_ROLES)[number];

export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string;
}

/** A validated request with defaults applied and its cache key. */
export interface GenerationRequest {
  readonly key: string;
  /** The prompt; for a chat, the content of its last USER message (else of its last message). */
  readonly prompt: string;
  /** The conversation the generator continues: a prompt is one USER message. */
  readonly messages: readonly ChatMessage[];
  /** Whether the request was a chat that is not one USER message: the record then keeps its messages. */
  readonly chat: boolean;
  readonly model: string;
  readonly parameters: Readonly<JsonObject>;
}

export interface GeneratorOutput {
  readonly output: string;
  /** `text/plain`, or e.g. `image/png` with base64 `output`. */
  readonly contentType: string;
  /** The tokens the generation spent, when the generator reports them. */
  readonly usage?: TokenUsage | undefined;
}

/** Tokens of the prompt and of the completion, as the upstream counted them. */
export interface TokenUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export interface Generator {
  /** Identity and version; part of every key, so a new version never serves old results. */
  readonly id: string;
  readonly defaultModel: string;
  /** The models a request may name. */
  readonly models: readonly string[];
  /**
   * The parameters a request may give: their names, types, ranges and defaults. Parsing gives
   * what the key covers and `generate` receives; a name it does not know is refused. The service
   * drops top-level `null`s first: an optional parameter given as null is unset.
   */
  readonly parameters: z.ZodType<JsonObject>;
  /**
   * Generates one request. A generator that streams calls `onDelta` with each piece of text as
   * it comes, in order; the pieces must add up to a prefix of `output` (the service sends the
   * rest as the last piece, and fails the generation with GENERATION_FAILED when they do not).
   * A generator that cannot stream ignores `onDelta`: its output then reaches streaming clients
   * as one piece when it is done.
   */
  generate(request: GenerationRequest, signal: AbortSignal, onDelta?: (delta: string) => void): Promise<GeneratorOutput>;
  /** Resolves when the generator can take work; rejects with the reason when it cannot. */
  checkReady?(signal: AbortSignal): Promise<void>;
}
