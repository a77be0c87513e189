import type { IncomingMessage, ServerResponse } from 'node:http';
import { Kind, type DocumentNode, type ExecutionResult, type GraphQLError, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { isPromise, processRegularResult, type Plugin, type YogaInitialContext } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import { isCompilable } from './compilation.js';

/**
 * The fast lane: answers a plain JSON POST of a query that Yoga has already parsed and validated
 * by running its compiled form directly, without Yoga's Fetch layer, which costs most of a
 * cached request. Yoga answers everything else, and defines what the answer must be: a query
 * reaches the fast lane only after Yoga has run it once, and the response is the one Yoga gives
 * (test/fast-lane.test.ts compares them).
 */
export interface FastLane {
  /** A Yoga plugin that prepares each query Yoga executes, so that its repeats can take the lane. */
  readonly plugin: Plugin;
  /**
   * The media type the lane would answer the request in, judged from its method, path and
   * headers before its body is read; undefined when the request is not for the lane.
   */
  mediaTypeOf(req: IncomingMessage): string | undefined;
  /**
   * Answers the request from its body, in the media type `mediaTypeOf` gave, and resolves true;
   * or resolves false having written nothing, for Yoga to answer: an unknown query, another
   * operation name, variables that do not coerce, or a body that is not a plain GraphQL request.
   */
  serve(req: IncomingMessage, res: ServerResponse, body: Buffer, mediaType: string): Promise<boolean>;
}

export interface FastLaneOptions<TContext> {
  readonly schema: GraphQLSchema;
  /** Yoga's GraphQL endpoint, e.g. `/graphql`. */
  readonly endpoint: string;
  /** The context of an operation of this request, as Yoga would build it. */
  readonly createContext: (req: IncomingMessage) => TContext;
  /** Completes a result as Yoga's execution plugins would, e.g. with extensions. */
  readonly completeResult: (result: ExecutionResult, context: TContext) => void;
  /**
   * Yoga's error masking, with its logging: for the errors of a result, and for anything thrown
   * outside a resolver (as Yoga's error handler masks it).
   */
  readonly maskError: (error: unknown) => GraphQLError;
  /** Yoga's Fetch API, to format results with errors exactly as Yoga does. */
  readonly fetchAPI: typeof globalThis;
  /** Queries kept prepared, least recently used dropped first. @default 1000 */
  readonly maxPrepared?: number;
}

/** The text of the queries kept prepared, in characters, at most. */
const MAX_PREPARED_CHARACTERS = 16 * 1024 * 1024;

interface Prepared {
  readonly compiled: CompiledQuery;
  readonly operationName: string | undefined;
}

interface Params {
  readonly query: string;
  readonly variables?: Record<string, unknown> | null;
  readonly operationName?: string | null;
  readonly extensions?: Record<string, unknown> | null;
}

export function createFastLane<TContext>(options: FastLaneOptions<TContext>): FastLane {
  const { schema, endpoint, createContext, completeResult, maskError, fetchAPI, maxPrepared = 1000 } = options;
  const prepared = new LRUCache<string, Prepared>({
    max: maxPrepared,
    maxSize: MAX_PREPARED_CHARACTERS,
    sizeCalculation: (_value, query) => query.length || 1,
  });

  const plugin: Plugin = {
    onExecute({ args }) {
      const query = (args.contextValue as Partial<YogaInitialContext>).params?.query;
      if (typeof query !== 'string' || prepared.has(query) || !isCompilable(schema, args.document)) return;
      const operation = onlyQueryOperation(args.document);
      if (operation === undefined) return;
      const compiled = compileQuery(schema, args.document, operation.name);
      if (isCompiledQuery(compiled)) prepared.set(query, { compiled, operationName: operation.name });
    },
  };

  return {
    plugin,
    mediaTypeOf: (req) =>
      req.method === 'POST' &&
      req.url === endpoint &&
      req.headers.origin === undefined &&
      isHost(req.headers.host) &&
      isJson(req.headers['content-type'])
        ? jsonMediaType(req.headers.accept)
        : undefined,
    async serve(req, res, body, mediaType) {
      const params = parseParams(body);
      if (params === undefined) return false;
      const entry = prepared.get(params.query);
      if (entry === undefined || (params.operationName != null && params.operationName !== entry.operationName)) return false;
      let result: ExecutionResult;
      try {
        const context = createContext(req);
        const pending = entry.compiled.query(undefined, context, params.variables ?? {});
        const executed = isPromise(pending) ? await pending : pending;
        // No data: the variables did not coerce, and nothing ran. Yoga words that refusal.
        if (!('data' in executed)) return false;
        completeResult(executed, context);
        result = executed.errors === undefined ? executed : { ...executed, errors: executed.errors.map(maskError) };
      } catch (error) {
        // A failure outside any resolver: Yoga masks it and answers 500.
        result = { errors: [maskError(error)] };
      }
      try {
        await respond(res, result, mediaType, fetchAPI);
      } catch (error) {
        // Nothing more can be written (e.g. the client went away): the failure is logged.
        maskError(error);
        res.destroy();
      }
      return true;
    },
  };
}

/** Writes a result as Yoga's result processor does: media type, status and body. */
async function respond(res: ServerResponse, result: ExecutionResult, mediaType: string, fetchAPI: typeof globalThis): Promise<void> {
  if (result.errors === undefined) {
    return send(res, 200, { 'Content-Type': `${mediaType}; charset=utf-8` }, JSON.stringify(result));
  }
  // Errors take Yoga's own formatting, status included.
  const response = processRegularResult(result, fetchAPI as never, mediaType);
  send(res, response.status, Object.fromEntries(response.headers), await response.text());
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The single operation of a document, when it is a query. */
function onlyQueryOperation(document: DocumentNode): { name: string | undefined } | undefined {
  let found: { name: string | undefined } | undefined;
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    if (found !== undefined || definition.operation !== 'query') return undefined;
    found = { name: definition.name?.value };
  }
  return found;
}

/** Yoga's test of a JSON body, exactly. */
function isJson(contentType: string | undefined): boolean {
  const first = contentType?.split(',')[0];
  return first === 'application/json' || first?.startsWith('application/json;') === true;
}

/** A host name or address, with a port or not: Yoga builds the request's URL from it. */
const isHost = (host: string | undefined) => host !== undefined && /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i.test(host);

/**
 * The media type Yoga answers a query in, for an Accept header, when it is JSON; undefined when
 * Yoga would choose another (SSE, multipart) or refuse. As Yoga does: the first type listed that
 * a JSON type matches wins, whatever its quality; `application/json` before
 * `application/graphql-response+json` when a wildcard matches both; types with a charset other
 * than UTF-8 are passed over.
 */
function jsonMediaType(accept: string | undefined): string | undefined {
  for (const item of (accept || '*/*').replace(/\s/g, '').toLowerCase().split(',')) {
    const [type = '', ...params] = item.split(';');
    if ((params.find((param) => param.includes('charset=')) ?? 'charset=utf-8') !== 'charset=utf-8') continue;
    const [main, sub] = type.split('/');
    const matches = (json: string) => (main === '*' || main === 'application') && (sub === '*' || sub === json);
    if (matches('json')) return 'application/json';
    if (matches('graphql-response+json')) return 'application/graphql-response+json';
  }
  return undefined;
}

const PARAM_KEYS = new Set(['query', 'variables', 'operationName', 'extensions']);
const isObjectOrNull = (value: unknown) => value == null || (typeof value === 'object' && !Array.isArray(value));

/** The body as GraphQL request parameters, or undefined when it is anything but a plain request. */
function parseParams(body: Buffer): Params | undefined {
  let params: unknown;
  try {
    params = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  const record = params as Record<string, unknown>;
  for (const key in record) if (!PARAM_KEYS.has(key)) return undefined;
  const { query, variables, operationName, extensions } = record;
  if (typeof query !== 'string' || !isObjectOrNull(variables) || !isObjectOrNull(extensions)) return undefined;
  if (operationName != null && typeof operationName !== 'string') return undefined;
  return record as unknown as Params;
}
