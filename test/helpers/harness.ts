import type { AddressInfo } from 'node:net';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type GraphQLFormattedError } from 'graphql';
import { onTestFinished } from 'vitest';
import { createApp, type App, type AppOverrides } from '../../src/app.js';
import type { z } from 'zod';
import type { MemoryStore } from '../../src/cache/memory-store.js';
import type { JsonObject } from '../../src/generation/generator.js';
import { createHttpServer } from '../../src/http-server.js';
import { createLogger } from '../../src/logger.js';
import { GenerationDocument } from '../../src/generated/graphql.js';
import type { GraphQlServer } from '../../src/yoga.js';
import { testConfig } from './config.js';
import { InstrumentedGenerator } from './instrumented-generator.js';

export interface CacheReportItem {
  readonly key: string;
  readonly status: string;
}

export interface OperationResult<TData> {
  readonly status: number;
  readonly data?: TData | null;
  readonly errors?: GraphQLFormattedError[];
  readonly extensions?: { cache?: Record<string, CacheReportItem> } & Record<string, unknown>;
}

export interface Harness extends App {
  readonly generator: InstrumentedGenerator;
  readonly cache: MemoryStore;
  /** Runs one typed operation through Yoga's fetch, with no port (and so no fast lane). */
  execute<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
    headers?: Record<string, string>,
  ): Promise<OperationResult<TData>>;
}

export interface HarnessOptions extends Omit<AppOverrides, 'generator'> {
  /** Environment variables on top of the test defaults. */
  readonly env?: Record<string, string>;
  /** Latency of the instrumented generator. @default 0 */
  readonly latencyMs?: number;
  /** Parameters for the instrumented generator to declare. @default the simulated generator's */
  readonly parameters?: z.ZodType<JsonObject>;
}

/** The app as the entry point builds it, with an instrumented simulated generator and a silent logger. */
export function createHarness(options: HarnessOptions = {}): Harness {
  const { env, latencyMs = 0, parameters, ...overrides } = options;
  const generator = new InstrumentedGenerator({ latencyMs, ...(parameters && { parameters }) });
  const app = createApp(testConfig(env), { logger: createLogger('silent'), defaultMetrics: false, ...overrides, generator });
  return {
    ...app,
    generator,
    cache: app.cache as MemoryStore,
    execute: (document, variables, headers) =>
      postOperation(app.yoga.fetch.bind(app.yoga), 'http://yoga/graphql', document, variables, headers),
  };
}

type Fetch = (url: string, init: RequestInit) => Promise<Response> | Response;

/** POSTs a typed operation and parses the GraphQL response. */
export async function postOperation<TData, TVariables>(
  fetchFn: Fetch,
  url: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables?: TVariables,
  headers: Record<string, string> = {},
): Promise<OperationResult<TData>> {
  const response = await fetchFn(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as Omit<OperationResult<TData>, 'status'>;
  return { status: response.status, ...body };
}

/** Data of a result that must have no errors. */
export function dataOf<TData>(result: OperationResult<TData>): TData {
  if (result.errors !== undefined) throw new Error(`unexpected errors: ${JSON.stringify(result.errors)}`);
  if (result.data === undefined || result.data === null) throw new Error('no data');
  return result.data;
}

/** Generates the prompts in order, through GraphQL; returns their keys. */
export async function generateAll(harness: Harness, prompts: readonly string[], model?: string): Promise<string[]> {
  const keys: string[] = [];
  for (const prompt of prompts) {
    keys.push(dataOf(await harness.execute(GenerationDocument, { input: { prompt, model } })).generation!.key);
  }
  return keys;
}

/** The keys in the result cache, most recently used first. */
export const cachedKeys = (harness: Harness): string[] => [...harness.cache.entries()].map((entry) => entry.record.key);

/** The codes of a result's errors, in order. */
export const errorCodes = (result: OperationResult<unknown>): unknown[] =>
  (result.errors ?? []).map((error) => error.extensions?.['code']);

export interface Listening {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the app, or a GraphQL server built beside it (HTTP, SSE and graphql-ws), on a free port
 * of 127.0.0.1 (or the given host).
 */
export async function listen(served: App | GraphQlServer, host = '127.0.0.1'): Promise<Listening> {
  const http = 'listen' in served ? { server: served.server, close: () => served.close(0) } : createHttpServer(served);
  await new Promise<void>((resolve) => http.server.listen(0, host, resolve));
  const { port } = http.server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/graphql`,
    close: async () => {
      http.server.closeAllConnections();
      await http.close();
    },
  };
}

/**
 * Serves like `listen`, for the current test only: the server closes itself when the test
 * finishes (after its `afterEach` hooks), pass or fail. Returns the GraphQL URL.
 *
 * Call it inside a test or a `beforeEach` hook; it throws in `beforeAll` (no test runs then),
 * so a server shared by a describe block is started with `listen` and closed in `afterAll`.
 */
export async function serve(served: App | GraphQlServer, host = '127.0.0.1'): Promise<string> {
  let listening: Listening | undefined;
  // Registered first, so that a call outside a test throws before anything listens.
  onTestFinished(() => listening?.close());
  listening = await listen(served, host);
  return listening.url;
}
