/**
 * The soak (`npm run bench -- --soak [--soak-seconds N]`, 300 s by default): a gencache with small
 * cache bounds and a fast simulated generator, in this process, under minutes of mixed traffic
 * over real HTTP, SSE and WebSocket: repeated and distinct generations, batches, the cache
 * policies, statistics, the admin surface changing the cache under load, two subscriptions that
 * stay open, and hostile requests among them.
 *
 * Every answer is classified. A valid request must be answered with data and no error (or with
 * the one code its operation may give: NOT_FOUND for a CACHE_ONLY `generate`); a hostile one
 * with its refusal: the expected HTTP status and `extensions.code` on every error. Anything else
 * (a network error or timeout, a 5xx, another status or code, a masked "Unexpected error.", an
 * answer that contradicts an earlier one) is an unintended error, and the run fails: the
 * classifier states the contract; it is never widened to let a failure through.
 *
 * It also reads the cache's `bytes` and `entries` every 250 ms against the bounds in force at
 * that reading (which no reading may exceed), and the heap used after a forced GC at the start,
 * every 30 s and at the end. The server runs in this process, unpinned and uncompiled: the
 * soak looks for failures and growth, not speed, and the heap it reads is the server's (with
 * this small client's, which keeps only bounded state).
 *
 * The workload comes from seeded generators (one per worker, one for the admin loop), so each
 * run sends the same sequence from each; how the workers interleave depends on the machine.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type DocumentNode } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import {
  CacheEntriesDocument,
  CacheEntryDocument,
  CacheEventsDocument,
  CacheStatsDocument,
  CacheStatsLiveDocument,
  ClearCacheDocument,
  DuplicatesInOneOperationDocument,
  EvictCacheEntriesDocument,
  GenerateDocument,
  GenerationDocument,
  GenerationsDocument,
  ResetCacheStatsDocument,
  UpdateCacheConfigDocument,
  type CacheEntriesQuery,
  type CacheEventsSubscription,
  type CacheStatsFieldsFragment,
  type CacheStatsLiveSubscription,
  type CacheStatsQuery,
  type DuplicatesInOneOperationQuery,
  type GenerateMutation,
  type GenerationInput,
  type GenerationQuery,
  type GenerationsQuery,
  type UpdateCacheConfigMutation,
} from '../../src/generated/graphql.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { seededRandom } from './seeded-random.js';

export interface SoakOptions {
  /** How long the traffic runs (`--soak-seconds`; run.ts defaults it to 300). */
  readonly seconds: number;
  /** Where to write the figures as JSON; nowhere when undefined. */
  readonly outFile?: string | undefined;
  /** Progress lines (stderr). */
  readonly progress: (message: string) => void;
}

/**
 * The server's whole environment (not this process's: an ADMIN_TOKEN in the shell would close the
 * admin surface to the soak). Records here are of 389 to 2,942 bytes (maxTokens 16 to 400), about
 * 1,260 on average: 50 of them make about 64 KiB, so the entry bound and the byte bound each
 * evict, by turns; entries expire within seconds.
 */
const SERVER_ENVIRONMENT = {
  LOG_LEVEL: 'warn',
  GENERATOR: 'simulated',
  GENERATOR_LATENCY_MS: '5',
  GENERATOR_CONCURRENCY: '4',
  CACHE_MAX_SIZE: '50',
  // 64 KiB.
  CACHE_MAX_MEMORY_MB: '0.0625',
  CACHE_TTL_SECONDS: '5',
  MAX_BATCH_SIZE: '20',
  // 64 KiB: every valid request here is far smaller; the oversized ones are four times over.
  MAX_REQUEST_BODY_BYTES: '65536',
} as const;

const SEED = 20_261_129;
const WORKERS = 4;
const POLL_MS = 250;
const ADMIN_EVERY_MS = 1000;
const ENDPOINTS_EVERY_MS = 5000;
const HEAP_EVERY_MS = 30_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** The media type of the GraphQL-over-HTTP spec: request errors come with 4xx statuses. */
const GRAPHQL_RESPONSE = 'application/graphql-response+json';
const MASKED_MESSAGE = 'Unexpected error.';

// ---------------------------------------------------------------------------------------------
// Exchanges and their verdicts

/** An answer, or why there was none. */
type Outcome = { readonly status: number; readonly text: string } | { readonly failure: string };

/** Undefined when the answer is the intended one; else what is wrong, and the answer itself. */
type Verdict = { readonly problem: string; readonly detail: string } | undefined;

interface GraphQlError {
  readonly message: string;
  readonly extensions?: { readonly code?: string };
}

interface GraphQlBody<TData> {
  readonly data?: TData | null;
  readonly errors?: readonly GraphQlError[];
}

function describeFailure(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `timeout after ${REQUEST_TIMEOUT_MS} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return `network error: ${cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))}`;
}

async function exchange(url: string, init: RequestInit = {}): Promise<Outcome> {
  try {
    const response = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    return { status: response.status, text: await response.text() };
  } catch (error) {
    return { failure: describeFailure(error) };
  }
}

const detailOf = (outcome: Outcome): string =>
  'failure' in outcome ? outcome.failure : `HTTP ${outcome.status} ${outcome.text.slice(0, 400)}`;

const fault = (problem: string, outcome: Outcome): Verdict => ({ problem, detail: detailOf(outcome) });

/** The parsed GraphQL body, or the verdict on an answer that is not one. */
function graphQlBodyOf<TData>(outcome: Outcome): GraphQlBody<TData> | Verdict {
  if ('failure' in outcome) return fault(outcome.failure, outcome);
  if (outcome.status >= 500) return fault(`HTTP ${outcome.status}`, outcome);
  try {
    const body = JSON.parse(outcome.text) as GraphQlBody<TData>;
    if (typeof body !== 'object' || body === null) return fault(`HTTP ${outcome.status}, a body that is not a GraphQL response`, outcome);
    if (body.errors?.some((error) => error.message === MASKED_MESSAGE)) return fault(`masked "${MASKED_MESSAGE}"`, outcome);
    return body;
  } catch {
    return fault(`HTTP ${outcome.status}, a body that is not JSON`, outcome);
  }
}

const isBody = <TData>(value: GraphQlBody<TData> | Verdict): value is GraphQlBody<TData> =>
  value !== undefined && !('problem' in value);

/**
 * A valid request: HTTP 200, data, and no error but those of `allowedCodes`; then `check` on the
 * data (what contradicts the request or an earlier answer).
 */
function expectData<TData>(
  outcome: Outcome,
  check?: (data: TData) => string | undefined,
  allowedCodes: readonly string[] = [],
): Verdict {
  const body = graphQlBodyOf<TData>(outcome);
  if (!isBody(body)) return body;
  const unexpected = body.errors?.find((error) => !allowedCodes.includes(error.extensions?.code ?? ''));
  if (unexpected !== undefined) return fault(`${unexpected.extensions?.code ?? 'an error without a code'} on a valid request`, outcome);
  const status = (outcome as { status: number }).status;
  if (status !== 200) return fault(`HTTP ${status} on a valid request`, outcome);
  if (body.errors !== undefined) return undefined;
  if (body.data === undefined || body.data === null) return fault('no data on a valid request', outcome);
  const problem = check?.(body.data);
  return problem === undefined ? undefined : fault(`wrong answer: ${problem}`, outcome);
}

/** A hostile request: the expected status, and the expected code on every error. */
function expectRefusal(outcome: Outcome, status: number, code: string): Verdict {
  const body = graphQlBodyOf<unknown>(outcome);
  if (!isBody(body)) return body;
  const got = (outcome as { status: number }).status;
  if (body.errors === undefined || body.errors.length === 0) return fault(`accepted (HTTP ${got}); expected the refusal ${status} ${code}`, outcome);
  const other = body.errors.find((error) => error.extensions?.code !== code);
  if (other !== undefined) return fault(`refused with ${other.extensions?.code ?? 'no code'}; expected ${code}`, outcome);
  if (got !== status) return fault(`refused ${code} with HTTP ${got}; expected ${status}`, outcome);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The state a run shares among its loops

const printed = new WeakMap<DocumentNode, string>();
const sourceOf = (document: DocumentNode): string => {
  let source = printed.get(document);
  if (source === undefined) printed.set(document, (source = print(document)));
  return source;
};
const operationBody = <TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables?: TVariables): string =>
  JSON.stringify({ query: sourceOf(document), variables });

const TOKEN_CHOICES = [16, 48, 128, 400] as const;
const MODELS = ['sim-1', 'sim-2'] as const;

/** Prompts asked again and again: more than the cache holds, so that they are evicted and come back. */
const POOL: readonly GenerationInput[] = Array.from({ length: 120 }, (_, index) => ({
  prompt: `soak pool prompt ${index}`,
  model: MODELS[index % MODELS.length]!,
  parameters: { maxTokens: TOKEN_CHOICES[index % TOKEN_CHOICES.length]! },
}));

const POOL_PROMPTS = new Set(POOL.map((input) => input.prompt));
/**
 * The most asked part of the pool, asked often enough to stay at the recent end of the LRU while
 * the rest churns through it: these entries live until their TTL ends, so that expiry happens
 * under load as well as eviction.
 */
const HOT = POOL.slice(0, 8);

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]!;

interface Counts {
  requests: number;
  unintended: number;
}

/** Requests by kind, and the unintended errors by what was wrong (with the first answer of each). */
class Tally {
  readonly byKind = new Map<string, Counts & { readonly hostile: boolean }>();
  readonly problems = new Map<string, { count: number; kind: string; detail: string }>();

  note(kind: string, hostile: boolean, verdict: Verdict): void {
    let counts = this.byKind.get(kind);
    if (counts === undefined) this.byKind.set(kind, (counts = { requests: 0, unintended: 0, hostile }));
    counts.requests++;
    if (verdict === undefined) return;
    counts.unintended++;
    const key = `${kind}: ${verdict.problem}`;
    const seen = this.problems.get(key);
    if (seen === undefined) this.problems.set(key, { count: 1, kind, detail: verdict.detail });
    else seen.count++;
  }

  get requests(): number {
    return [...this.byKind.values()].reduce((sum, counts) => sum + counts.requests, 0);
  }

  get unintended(): number {
    return [...this.byKind.values()].reduce((sum, counts) => sum + counts.unintended, 0);
  }
}

interface Run {
  readonly url: string;
  readonly tally: Tally;
  /** Output of each key of the pool seen so far: the simulated output is a function of the key. */
  readonly outputs: Map<string, string>;
  /** Keys answered lately, for the admin surface to evict and look up. */
  readonly recentKeys: string[];
  /** Whether the traffic is to stop. */
  readonly stopping: () => boolean;
}

const RECENT_KEYS = 200;

function remember(run: Run, key: string): void {
  run.recentKeys.push(key);
  if (run.recentKeys.length > RECENT_KEYS) run.recentKeys.splice(0, run.recentKeys.length - RECENT_KEYS);
}

type Generated = NonNullable<GenerationQuery['generation']>;

/** What is wrong with a generation answered for an input, or undefined. */
function checkGeneration(run: Run, generation: Generated | null | undefined, input: GenerationInput): string | undefined {
  if (generation === null || generation === undefined) return 'no generation';
  const model = input.model ?? MODELS[0];
  if (generation.prompt !== input.prompt || generation.model !== model) return `asked ${model} "${input.prompt}", got ${generation.model} "${generation.prompt}"`;
  if (!generation.output.startsWith(`[${model}] `)) return `the output of ${model} starts "${generation.output.slice(0, 20)}"`;
  remember(run, generation.key);
  if (POOL_PROMPTS.has(input.prompt)) {
    const earlier = run.outputs.get(generation.key);
    if (earlier === undefined) run.outputs.set(generation.key, generation.output);
    else if (earlier !== generation.output) return `key ${generation.key.slice(0, 12)}… answered two different outputs`;
  }
  return undefined;
}

const post = (run: Run, body: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Outcome> =>
  exchange(run.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: GRAPHQL_RESPONSE, ...headers },
    body,
    ...(signal ? { signal } : {}),
  });

// ---------------------------------------------------------------------------------------------
// The workers' traffic

interface Scenario {
  readonly kind: string;
  readonly hostile: boolean;
  /** Relative frequency among the workers' requests. */
  readonly weight: number;
  run(run: Run, random: () => number, fresh: () => string): Promise<Verdict>;
}

const valid = (kind: string, weight: number, send: Scenario['run']): Scenario => ({ kind, hostile: false, weight, run: send });

const VALID: readonly Scenario[] = [
  valid('generation, repeated prompt', 30, async (run, random) => {
    const input = pick(random() < 0.8 ? HOT : POOL, random);
    const outcome = await post(run, operationBody(GenerationDocument, { input }));
    return expectData<GenerationQuery>(outcome, ({ generation }) => checkGeneration(run, generation, input));
  }),
  valid('generation, new prompt', 12, async (run, random, fresh) => {
    const input = { prompt: fresh(), model: pick(MODELS, random), parameters: { maxTokens: pick(TOKEN_CHOICES, random) } };
    const outcome = await post(run, operationBody(GenerationDocument, { input }));
    return expectData<GenerationQuery>(outcome, ({ generation }) => checkGeneration(run, generation, input));
  }),
  valid('generations, batch of 2 to 10', 10, async (run, random, fresh) => {
    const inputs: GenerationInput[] = Array.from({ length: 2 + Math.floor(random() * 9) }, () =>
      random() < 0.6 ? pick(POOL, random) : { prompt: fresh(), parameters: { maxTokens: pick(TOKEN_CHOICES, random) } },
    );
    // A duplicate inside the batch now and then: it is generated once and answered twice.
    if (random() < 0.25) inputs.push(inputs[0]!);
    const outcome = await post(run, operationBody(GenerationsDocument, { inputs }));
    return expectData<GenerationsQuery>(outcome, ({ generations }) => {
      if (generations.length !== inputs.length) return `${generations.length} generations for ${inputs.length} inputs`;
      for (const [index, generation] of generations.entries()) {
        const problem = checkGeneration(run, generation, inputs[index]!);
        if (problem !== undefined) return `item ${index}: ${problem}`;
      }
      return undefined;
    });
  }),
  valid('generation, other policy or TTL', 6, async (run, random) => {
    const input = pick(POOL, random);
    const policy = pick(['CACHE_ONLY', 'NETWORK_ONLY', 'NO_STORE', 'CACHE_FIRST'] as const, random);
    const ttlSeconds = pick([undefined, 0, 1, 10], random);
    const outcome = await post(run, operationBody(GenerationDocument, { input, policy, ttlSeconds }));
    return expectData<GenerationQuery>(outcome, ({ generation }) => {
      // CACHE_ONLY answers null on a miss, and only ever a hit.
      if (policy === 'CACHE_ONLY') {
        if (generation === null) return undefined;
        if (generation.cacheStatus !== 'HIT') return `CACHE_ONLY answered ${generation.cacheStatus}`;
      }
      return checkGeneration(run, generation, input);
    });
  }),
  valid('generate, CACHE_ONLY (NOT_FOUND allowed)', 2, async (run, random) => {
    const input = pick(POOL, random);
    const outcome = await post(run, operationBody(GenerateDocument, { input, policy: 'CACHE_ONLY' }));
    return expectData<GenerateMutation>(outcome, ({ generate }) => checkGeneration(run, generate, input), ['NOT_FOUND']);
  }),
  valid('one input ten times and in a list', 3, async (run, random) => {
    const input = pick(POOL, random);
    const outcome = await post(run, operationBody(DuplicatesInOneOperationDocument, { input, inputs: [input, input] }));
    return expectData<DuplicatesInOneOperationQuery>(outcome, (data) => {
      const keys = new Set([data.a0, data.a1, data.a2, data.a3, data.a4, data.a5, data.a6, data.a7, data.a8, data.a9, ...data.list].map((item) => item?.key));
      return keys.size === 1 && !keys.has(undefined) ? undefined : `${keys.size} keys for one input`;
    });
  }),
  valid('cacheStats', 4, async (run) => expectData<CacheStatsQuery>(await post(run, operationBody(CacheStatsDocument)), checkStats)),
  // Through Yoga's own adapter rather than the fast lane, which takes only JSON POSTs.
  valid('cacheStats over GET', 2, async (run) => {
    const url = `${run.url}?query=${encodeURIComponent(sourceOf(CacheStatsDocument))}`;
    return expectData<CacheStatsQuery>(await exchange(url, { headers: { accept: GRAPHQL_RESPONSE } }), checkStats);
  }),
  // A client that goes away while its generation runs: the server must carry on regardless.
  valid('generation abandoned by the client', 1, async (run, random, fresh) => {
    const input = { prompt: fresh(), parameters: { maxTokens: 400 } };
    const abort = new AbortController();
    setTimeout(() => abort.abort(), Math.floor(random() * 5));
    const outcome = await post(run, operationBody(GenerationDocument, { input }), {}, abort.signal);
    if ('failure' in outcome && abort.signal.aborted) return undefined;
    return expectData<GenerationQuery>(outcome, ({ generation }) => checkGeneration(run, generation, input));
  }),
];

function checkStats({ cacheStats }: CacheStatsQuery): string | undefined {
  return boundProblem(cacheStats);
}

/** A reading over its own bounds. */
function boundProblem(stats: Pick<CacheStatsFieldsFragment, 'bytes' | 'maxBytes' | 'entries' | 'maxEntries'>): string | undefined {
  if (stats.bytes > stats.maxBytes) return `bytes ${stats.bytes} over maxBytes ${stats.maxBytes}`;
  if (stats.entries > stats.maxEntries) return `entries ${stats.entries} over maxEntries ${stats.maxEntries}`;
  return undefined;
}

const hostile = (kind: string, send: Scenario['run']): Scenario => ({ kind: `hostile: ${kind}`, hostile: true, weight: 0.5, run: send });

/** A request the server must refuse with `status` and `code`. */
const refused = (kind: string, status: number, code: string, body: string | (() => string), headers: Record<string, string> = {}): Scenario =>
  hostile(kind, async (run) => expectRefusal(await post(run, typeof body === 'string' ? body : body(), headers), status, code));

const GENERATION_OF_P = 'query ($p: JSON) { generation(input: {prompt: "hostile", parameters: $p}) { key } }';
/** `levels` objects nested in one another, the outermost included. */
const nested = (levels: number): Record<string, unknown> => (levels === 1 ? { leaf: 1 } : { a: nested(levels - 1) });
const ask = (query: string, variables?: unknown) => JSON.stringify({ query, variables });
const generationOf = (input: unknown) => operationBody(GenerationDocument, { input: input as GenerationInput });
const manyInputs = (count: number) => Array.from({ length: count }, (_, index) => ({ prompt: `hostile batch ${index}` }));

const HOSTILE: readonly Scenario[] = [
  // The body limit (64 KiB here): refused from Content-Length, before anything is read.
  refused('oversized body', 413, 'PAYLOAD_TOO_LARGE', ask('{ cacheStats { hits } }', { padding: 'x'.repeat(256 * 1024) })),
  refused('malformed JSON', 400, 'BAD_REQUEST', '{"query": "{ cacheStats { hits } }"'),
  refused('a JSON array (batching)', 400, 'BAD_REQUEST', '[{"query": "{ cacheStats { hits } }"}]'),
  refused('no query', 400, 'BAD_REQUEST', '{}'),
  refused('GraphQL syntax error', 400, 'GRAPHQL_PARSE_FAILED', ask('{ cacheStats { hits }')),
  refused('unknown field', 400, 'GRAPHQL_VALIDATION_FAILED', ask('{ cacheStatistics { hits } }')),
  refused('variable of the wrong type', 400, 'BAD_USER_INPUT', generationOf({ prompt: 5 })),
  refused('33 aliases', 400, 'BAD_USER_INPUT', ask(`{ ${Array.from({ length: 33 }, (_, index) => `a${index}: cacheStats { hits }`).join(' ')} }`)),
  refused('over 2000 tokens', 400, 'GRAPHQL_PARSE_FAILED', ask(`{ cacheStats { ${'hits '.repeat(2100)}} }`)),
  refused('120 generations in one operation', 200, 'BAD_USER_INPUT', () => {
    const fields = Array.from({ length: 6 }, (_, index) => `b${index}: generations(inputs: $inputs) { key }`).join(' ');
    return ask(`query ($inputs: [GenerationInput!]!) { ${fields} }`, { inputs: manyInputs(20) });
  }),
  refused('a batch over MAX_BATCH_SIZE', 200, 'BAD_USER_INPUT', operationBody(GenerationsDocument, { inputs: manyInputs(21) })),
  refused('a batch with one empty prompt', 200, 'BAD_USER_INPUT', operationBody(GenerationsDocument, { inputs: [{ prompt: 'fine' }, { prompt: '' }] })),
  refused('empty prompt', 200, 'BAD_USER_INPUT', generationOf({ prompt: '' })),
  refused('whitespace prompt', 200, 'BAD_USER_INPUT', generationOf({ prompt: ' \n\t ' })),
  refused('prompt over MAX_PROMPT_LENGTH', 200, 'BAD_USER_INPUT', generationOf({ prompt: 'p'.repeat(40_000) })),
  refused('prompt with a lone surrogate', 200, 'BAD_USER_INPUT', `{"query":${JSON.stringify(sourceOf(GenerationDocument))},"variables":{"input":{"prompt":"a\\ud800"}}}`),
  refused('unknown model', 200, 'BAD_USER_INPUT', generationOf({ prompt: 'hostile', model: 'gpt-9' })),
  refused('parameters nested too deep', 200, 'BAD_USER_INPUT', ask(GENERATION_OF_P, { p: nested(9) })),
  // Written out: JSON.stringify of so deep a value would exhaust this process's stack.
  refused('parameters nested 5,000 deep', 200, 'BAD_USER_INPUT', `{"query":${JSON.stringify(GENERATION_OF_P)},"variables":{"p":{"deep":${'['.repeat(5000)}${']'.repeat(5000)}}}}`),
  refused('parameters over MAX_PARAMETERS_BYTES', 200, 'BAD_USER_INPUT', ask(GENERATION_OF_P, { p: { seed: 's'.repeat(20_000) } })),
  refused('parameters with __proto__', 200, 'BAD_USER_INPUT', `{"query":${JSON.stringify(GENERATION_OF_P)},"variables":{"p":{"__proto__":{"maxTokens":5}}}}`),
  refused('a number read as Infinity', 200, 'BAD_USER_INPUT', `{"query":${JSON.stringify(GENERATION_OF_P)},"variables":{"p":{"seed":1e400}}}`),
  refused('maxTokens 0', 200, 'BAD_USER_INPUT', ask(GENERATION_OF_P, { p: { maxTokens: 0 } })),
  refused('negative ttlSeconds', 200, 'BAD_USER_INPUT', operationBody(GenerationDocument, { input: { prompt: 'hostile' }, ttlSeconds: -1 })),
  refused('a form POST without the CSRF header', 403, 'FORBIDDEN', ask('{ cacheStats { hits } }'), { 'content-type': 'text/plain' }),
  refused('admin from another site', 200, 'FORBIDDEN', operationBody(ClearCacheDocument), { origin: 'http://evil.example' }),
  refused('evict with no filter', 200, 'BAD_USER_INPUT', operationBody(EvictCacheEntriesDocument, {})),
  // Invalid settings change nothing: the admin loop checks that the settings are still its own.
  refused('invalid cache settings', 200, 'BAD_USER_INPUT', operationBody(UpdateCacheConfigDocument, { input: { maxEntries: 0, maxBytes: 1.5 } })),
  refused('a page of 5,000 entries', 200, 'BAD_USER_INPUT', operationBody(CacheEntriesDocument, { first: 5000 })),
  hostile('mutation over GET', async (run) => {
    const url = `${run.url}?query=${encodeURIComponent(sourceOf(ClearCacheDocument))}`;
    return expectRefusal(await exchange(url, { headers: { accept: GRAPHQL_RESPONSE } }), 405, 'BAD_REQUEST');
  }),
  hostile('subscription with intervalMs 5 over SSE', async (run) => {
    const outcome = await post(run, operationBody(CacheStatsLiveDocument, { intervalMs: 5 }), { accept: 'text/event-stream' });
    if ('failure' in outcome || outcome.status !== 200) return expectRefusal(outcome, 200, 'BAD_USER_INPUT');
    // The stream carries the refusal as its one `next` event, then completes.
    const data = /event: next\ndata: (.*)\n/.exec(outcome.text)?.[1];
    if (data === undefined || !outcome.text.includes('event: complete')) return fault('no refusal in the event stream', outcome);
    return expectRefusal({ status: 200, text: data }, 200, 'BAD_USER_INPUT');
  }),
  hostile('graphql-ws message over the limit', async (run) => oversizedWebSocketMessage(run)),
  hostile('11 subscriptions on one graphql-ws connection', async (run) => tooManySubscriptions(run)),
];

/** A graphql-ws message over the body limit: the server must close the socket with 1009. */
function oversizedWebSocketMessage(run: Run): Promise<Verdict> {
  return new Promise((resolve) => {
    const socket = new WebSocket(run.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const timer = setTimeout(() => {
      socket.terminate();
      resolve({ problem: 'no close within the timeout', detail: '' });
    }, REQUEST_TIMEOUT_MS);
    socket.on('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init' }));
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ cacheStats { hits } }', padding: 'x'.repeat(256 * 1024) } }));
    });
    // An error (a reset while the message is written) comes before the close that reports it.
    let error: string | undefined;
    socket.on('error', (cause) => (error = cause.message));
    socket.on('close', (code) => {
      clearTimeout(timer);
      resolve(code === 1009 ? undefined : { problem: `closed with ${code}, expected 1009`, detail: error ?? '' });
    });
  });
}

/** One subscription more than a graphql-ws connection may run: refused with TOO_MANY_SUBSCRIPTIONS. */
async function tooManySubscriptions(run: Run): Promise<Verdict> {
  const client = createWsClient({ url: run.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  const payload = { query: sourceOf(CacheStatsLiveDocument), variables: { intervalMs: 60_000 } };
  const first = (): Promise<{ error?: unknown; data?: unknown }> =>
    new Promise((resolve) => {
      client.subscribe(payload, {
        next: (value) => resolve(value.errors ? { error: value.errors } : { data: value.data }),
        error: (error) => resolve({ error }),
        complete: () => resolve({ error: 'completed before a value' }),
      });
    });
  try {
    const opened = await Promise.race([Promise.all(Array.from({ length: 10 }, first)), sleep(REQUEST_TIMEOUT_MS).then(() => 'timeout' as const)]);
    if (opened === 'timeout') return { problem: 'ten subscriptions did not all start', detail: '' };
    const failed = opened.find((result) => result.error !== undefined);
    if (failed !== undefined) return { problem: 'one of ten allowed subscriptions failed', detail: JSON.stringify(failed.error).slice(0, 400) };
    const eleventh = await Promise.race([first(), sleep(REQUEST_TIMEOUT_MS).then(() => ({ error: 'timeout' }))]);
    const codes = Array.isArray(eleventh.error) ? (eleventh.error as GraphQlError[]).map((error) => error.extensions?.code) : [];
    if (codes.length > 0 && codes.every((code) => code === 'TOO_MANY_SUBSCRIPTIONS')) return undefined;
    return { problem: 'the eleventh subscription was not refused with TOO_MANY_SUBSCRIPTIONS', detail: JSON.stringify(eleventh).slice(0, 400) };
  } finally {
    await client.dispose();
  }
}

/** The workers' scenarios, with the cumulative weights to draw them by. */
const SCENARIOS = [...VALID, ...HOSTILE];
const TOTAL_WEIGHT = SCENARIOS.reduce((sum, scenario) => sum + scenario.weight, 0);

function draw(random: () => number): Scenario {
  let left = random() * TOTAL_WEIGHT;
  for (const scenario of SCENARIOS) {
    left -= scenario.weight;
    if (left < 0) return scenario;
  }
  return SCENARIOS.at(-1)!;
}

async function worker(run: Run, index: number): Promise<void> {
  const random = seededRandom(SEED + index);
  let fresh = 0;
  const freshPrompt = () => `soak new prompt ${index}.${fresh++}`;
  while (!run.stopping()) {
    const scenario = draw(random);
    run.tally.note(scenario.kind, scenario.hostile, await scenario.run(run, random, freshPrompt));
  }
}

// ---------------------------------------------------------------------------------------------
// The admin loop: the cache changed under the traffic

type Settings = UpdateCacheConfigMutation['updateCacheConfig'];
const SETTING_NAMES = ['enabled', 'maxEntries', 'maxBytes', 'defaultTtlSeconds'] as const satisfies readonly (keyof Settings)[];

/**
 * Settings changes in turn, each from what the one before left: bounds shrunk (entries, then
 * bytes, so that a shrink evicts under each) and restored, a short TTL, the cache off and on.
 */
function configurationCycle(initial: Settings): readonly Partial<Settings>[] {
  return [
    { maxEntries: 20 },
    { maxEntries: initial.maxEntries },
    { maxBytes: 8192 },
    { maxBytes: initial.maxBytes },
    { defaultTtlSeconds: 1 },
    { defaultTtlSeconds: initial.defaultTtlSeconds },
    { enabled: false },
    { enabled: true },
  ];
}

async function adminLoop(run: Run, initial: Settings): Promise<void> {
  const random = seededRandom(SEED - 1);
  const cycle = configurationCycle(initial);
  let step = 0;
  // Only this loop changes the settings: each answer must be the settings it asked for.
  let expected = initial;
  const updateTo = async (change: Partial<Settings>) => {
    expected = { ...expected, ...change };
    const want = expected;
    const outcome = await post(run, operationBody(UpdateCacheConfigDocument, { input: change }));
    run.tally.note('admin: updateCacheConfig', false, expectData<UpdateCacheConfigMutation>(outcome, ({ updateCacheConfig: got }) =>
      SETTING_NAMES.every((name) => got[name] === want[name]) ? undefined : `settings ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`,
    ));
  };
  const actions: readonly [weight: number, action: () => Promise<void>][] = [
    [3, () => updateTo(cycle[step++ % cycle.length]!)],
    [1, async () => run.tally.note('admin: clearCache', false, expectData(await post(run, operationBody(ClearCacheDocument))))],
    [2, async () => {
      const keys = Array.from({ length: 5 }, () => pick(run.recentKeys, random)).filter((key) => key !== undefined);
      run.tally.note('admin: evictCacheEntries by key', false, expectData(await post(run, operationBody(EvictCacheEntriesDocument, { keys }))));
    }],
    [1, async () => run.tally.note('admin: evictCacheEntries by model', false, expectData(await post(run, operationBody(EvictCacheEntriesDocument, { model: 'sim-2' }))))],
    [2, async () => {
      const orderBy = pick(['MOST_RECENT', 'LEAST_RECENT', 'LARGEST', 'MOST_HITS'] as const, random);
      const outcome = await post(run, operationBody(CacheEntriesDocument, { first: 20, orderBy }));
      run.tally.note('admin: cacheEntries', false, expectData<CacheEntriesQuery>(outcome, ({ cacheEntries }) =>
        cacheEntries.edges.length <= 20 && cacheEntries.totalCount >= cacheEntries.edges.length ? undefined : `${cacheEntries.edges.length} edges of ${cacheEntries.totalCount}`,
      ));
    }],
    [1, async () => {
      const key = pick(run.recentKeys, random) ?? 'none';
      run.tally.note('admin: cacheEntry', false, expectData(await post(run, operationBody(CacheEntryDocument, { key }))));
    }],
    [1, async () => run.tally.note('admin: resetCacheStats', false, expectData(await post(run, operationBody(ResetCacheStatsDocument))))],
  ];
  const total = actions.reduce((sum, [weight]) => sum + weight, 0);
  while (!run.stopping()) {
    let left = random() * total;
    const [, action] = actions.find(([weight]) => (left -= weight) < 0) ?? actions[0]!;
    await action();
    await sleep(ADMIN_EVERY_MS);
  }
  // The settings of the start again, as k6's admin-churn leaves them.
  await updateTo(initial);
}

// ---------------------------------------------------------------------------------------------
// Readings: the cache's bounds, the other endpoints, the heap

interface Largest {
  readonly value: number;
  readonly bound: number;
  readonly at: string;
}

class Readings {
  readings = 0;
  largestBytes: Largest = { value: 0, bound: 0, at: '' };
  largestEntries: Largest = { value: 0, bound: 0, at: '' };
  overBound: { readonly reading: string; readonly at: string }[] = [];
  evictionsByReason: Record<string, number> = {};
  generatorCallsByOutcome: Record<string, number> = {};

  take(stats: Pick<CacheStatsFieldsFragment, 'bytes' | 'maxBytes' | 'entries' | 'maxEntries'>, started: number): void {
    this.readings++;
    const at = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    if (stats.bytes > this.largestBytes.value) this.largestBytes = { value: stats.bytes, bound: stats.maxBytes, at };
    if (stats.entries > this.largestEntries.value) this.largestEntries = { value: stats.entries, bound: stats.maxEntries, at };
    const problem = boundProblem(stats);
    if (problem !== undefined && this.overBound.length < 20) this.overBound.push({ reading: problem, at });
  }
}

async function pollStats(run: Run, readings: Readings, started: number): Promise<void> {
  while (!run.stopping()) {
    const outcome = await post(run, operationBody(CacheStatsDocument));
    run.tally.note('cacheStats, every 250 ms', false, expectData<CacheStatsQuery>(outcome, ({ cacheStats }) => {
      readings.take(cacheStats, started);
      return undefined;
    }));
    await sleep(POLL_MS);
  }
}

/** One round of the other endpoints; notes what /metrics reports of evictions and generator calls. */
async function checkEndpoints(run: Run, readings: Readings): Promise<void> {
  const base = run.url.replace(/\/graphql$/, '');
  const plain = (outcome: Outcome, mustContain: string): Verdict => {
    if ('failure' in outcome) return fault(outcome.failure, outcome);
    if (outcome.status !== 200) return fault(`HTTP ${outcome.status}`, outcome);
    return outcome.text.includes(mustContain) ? undefined : fault(`no "${mustContain}"`, outcome);
  };
  const metrics = await exchange(`${base}/metrics`);
  run.tally.note('GET /metrics', false, plain(metrics, 'gencache_cache_bytes'));
  if ('text' in metrics) {
    for (const match of metrics.text.matchAll(/^gencache_cache_evictions_total\{reason="([a-z_]+)"\} (\d+)$/gm)) {
      readings.evictionsByReason[match[1]!] = Number(match[2]);
    }
    const calls: Record<string, number> = {};
    for (const match of metrics.text.matchAll(/^gencache_generation_duration_seconds_count\{[^}]*outcome="([^"]+)"[^}]*\} (\d+)$/gm)) {
      calls[match[1]!] = (calls[match[1]!] ?? 0) + Number(match[2]);
    }
    readings.generatorCallsByOutcome = calls;
  }
  run.tally.note('GET /ready', false, plain(await exchange(`${base}/ready`), '"ready"'));
  run.tally.note('GET /health', false, plain(await exchange(`${base}/health`), ''));
}

async function pollEndpoints(run: Run, readings: Readings): Promise<void> {
  while (!run.stopping()) {
    await checkEndpoints(run, readings);
    await sleep(ENDPOINTS_EVERY_MS);
  }
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap used after full collections, in MiB. */
function heapAfterGc(): number {
  gc!();
  gc!();
  return Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10;
}

// ---------------------------------------------------------------------------------------------
// Subscriptions that stay open the whole run

interface OpenSubscription {
  readonly name: string;
  updates: number;
  /** Set when it failed or ended before the run did. */
  ended: string | undefined;
  close(): Promise<void>;
}

function subscribeForTheRun<TData>(
  name: string,
  subscribe: (sink: { next: (value: { data?: TData | null; errors?: readonly unknown[] }) => void; error: (error: unknown) => void; complete: () => void }) => () => void,
  onData: (data: TData) => void,
  closeClient: () => Promise<void> | void,
): OpenSubscription {
  const subscription: OpenSubscription = { name, updates: 0, ended: undefined, close: async () => undefined };
  let closing = false;
  const unsubscribe = subscribe({
    next: (value) => {
      subscription.updates++;
      if (value.errors !== undefined) subscription.ended ??= `an error: ${JSON.stringify(value.errors).slice(0, 400)}`;
      else if (value.data) onData(value.data);
    },
    error: (error) => {
      if (!closing) subscription.ended ??= `failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`;
    },
    complete: () => {
      if (!closing) subscription.ended ??= 'completed before the end of the run';
    },
  });
  subscription.close = async () => {
    closing = true;
    unsubscribe();
    await closeClient();
  };
  return subscription;
}

// ---------------------------------------------------------------------------------------------
// The run

interface ServerOutput {
  /** Lines the server logged at warn and above: an unexpected error is logged there, masked in its answer. */
  logLines: number;
  readonly firstLogLines: string[];
  /** What its libraries wrote to the console instead, by message. */
  readonly consoleMessages: Map<string, number>;
}

/**
 * The server's logger, and a watch on the console: graphql-ws writes a socket's errors there,
 * outside the logger, with a stack each. They are counted by message and reported, rather than
 * let through to the terminal line by line, until `restore`.
 */
function captureServerOutput() {
  const output: ServerOutput = { logLines: 0, firstLogLines: [], consoleMessages: new Map() };
  const logger = createLogger(SERVER_ENVIRONMENT.LOG_LEVEL, {
    write: (line: string) => {
      output.logLines++;
      if (output.firstLogLines.length < 20) output.firstLogLines.push(line.trim().slice(0, 1000));
    },
  });
  const methods = { error: console.error, warn: console.warn };
  for (const method of ['error', 'warn'] as const) {
    console[method] = (...values: unknown[]) => {
      const message = values.map((value) => (value instanceof Error ? `${value.name}: ${value.message}` : String(value))).join(' ').slice(0, 300);
      output.consoleMessages.set(message, (output.consoleMessages.get(message) ?? 0) + 1);
    };
  }
  return { logger, output, restore: () => void Object.assign(console, methods) };
}

/** Runs the soak and prints its report; resolves whether it passed. */
export async function runSoak({ seconds, outFile, progress }: SoakOptions): Promise<boolean> {
  if (gc === undefined) throw new Error('the soak reads the heap after gc(): run node with --expose-gc (npm run bench does)');
  const captured = captureServerOutput();
  let results: SoakResults;
  try {
    results = await soak(seconds, captured.logger, captured.output, progress);
  } finally {
    captured.restore();
  }
  printReport(results);
  if (outFile !== undefined) {
    writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`wrote ${outFile}\n`);
  }
  return results.passed;
}

interface SoakResults {
  readonly date: string;
  readonly seconds: number;
  readonly machine: string;
  readonly settings: Record<string, string | number>;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly hostileRequests: number;
  readonly unintendedErrors: number;
  readonly byKind: Record<string, Counts>;
  readonly problems: Record<string, { count: number; detail: string }>;
  readonly subscriptions: readonly { name: string; updates: number; ended: string | null }[];
  readonly cacheEvents: Record<string, number>;
  readonly cache: {
    readonly readings: number;
    readonly largestBytes: Largest;
    readonly largestEntries: Largest;
    readonly overBound: readonly { reading: string; at: string }[];
    readonly goneByReason: Record<string, number>;
  };
  readonly generatorCalls: Record<string, number>;
  readonly heapUsedAfterGcMiB: readonly { atSeconds: number; mib: number }[];
  readonly serverLog: { readonly linesAtWarnOrAbove: number; readonly first: readonly string[]; readonly console: Record<string, number> };
  /** No unintended error, no reading over its bounds, both subscriptions open and fed to the end. */
  readonly passed: boolean;
}

async function soak(seconds: number, logger: Logger, output: ServerOutput, progress: (message: string) => void): Promise<SoakResults> {
  const config = loadConfig(SERVER_ENVIRONMENT);
  const app = createApp(config, { logger, defaultMetrics: false });
  const url = await app.listen(0, '127.0.0.1');
  const initial: Settings = { ...config.cache };
  progress(
    `gencache soak: ${seconds} s of mixed traffic, ${WORKERS} workers, against ${url} in this process; ` +
      `cache ${initial.maxEntries} entries, ${initial.maxBytes} bytes, TTL ${initial.defaultTtlSeconds} s; generator ${config.generator.latencyMs} ms`,
  );

  const heap: { atSeconds: number; mib: number }[] = [{ atSeconds: 0, mib: heapAfterGc() }];
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const tally = new Tally();
  const readings = new Readings();
  const run: Run = { url, tally, outputs: new Map(), recentKeys: [], stopping: () => Date.now() >= deadline };

  const sse = createSseClient({ url, retryAttempts: 0 });
  const ws = createWsClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  const eventTypes: Record<string, number> = {};
  const subscriptions = [
    subscribeForTheRun<CacheStatsLiveSubscription>(
      'cacheStats over SSE (intervalMs 1000)',
      (sink) => sse.subscribe({ query: sourceOf(CacheStatsLiveDocument), variables: { intervalMs: 1000 } }, sink),
      ({ cacheStats }) => readings.take(cacheStats, started),
      () => sse.dispose(),
    ),
    subscribeForTheRun<CacheEventsSubscription>(
      'cacheEvents over graphql-ws (admin)',
      (sink) => ws.subscribe({ query: sourceOf(CacheEventsDocument) }, sink),
      ({ cacheEvents }) => void (eventTypes[cacheEvents.type] = (eventTypes[cacheEvents.type] ?? 0) + 1),
      () => ws.dispose(),
    ),
  ];

  const report = setInterval(() => {
    const elapsed = Math.round((Date.now() - started) / 1000);
    progress(`  ${elapsed}/${seconds} s: ${tally.requests} requests, ${tally.unintended} unintended; largest cache reading ${readings.largestBytes.value} bytes, ${readings.largestEntries.value} entries`);
  }, 30_000);
  const heapSampler = setInterval(() => heap.push({ atSeconds: Math.round((Date.now() - started) / 1000), mib: heapAfterGc() }), HEAP_EVERY_MS);
  let trafficSeconds: number;
  try {
    await Promise.all([
      ...Array.from({ length: WORKERS }, (_, index) => worker(run, index)),
      adminLoop(run, initial),
      pollStats(run, readings, started),
      pollEndpoints(run, readings),
    ]);
    trafficSeconds = (Date.now() - started) / 1000;
    // What left the cache, by reason, over the whole run.
    await checkEndpoints(run, readings);
    for (const subscription of subscriptions) await subscription.close();
    // Let the closed connections settle before the last reading.
    await sleep(500);
    heap.push({ atSeconds: Math.round(trafficSeconds), mib: heapAfterGc() });
  } finally {
    clearInterval(report);
    clearInterval(heapSampler);
    await app.close(2000);
  }

  return {
    date: new Date(started).toISOString(),
    seconds: Math.round(trafficSeconds),
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}, Node.js ${process.version}`,
    settings: { ...SERVER_ENVIRONMENT, workers: WORKERS, seed: SEED, pollMs: POLL_MS, adminEveryMs: ADMIN_EVERY_MS },
    requests: tally.requests,
    requestsPerSecond: Math.round(tally.requests / trafficSeconds),
    hostileRequests: [...tally.byKind.values()].filter((counts) => counts.hostile).reduce((sum, counts) => sum + counts.requests, 0),
    unintendedErrors: tally.unintended,
    byKind: Object.fromEntries([...tally.byKind].sort(([a], [b]) => a.localeCompare(b))),
    problems: Object.fromEntries(tally.problems),
    subscriptions: subscriptions.map(({ name, updates, ended }) => ({ name, updates, ended: ended ?? null })),
    cacheEvents: eventTypes,
    cache: {
      readings: readings.readings,
      largestBytes: readings.largestBytes,
      largestEntries: readings.largestEntries,
      overBound: readings.overBound,
      goneByReason: readings.evictionsByReason,
    },
    generatorCalls: readings.generatorCallsByOutcome,
    heapUsedAfterGcMiB: heap,
    serverLog: { linesAtWarnOrAbove: output.logLines, first: output.firstLogLines, console: Object.fromEntries(output.consoleMessages) },
    passed:
      tally.unintended === 0 &&
      readings.overBound.length === 0 &&
      subscriptions.every((subscription) => subscription.ended === undefined && subscription.updates > 0),
  };
}

function printReport(results: SoakResults): void {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const width = Math.max(...Object.keys(results.byKind).map((kind) => kind.length));
  out();
  out(`soak of ${results.date} on ${results.machine}, ${results.seconds} s: ${results.requests} requests (${results.requestsPerSecond}/s), ${results.hostileRequests} of them hostile`);
  out();
  out(`${'kind'.padEnd(width)}  ${'requests'.padStart(8)}  unintended`);
  for (const [kind, counts] of Object.entries(results.byKind)) out(`${kind.padEnd(width)}  ${String(counts.requests).padStart(8)}  ${counts.unintended}`);
  out();
  out(`unintended errors: ${results.unintendedErrors}`);
  for (const [problem, { count, detail }] of Object.entries(results.problems)) out(`  ${count} x ${problem}\n      first: ${detail}`);
  for (const { name, updates, ended } of results.subscriptions) out(`subscription ${name}: ${updates} updates${ended === null ? ', open to the end' : `; ${ended}`}`);
  out(`cache events received: ${Object.entries(results.cacheEvents).map(([type, count]) => `${type} ${count}`).join(', ')}`);
  const { largestBytes, largestEntries } = results.cache;
  out(`cache, ${results.cache.readings} readings: largest bytes ${largestBytes.value} (maxBytes ${largestBytes.bound} then, at ${largestBytes.at}); largest entries ${largestEntries.value} (maxEntries ${largestEntries.bound} then, at ${largestEntries.at})`);
  out(`  readings over their bounds: ${results.cache.overBound.length}${results.cache.overBound.map(({ reading, at }) => `\n    ${at}: ${reading}`).join('')}`);
  out(`  entries gone, by reason (/metrics): ${Object.entries(results.cache.goneByReason).map(([reason, count]) => `${reason} ${count}`).join(', ')}`);
  out(`generator calls, by outcome (/metrics): ${Object.entries(results.generatorCalls).map(([outcome, count]) => `${outcome} ${count}`).join(', ')}`);
  out(`heap used after gc(): ${results.heapUsedAfterGcMiB.map(({ atSeconds, mib }) => `${mib} MiB at ${atSeconds} s`).join(', ')}`);
  const { serverLog } = results;
  out(`server log lines at warn or above: ${serverLog.linesAtWarnOrAbove}${serverLog.first.map((line) => `\n  ${line}`).join('')}`);
  out(`console output of the server's libraries, outside its logger: ${Object.values(serverLog.console).reduce((sum, count) => sum + count, 0)} messages${Object.entries(serverLog.console).map(([message, count]) => `\n  ${count} x ${message}`).join('')}`);
  out();
  out(results.passed ? 'soak passed: no unintended error, no reading over its bounds, subscriptions open to the end' : 'SOAK FAILED');
}
