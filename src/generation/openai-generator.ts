import { createParser } from 'eventsource-parser';
import { z } from 'zod';
import { GencacheError } from '../errors.js';
import type { GenerationRequest, Generator, GeneratorOutput, JsonValue, TokenUsage } from './generator.js';

export interface OpenAIGeneratorOptions {
  /** Base URL of an OpenAI-compatible API, e.g. `http://127.0.0.1:8000/v1` (vLLM) or `http://127.0.0.1:11434/v1` (Ollama). */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer …` when set. */
  readonly apiKey?: string | undefined;
  /** The default model. */
  readonly model: string;
  /** Allow-list of models. @default [model] */
  readonly models?: readonly string[];
  /** Largest `maxTokens` a request may ask for. @default 32768 */
  readonly maxTokens?: number;
  /** Bytes of an upstream answer read at most; a larger one fails RESPONSE_TOO_LARGE. @default 16 MiB */
  readonly maxBodyBytes?: number;
}

export const DEFAULT_OPENAI_MAX_TOKENS = 32_768;
export const DEFAULT_OPENAI_MAX_BODY_BYTES = 16 * 2 ** 20;

/** Upstream bodies quoted in error messages are cut to this many characters. */
const MAX_QUOTED_BODY = 200;

/**
 * The sampling parameters of the chat-completions API that a cached answer may depend on, in
 * camelCase. None has a default here: unset, the upstream server's own applies.
 */
const openAIParameters = (maxTokens: number) =>
  z.strictObject({
    maxTokens: z.int().min(1).max(maxTokens).optional(),
    temperature: z.number().min(0).max(2).optional(),
    topP: z.number().gt(0).max(1).optional(),
    seed: z.int().optional(),
    stop: z.array(z.string().min(1).max(256)).max(4).optional(),
    presencePenalty: z.number().min(-2).max(2).optional(),
    frequencyPenalty: z.number().min(-2).max(2).optional(),
  });

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/**
 * A generator backed by any server that speaks OpenAI's chat-completions wire format (vLLM,
 * Ollama, llama.cpp server, OpenAI). The prompt becomes one user message, a chat's messages go as they are (roles lower-cased); the declared
 * `parameters` are passed in the request body with their camelCase names turned to snake_case
 * (`maxTokens` → `max_tokens`); a snake_case name in a request is unknown, so that one request
 * has one key. The answer is read up to `maxBodyBytes`. Non-2xx answers and malformed bodies become GENERATION_FAILED with a short
 * reason and the upstream status in the message, which clients see; the upstream's address and
 * what its body said are in the error's cause, which the log shows and clients never do.
 *
 * Given `onDelta`, it asks for a stream (`stream: true`, usage included) and passes each
 * `choices[0].delta.content` of the server-sent events on as it arrives; the output is their
 * concatenation, complete only at `data: [DONE]`: a stream that breaks off or ends without it
 * fails GENERATION_FAILED. The streamed bytes count against `maxBodyBytes` like a body does. A
 * server that answers JSON anyway is read as without `onDelta`, its content passed on as one delta.
 * The `usage` of the answer (of the last chunk, in a stream) is reported when it has both counts.
 */
export class OpenAIGenerator implements Generator {
  readonly id = 'openai-chat/1';
  readonly defaultModel: string;
  readonly models: readonly string[];
  readonly parameters;
  readonly #maxBodyBytes: number;
  readonly #endpoint: string;
  readonly #modelsEndpoint: string;
  readonly #headers: Record<string, string>;

  constructor(options: OpenAIGeneratorOptions) {
    this.defaultModel = options.model;
    this.models = options.models?.length ? options.models : [options.model];
    this.parameters = openAIParameters(options.maxTokens ?? DEFAULT_OPENAI_MAX_TOKENS);
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_OPENAI_MAX_BODY_BYTES;
    const base = options.baseUrl.replace(/\/+$/, '');
    this.#endpoint = `${base}/chat/completions`;
    this.#modelsEndpoint = `${base}/models`;
    this.#headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (options.apiKey) this.#headers['authorization'] = `Bearer ${options.apiKey}`;
  }

  /** Ready when the server lists its models (`GET /models`, which every compatible server answers). */
  async checkReady(signal: AbortSignal): Promise<void> {
    const response = await fetch(this.#modelsEndpoint, { headers: this.#headers, signal });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`GET ${this.#modelsEndpoint} answered ${response.status}`);
  }

  async generate(request: GenerationRequest, signal: AbortSignal, onDelta?: (delta: string) => void): Promise<GeneratorOutput> {
    const body: Record<string, JsonValue> = {};
    for (const [name, value] of Object.entries(request.parameters)) body[snakeCase(name)] = value;
    Object.assign(body, {
      model: request.model,
      messages: request.messages.map(({ role, content }) => ({ role: role.toLowerCase(), content })),
      stream: onDelta !== undefined,
    });
    if (onDelta) body['stream_options'] = { include_usage: true };
    const headers = onDelta ? { ...this.#headers, accept: 'text/event-stream, application/json' } : this.#headers;

    let response: Response;
    try {
      response = await fetch(this.#endpoint, { method: 'POST', headers, body: JSON.stringify(body), signal });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw failed('could not reach the upstream server', `could not reach ${this.#endpoint}: ${(error as Error).message}`, error);
    }
    if (onDelta && response.ok && response.headers.get('content-type')?.startsWith('text/event-stream')) {
      try {
        const { output, usage } = await readEvents(response, this.#maxBodyBytes, onDelta);
        return { output, contentType: 'text/plain', usage };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof GencacheError) throw error;
        throw failed(`upstream answered ${response.status} but the stream was cut off`, (error as Error).message, error);
      }
    }
    let text: string;
    try {
      text = await readText(response, this.#maxBodyBytes);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof GencacheError) throw error;
      throw failed(`upstream answered ${response.status} but the body was cut off`, (error as Error).message, error);
    }
    if (!response.ok) {
      throw failed(`upstream answered ${response.status} ${response.statusText}`, `${this.#endpoint} answered: ${text.slice(0, MAX_QUOTED_BODY)}`);
    }
    let content: unknown;
    let usage: TokenUsage | undefined;
    try {
      const answer = JSON.parse(text) as { choices?: { message?: { content?: unknown } }[]; usage?: unknown } | null;
      content = answer?.choices?.[0]?.message?.content;
      usage = usageOf(answer?.usage);
    } catch (error) {
      throw failed(`upstream answered ${response.status} with a body that is not JSON`, text.slice(0, MAX_QUOTED_BODY), error);
    }
    if (typeof content !== 'string') {
      throw failed(`upstream answered ${response.status} without choices[0].message.content`, text.slice(0, MAX_QUOTED_BODY));
    }
    onDelta?.(content);
    return { output: content, contentType: 'text/plain', usage };
  }
}

/** OpenAI's `usage`, when it has both counts as non-negative integers. */
function usageOf(usage: unknown): TokenUsage | undefined {
  if (typeof usage !== 'object' || usage === null) return undefined;
  const { prompt_tokens: promptTokens, completion_tokens: completionTokens } = usage as Record<string, unknown>;
  const count = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
  return count(promptTokens) && count(completionTokens) ? { promptTokens, completionTokens } : undefined;
}

/** The pieces of a chat-completion chunk that the generator reads. */
interface CompletionChunk {
  readonly choices?: readonly { readonly delta?: { readonly content?: unknown } }[];
  readonly usage?: unknown;
}

/**
 * The text of a stream of chat-completion chunks, each delta passed to `onDelta` as it arrives;
 * read up to `[DONE]` (the rest left unread), refused RESPONSE_TOO_LARGE past `limit` bytes and
 * GENERATION_FAILED when the stream ends before `[DONE]` or an event is not a JSON chunk.
 */
async function readEvents(response: Response, limit: number, onDelta: (delta: string) => void): Promise<{ output: string; usage: TokenUsage | undefined }> {
  if (response.body === null) throw failed(`upstream answered ${response.status} with an empty stream`, 'no body');
  let output = '';
  let usage: TokenUsage | undefined;
  let done = false;
  let broken: GencacheError | undefined;
  const parser = createParser({
    onEvent: ({ data }) => {
      if (done || broken) return;
      if (data === '[DONE]') {
        done = true;
        return;
      }
      let chunk: CompletionChunk;
      try {
        chunk = JSON.parse(data) as CompletionChunk;
      } catch (error) {
        broken = failed(`upstream answered ${response.status} with a stream event that is not JSON`, data.slice(0, MAX_QUOTED_BODY), error);
        return;
      }
      if (typeof chunk !== 'object' || chunk === null) {
        broken = failed(`upstream answered ${response.status} with a stream event that is not a chunk`, data.slice(0, MAX_QUOTED_BODY));
        return;
      }
      usage = usageOf(chunk.usage) ?? usage;
      const content = chunk.choices?.[0]?.delta?.content;
      if (typeof content === 'string' && content.length > 0) {
        output += content;
        onDelta(content);
      }
    },
  });
  // Leaving the loop early cancels the rest of the body (the generator's return).
  for await (const text of textOf(response.body, limit, () => tooLarge(response, 'stream', limit))) {
    parser.feed(text);
    if (broken || done) break;
  }
  parser.reset({ consume: true });
  if (broken) throw broken;
  if (!done) throw failed(`upstream answered ${response.status} but the stream ended without [DONE]`, 'the stream ended');
  return { output, usage };
}

const tooLarge = (response: Response, what: string, limit: number) =>
  new GencacheError('RESPONSE_TOO_LARGE', `openai generator: upstream answered ${response.status} with a ${what} over ${limit} bytes`);

/**
 * A body as decoded text, piece by piece as it arrives; `tooLarge()` is thrown, and the rest
 * cancelled, past `limit` bytes. Stopping the iteration early cancels the rest too.
 */
async function* textOf(body: ReadableStream<Uint8Array>, limit: number, tooLarge: () => Error): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let bytes = 0;
  try {
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      bytes += chunk.value.byteLength;
      if (bytes > limit) throw tooLarge();
      yield decoder.decode(chunk.value, { stream: true });
    }
    yield decoder.decode();
  } finally {
    // A no-op for a body read to its end; for one left early, the upstream stops sending.
    await reader.cancel().catch(() => undefined);
  }
}

/** The body as text, refused RESPONSE_TOO_LARGE (and the rest left unread) past `limit` bytes. */
async function readText(response: Response, limit: number): Promise<string> {
  if (Number(response.headers.get('content-length') ?? 0) > limit) {
    await response.body?.cancel();
    throw tooLarge(response, 'body', limit);
  }
  if (response.body === null) return '';
  let text = '';
  for await (const piece of textOf(response.body, limit, () => tooLarge(response, 'body', limit))) text += piece;
  return text;
}

/** A failure: `reason` for clients; `detail` (the upstream's address or words) and the original error for the log only. */
const failed = (reason: string, detail: string, original?: unknown): GencacheError =>
  new GencacheError('GENERATION_FAILED', `openai generator: ${reason}`, { cause: new Error(detail, { cause: original }) });
