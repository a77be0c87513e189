import { GencacheError } from '../errors.js';
import type { GenerationRequest, Generator, GeneratorOutput, JsonValue } from './generator.js';

export interface OpenAIGeneratorOptions {
  /** Base URL of an OpenAI-compatible API, e.g. `http://127.0.0.1:8000/v1` (vLLM) or `http://127.0.0.1:11434/v1` (Ollama). */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer …` when set. */
  readonly apiKey?: string | undefined;
  /** The default model. */
  readonly model: string;
  /** Allow-list of models. @default [model] */
  readonly models?: readonly string[];
}

/** Upstream bodies quoted in error messages are cut to this many characters. */
const MAX_QUOTED_BODY = 200;

const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/**
 * A generator backed by any server that speaks OpenAI's chat-completions wire format (vLLM,
 * Ollama, llama.cpp server, OpenAI). The prompt becomes one user message; `parameters` are
 * passed in the request body with camelCase names turned to snake_case (`maxTokens` →
 * `max_tokens`). Non-2xx answers and malformed bodies become GENERATION_FAILED with a short
 * reason and the upstream status in the message, which clients see; the upstream's address and
 * what its body said are in the error's cause, which the log shows and clients never do.
 */
export class OpenAIGenerator implements Generator {
  readonly id = 'openai-chat/1';
  readonly defaultModel: string;
  readonly models: readonly string[];
  readonly defaultParameters = {};
  readonly #endpoint: string;
  readonly #modelsEndpoint: string;
  readonly #headers: Record<string, string>;

  constructor(options: OpenAIGeneratorOptions) {
    this.defaultModel = options.model;
    this.models = options.models?.length ? options.models : [options.model];
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

  async generate(request: GenerationRequest, signal: AbortSignal): Promise<GeneratorOutput> {
    const body: Record<string, JsonValue> = {};
    for (const [name, value] of Object.entries(request.parameters)) body[snakeCase(name)] = value;
    Object.assign(body, {
      model: request.model,
      messages: [{ role: 'user', content: request.prompt }],
      stream: false,
    });

    let response: Response;
    try {
      response = await fetch(this.#endpoint, { method: 'POST', headers: this.#headers, body: JSON.stringify(body), signal });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw failed('could not reach the upstream server', `could not reach ${this.#endpoint}: ${(error as Error).message}`, error);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw failed(`upstream answered ${response.status} but the body was cut off`, (error as Error).message, error);
    }
    if (!response.ok) {
      throw failed(`upstream answered ${response.status} ${response.statusText}`, `${this.#endpoint} answered: ${text.slice(0, MAX_QUOTED_BODY)}`);
    }
    let content: unknown;
    try {
      content = (JSON.parse(text) as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
    } catch (error) {
      throw failed(`upstream answered ${response.status} with a body that is not JSON`, text.slice(0, MAX_QUOTED_BODY), error);
    }
    if (typeof content !== 'string') {
      throw failed(`upstream answered ${response.status} without choices[0].message.content`, text.slice(0, MAX_QUOTED_BODY));
    }
    return { output: content, contentType: 'text/plain' };
  }
}

/** A failure: `reason` for clients; `detail` (the upstream's address or words) and the original error for the log only. */
const failed = (reason: string, detail: string, original?: unknown): GencacheError =>
  new GencacheError('GENERATION_FAILED', `openai generator: ${reason}`, { cause: new Error(detail, { cause: original }) });
