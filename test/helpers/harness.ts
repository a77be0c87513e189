import type { AddressInfo } from 'node:net';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type GraphQLFormattedError } from 'graphql';
import { DEFAULT_MAX_REQUEST_BODY_BYTES, type Config } from '../../src/config.js';
import { createGenerationService, type ServiceOverrides } from '../../src/generation/create.js';
import { createHttpServer } from '../../src/http-server.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import type { GenerationService } from '../../src/generation/service.js';
import { GenerationDocument } from '../../src/generated/graphql.js';
import { createGraphQlServer, type GraphQlServer } from '../../src/yoga.js';
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

export interface Harness extends GraphQlServer {
  readonly config: Config;
  readonly generator: InstrumentedGenerator;
  readonly service: GenerationService;
  /** Runs one typed operation through Yoga's fetch, with no port (and so no fast lane). */
  execute<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
    headers?: Record<string, string>,
  ): Promise<OperationResult<TData>>;
}

export interface HarnessOptions extends ServiceOverrides {
  /** Environment variables on top of the test defaults. */
  readonly env?: Record<string, string>;
  /** Latency of the instrumented generator. @default 0 */
  readonly latencyMs?: number;
  /** @default a silent logger */
  readonly logger?: Logger;
  /** Whether repeated queries over a port may take the fast lane. @default true */
  readonly fastLane?: boolean;
}

/** A server as the entry point builds it, with an instrumented simulated generator. */
export function createHarness(options: HarnessOptions = {}): Harness {
  const config = testConfig(options.env);
  const generator = new InstrumentedGenerator({ latencyMs: options.latencyMs ?? 0 });
  const service = createGenerationService(config, { generator, now: options.now });
  const logger = options.logger ?? createLogger('silent');
  const metrics = createMetrics(service, { defaultMetrics: false });
  const { yoga, fastLane } = createGraphQlServer({ service, config, logger, metrics: metrics.registry, fastLane: options.fastLane });
  return {
    config,
    generator,
    service,
    yoga,
    fastLane,
    execute: (document, variables, headers) =>
      postOperation(yoga.fetch.bind(yoga), 'http://yoga/graphql', document, variables, headers),
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
export const cachedKeys = (harness: Harness): string[] => [...harness.service.cache.entries()].map((entry) => entry.record.key);

/** The codes of a result's errors, in order. */
export const errorCodes = (result: OperationResult<unknown>): unknown[] =>
  (result.errors ?? []).map((error) => error.extensions?.['code']);

export interface Listening {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves a GraphQL server (HTTP, SSE and graphql-ws) on a free port of 127.0.0.1 (or the given host). */
export async function listen(
  graphql: GraphQlServer,
  host = '127.0.0.1',
  maxRequestBodyBytes = DEFAULT_MAX_REQUEST_BODY_BYTES,
): Promise<Listening> {
  const { server, close } = createHttpServer(graphql, { maxRequestBodyBytes });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/graphql`,
    close: async () => {
      server.closeAllConnections();
      await close();
    },
  };
}
