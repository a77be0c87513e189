import { useGraphQlJit } from '@envelop/graphql-jit';
import { GraphQLError, print } from 'graphql';
import {
  createGraphQLError,
  createYoga,
  maskError,
  type GraphiQLOptions,
  type Plugin,
  type YogaInitialContext,
  type YogaLogger,
  type YogaServerInstance,
} from 'graphql-yoga';
import type { IncomingMessage } from 'node:http';
import type { Registry } from 'prom-client';
import { createAdminAuthenticator, type AdminCredentials } from './auth.js';
import { isCompilable } from './compilation.js';
import { createContext, type Context, type ContextDependencies } from './context.js';
import { GencacheError } from './errors.js';
import { createFastLane, type FastLane } from './fast-lane.js';
import { ExampleDocument } from './generated/graphql.js';
import type { Generator } from './generation/generator.js';
import type { Logger } from './logger.js';
import { completeWithCacheReport, useCacheReport } from './plugins/use-cache-report.js';
import { useGeneratorReadiness } from './plugins/use-generator-readiness.js';
import { useMetricsEndpoint } from './plugins/use-metrics-endpoint.js';
import { useRequestErrorCodes } from './plugins/use-request-error-codes.js';
import { useSecurityLimits } from './plugins/use-security-limits.js';
import { schema } from './schema/index.js';

export interface GraphQlServerDependencies extends Omit<ContextDependencies, 'authenticate'> {
  /** The generator, for the readiness check. */
  readonly generator: Generator;
  /** Bearer token of the admin surface; undefined: admin from loopback clients only. */
  readonly adminToken: string | undefined;
  /** Served at /metrics. */
  readonly metrics: Registry;
  /**
   * Plugins to run after the service's own, e.g. a whole-response cache to compare against.
   * Requests then all go through Yoga: the fast lane does not run plugins.
   */
  readonly plugins?: readonly Plugin[];
  /** Whether repeated queries may take the fast lane, and how many it keeps prepared. @default true */
  readonly fastLane?: boolean | { readonly maxPrepared: number };
}

/** What the server adapter adds to Yoga's context: node's request (HTTP and WebSocket alike). */
export interface ServerContext {
  readonly req?: IncomingMessage;
  /** graphql-ws connection parameters, for credentials sent in `connection_init`. */
  readonly connectionParams?: Readonly<Record<string, unknown>>;
}

export type GencacheYoga = YogaServerInstance<ServerContext, Context>;

/** The GraphQL server: Yoga, and the fast lane that answers repeated queries beside it. */
export interface GraphQlServer {
  readonly yoga: GencacheYoga;
  readonly fastLane: FastLane | undefined;
}

const GRAPHQL_ENDPOINT = '/graphql';
const UNEXPECTED_ERROR_MESSAGE = 'Unexpected error.';

/**
 * Expected failures pass unchanged: their `extensions.code` came with them from GencacheError.
 * Anything else is masked and logged by Yoga.
 */
export const maskUnexpected: typeof maskError = (error, message, isDev) =>
  (error as { originalError?: unknown }).originalError instanceof GencacheError
    ? (error as Error)
    : maskError(error, message, isDev);

/**
 * The masking of the fast lane: Yoga's, with its logging (the original of a masked error is
 * logged), for a result's errors and for anything thrown outside a resolver.
 */
export function fastLaneMasking(logger: Logger): (error: unknown) => GraphQLError {
  return (error) => {
    const masked = maskUnexpected(error as Error, UNEXPECTED_ERROR_MESSAGE);
    if (masked !== error) logger.error(error);
    return masked instanceof GraphQLError ? masked : createGraphQLError(masked.message, { originalError: masked });
  };
}

/**
 * GraphiQL with every asset (scripts, styles, fonts, editor workers) inlined from the package,
 * so it works where no CDN is reachable. The bundle is large: it is imported on the first page
 * view, and the page, whose options never change, rendered once.
 */
let graphiqlPage: Promise<string> | undefined;
const renderGraphiQL = (options?: GraphiQLOptions): Promise<string> =>
  (graphiqlPage ??= import('@graphql-yoga/render-graphiql').then(({ renderGraphiQL: render }) => render(options)));

/**
 * Admin credentials of an operation. HTTP requests through Yoga carry a Fetch request, those of
 * the fast lane node's request; WebSocket operations the upgrade request and the connection
 * parameters of `connection_init`, where a browser's WebSocket puts headers.
 */
function credentialsOf({ request, req, connectionParams }: Partial<YogaInitialContext> & ServerContext): AdminCredentials {
  const fromParams = connectionParams?.['authorization'] ?? connectionParams?.['Authorization'];
  return {
    authorization: typeof fromParams === 'string' ? fromParams : (request?.headers.get('authorization') ?? req?.headers.authorization),
    remoteAddress: req?.socket.remoteAddress,
  };
}

/**
 * The GraphQL server: schema, per-operation context and plugins, and the fast lane. It never
 * listens.
 */
export function createGraphQlServer(options: GraphQlServerDependencies): GraphQlServer {
  const { service, cache, statsFeed, logger, generator, adminToken, metrics, plugins = [], fastLane = true } = options;
  const dependencies: ContextDependencies = { service, cache, statsFeed, logger, authenticate: createAdminAuthenticator(adminToken) };
  const contextOf = (sources: Partial<YogaInitialContext> & ServerContext) => createContext(dependencies, () => credentialsOf(sources));
  const lane =
    fastLane !== false && plugins.length === 0
      ? createFastLane<Context>({
          ...(typeof fastLane === 'object' ? fastLane : {}),
          schema,
          endpoint: GRAPHQL_ENDPOINT,
          createContext: (req) => contextOf({ req }),
          completeResult: completeWithCacheReport,
          maskError: fastLaneMasking(logger),
          fetchAPI: globalThis,
        })
      : undefined;
  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_ENDPOINT,
    context: contextOf,
    maskedErrors: { maskError: maskUnexpected, errorMessage: UNEXPECTED_ERROR_MESSAGE },
    // Yoga's own logs (unexpected errors among them) are lines of the service's log.
    logging: logger as unknown as YogaLogger,
    // Security limits first, then the operations endpoints, compilation, and what annotates results.
    plugins: [
      ...useSecurityLimits(),
      useGeneratorReadiness({ generator, cacheEnabled: () => cache.settings.enabled }),
      useMetricsEndpoint(metrics),
      // Documents graphql-jit would run otherwise than graphql-js run on the standard executor.
      useGraphQlJit({}, { enableIf: ({ document }) => isCompilable(schema, document) }),
      useRequestErrorCodes(),
      useCacheReport(),
      ...(lane ? [lane.plugin] : []),
      ...plugins,
    ],
    graphiql: { title: 'gencache', defaultQuery: print(ExampleDocument) },
    renderGraphiQL,
    landingPage: false,
    // The HTTP server enforces the body limit (src/http-server.ts), where it costs less.
    maxRequestBodySize: false,
  });
  return { yoga, fastLane: lane };
}
