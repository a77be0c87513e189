/**
 * The floor of any Yoga front door for the hit path: gencache's schema, context and resolvers run
 * through Yoga's `getEnveloped()` with only the plugins the answer needs (compiled queries and the
 * cache report, beside Yoga's own), on a bare node server that reads the body, runs parse,
 * validate, context and execute, and writes the JSON. No `onParams` or `onResultProcess` hooks,
 * no content negotiation, no metrics, access log, security limits or persisted queries, no Fetch
 * Request: what gencache's fast lane does is this and those. Measuring it beside the fast lane and
 * the Mercurius peer tells how much of the gap is Yoga's pipeline itself and how much the
 * service's plugins. It is an instrument of the benchmark, not a way to serve.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ExecutionResult } from 'graphql';
import { createYoga, isPromise } from 'graphql-yoga';
import type { App } from '../../src/app.js';
import { createContext, type Context } from '../../src/context.js';
import { useCacheReport } from '../../src/plugins/use-cache-report.js';
import { useCompiledQueries } from '../../src/plugins/use-compiled-queries.js';
import { schema } from '../../src/schema/index.js';
import type { ServerContext } from '../../src/yoga.js';

interface Params {
  readonly query: string;
  readonly variables?: Record<string, unknown>;
  readonly operationName?: string;
}

/** A node server answering POSTs to any path from the app's service and cache; not yet listening. */
export function createYogaFloorServer(app: App): Server {
  const dependencies = { service: app.service, cache: app.cache, statsFeed: app.statsFeed, logger: app.logger, authenticate: () => 'forbidden' as const };
  const yoga = createYoga<ServerContext, Context>({
    schema,
    context: () => createContext(dependencies, () => ({ authorization: undefined, remoteAddress: undefined, host: undefined, origin: undefined })),
    plugins: [...useCompiledQueries(schema), useCacheReport()],
    logging: false,
    maxRequestBodySize: false,
    landingPage: false,
    graphiql: false,
    cors: false,
  });
  const write = (res: ServerResponse, result: ExecutionResult) => {
    const text = JSON.stringify(result);
    res.writeHead(200, { 'Content-Type': 'application/graphql-response+json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const answer = (req: IncomingMessage, res: ServerResponse, params: Params) => {
    const { parse, validate, contextFactory, execute, schema: enveloped } = yoga.getEnveloped({ req, res, params });
    const document = parse(params.query);
    const errors = validate(enveloped, document);
    if (errors.length > 0) return write(res, { errors });
    const run = (contextValue: unknown) => {
      const result = execute({ schema: enveloped, document, contextValue, variableValues: params.variables, operationName: params.operationName }) as
        | ExecutionResult
        | Promise<ExecutionResult>;
      return isPromise(result) ? result.then((done) => write(res, done)) : write(res, result);
    };
    const contextValue = contextFactory();
    return isPromise(contextValue) ? contextValue.then(run) : run(contextValue);
  };
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req
      .on('data', (chunk: Buffer) => chunks.push(chunk))
      .on('end', () => {
        try {
          void answer(req, res, JSON.parse(Buffer.concat(chunks).toString('utf8')) as Params);
        } catch (error) {
          res.writeHead(500).end(String(error));
        }
      });
  });
}
