import { useGraphQlJit } from '@envelop/graphql-jit';
import { Kind, print, type DocumentNode } from 'graphql';
import { createYoga, maskError, type GraphiQLOptions, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { IncomingMessage } from 'node:http';
import type { Registry } from 'prom-client';
import { createAdminAuthenticator } from './auth.js';
import type { Config } from './config.js';
import { createContext, type Context } from './context.js';
import { GencacheError } from './errors.js';
import { ExampleDocument } from './generated/graphql.js';
import type { GenerationService } from './generation/service.js';
import type { Logger } from './logger.js';
import { useCacheReport } from './plugins/use-cache-report.js';
import { useOperationsEndpoints } from './plugins/use-operations-endpoints.js';
import { useRequestErrorCodes } from './plugins/use-request-error-codes.js';
import { useSecurityLimits } from './plugins/security-limits.js';
import { schema } from './schema/index.js';

export interface YogaDependencies {
  readonly service: GenerationService;
  readonly config: Config;
  readonly logger: Logger;
  /** Served at /metrics. */
  readonly metrics: Registry;
  /** Plugins to run after the service's own, e.g. a whole-response cache to compare against. */
  readonly plugins?: readonly Plugin[];
}

/** What the server adapter adds to Yoga's context: node's request (HTTP and WebSocket alike). */
export interface ServerContext {
  readonly req?: IncomingMessage;
  /** graphql-ws connection parameters, for credentials sent in `connection_init`. */
  readonly connectionParams?: Readonly<Record<string, unknown>>;
}

export type GencacheYoga = YogaServerInstance<ServerContext, Context>;

/**
 * Expected failures pass unchanged: their `extensions.code` came with them from GencacheError.
 * Anything else is masked and logged by Yoga.
 */
const maskUnexpected: typeof maskError = (error, message, isDev) =>
  (error as { originalError?: unknown }).originalError instanceof GencacheError
    ? (error as Error)
    : maskError(error, message, isDev);

/**
 * GraphiQL with every asset (scripts, styles, fonts, editor workers) inlined from the package,
 * so it works where no CDN is reachable. The bundle is large: it is imported on the first page
 * view, and the page, whose options never change, rendered once.
 */
let graphiqlPage: Promise<string> | undefined;
const renderGraphiQL = (options?: GraphiQLOptions): Promise<string> =>
  (graphiqlPage ??= import('@graphql-yoga/render-graphiql').then(({ renderGraphiQL: render }) => render(options)));

const operationCounts = new WeakMap<DocumentNode, boolean>();
function hasOneOperation(document: DocumentNode): boolean {
  let one = operationCounts.get(document);
  if (one === undefined) {
    one = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION).length === 1;
    operationCounts.set(document, one);
  }
  return one;
}

/** The GraphQL server: schema, per-operation context and plugins. It never listens. */
export function createYogaServer({ service, config, logger, metrics, plugins = [] }: YogaDependencies): GencacheYoga {
  const dependencies = { service, limits: config.limits, logger, authenticate: createAdminAuthenticator(config.adminToken) };
  return createYoga<ServerContext, Context>({
    schema,
    context: ({ request, req, connectionParams }) =>
      createContext(dependencies, () => {
        // HTTP requests carry a Fetch request; WebSocket operations the upgrade request and the
        // connection parameters of `connection_init`, where a browser's WebSocket puts headers.
        const fromParams = connectionParams?.['authorization'] ?? connectionParams?.['Authorization'];
        return {
          authorization:
            typeof fromParams === 'string' ? fromParams : (request?.headers.get('authorization') ?? req?.headers.authorization),
          remoteAddress: req?.socket.remoteAddress,
        };
      }),
    maskedErrors: { maskError: maskUnexpected },
    // Security limits first, then the operations endpoints, compilation, and what annotates results.
    plugins: [
      ...useSecurityLimits(),
      useOperationsEndpoints({ service, metrics }),
      // Compiled queries are cached by document, whatever operation is chosen: documents with
      // several operations (GraphiQL tabs often have) run on the standard executor.
      useGraphQlJit({}, { enableIf: ({ document }) => hasOneOperation(document) }),
      useRequestErrorCodes(),
      useCacheReport(),
      ...plugins,
    ],
    graphiql: { title: 'gencache', defaultQuery: print(ExampleDocument) },
    renderGraphiQL,
    landingPage: false,
    // The HTTP server enforces the body limit (src/http-server.ts), where it costs less.
    maxRequestBodySize: false,
  });
}
