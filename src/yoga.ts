import { print } from 'graphql';
import {
  createYoga,
  maskError,
  type GraphiQLOptions,
  type Plugin,
  type YogaInitialContext,
  type YogaLogger,
  type YogaServerInstance,
} from 'graphql-yoga';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { createAdminAuthenticator, type AdminCredentials } from './auth.js';
import { departureOf } from './client-departure.js';
import { createContext, type Context, type ContextDependencies } from './context.js';
import { GencacheError } from './errors.js';
import { createFastLane, type FastLane } from './fast-lane.js';
import { ExampleDocument } from './generated/graphql.js';
import persistedDocuments from './generated/persisted-documents.json' with { type: 'json' };
import type { Generator } from './generation/generator.js';
import type { Logger } from './logger.js';
import { useAccessLog } from './plugins/use-access-log.js';
import { useAutomaticPersistedQueries, type PersistedQueryStoreOptions } from './plugins/use-automatic-persisted-queries.js';
import { useCacheReport } from './plugins/use-cache-report.js';
import { useCompiledQueries } from './plugins/use-compiled-queries.js';
import { useCsrfPrevention } from './plugins/use-csrf-prevention.js';
import { DASHBOARD_PATH, useDashboard } from './plugins/use-dashboard.js';
import { DEFAULT_MAX_GENERATIONS_PER_OPERATION, useGenerationLimit } from './plugins/use-generation-limit.js';
import { useGeneratorReadiness } from './plugins/use-generator-readiness.js';
import { useGraphiQLPage } from './plugins/use-graphiql-page.js';
import { useMalformedParams } from './plugins/use-malformed-params.js';
import { useMetricsEndpoint } from './plugins/use-metrics-endpoint.js';
import { operationNamesOf, useOperationMetrics } from './plugins/use-operation-metrics.js';
import { useRequestErrorCodes } from './plugins/use-request-error-codes.js';
import { useRestApi } from './plugins/use-rest-api.js';
import { useSecurityLimits } from './plugins/use-security-limits.js';
import { DEFAULT_MAX_SUBSCRIPTIONS, useSubscriptionLimit } from './plugins/use-subscription-limit.js';
import { useTrustedDocuments, type TrustedDocumentsSettings } from './plugins/use-trusted-documents.js';
import { schema } from './schema/index.js';

export interface GraphQlServerDependencies extends Omit<ContextDependencies, 'authenticate'> {
  /** The generator, for the readiness check. */
  readonly generator: Generator;
  /** Bearer token of the admin surface; undefined: admin from loopback clients only. */
  readonly adminToken: string | undefined;
  /** Browser origins allowed across origins. @default none: no CORS headers at all */
  readonly corsOrigins?: readonly string[];
  /** Subscriptions open at once, over every transport. @default 1000 */
  readonly maxSubscriptions?: number;
  /** Generations one operation may ask for, counted before it runs. @default 100 */
  readonly maxGenerationsPerOperation?: number;
  /**
   * Whether only the documents of src/generated/persisted-documents.json run, and whether an admin
   * (as the admin surface grants it: the bearer token, or a loopback client while there is no
   * token) may still send any. @default off
   */
  readonly trustedDocuments?: TrustedDocumentsSettings;
  /**
   * Bounds of the automatic persisted queries' store (queries registered by hash, as Apollo
   * Client's persisted-query link sends them). @default 1000 queries, 4 MiB of their text
   */
  readonly persistedQueries?: PersistedQueryStoreOptions;
  /** Served at /metrics. */
  readonly metrics: Registry;
  /** Whether /ready answers 503 while the generator cannot take work. @default false: it only reports it */
  readonly readyRequiresGenerator?: boolean;
  /**
   * Plugins to run after the service's own, e.g. a whole-response cache to compare against. They
   * run on the fast lane's requests too; one with hooks of HTTP framing turns the lane off.
   */
  readonly plugins?: readonly Plugin[];
  /** Whether queries run compiled by graphql-jit (where `isCompilable` allows). @default true */
  readonly compileQueries?: boolean;
  /** Whether plain JSON POSTs may take the fast lane (src/fast-lane.ts). @default true */
  readonly fastLane?: boolean;
}

/** What the server adapter adds to Yoga's context: node's request (HTTP and WebSocket alike). */
export interface ServerContext {
  readonly req?: IncomingMessage;
  readonly res?: ServerResponse;
  /** graphql-ws connection parameters, for credentials sent in `connection_init`. */
  readonly connectionParams?: Readonly<Record<string, unknown>>;
  /** graphql-ws: the connection's socket. */
  readonly socket?: unknown;
}

export type GencacheYoga = YogaServerInstance<ServerContext, Context>;

/** The GraphQL server: Yoga, and the fast lane that spares plain JSON POSTs its Fetch adapter. */
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
 * GraphiQL with every asset (scripts, styles, fonts, editor workers) inlined from the package,
 * so it works where no CDN is reachable. The bundle is large: it is imported on the first page
 * view; useGraphiQLPage renders the page once and serves it compressed and validated.
 */
const renderGraphiQL = (options: GraphiQLOptions): Promise<string> =>
  import('@graphql-yoga/render-graphiql').then(({ renderGraphiQL: render }) => {
    // render-graphiql writes the title as the page's <title> and as HTML beside the logo, where it
    // also links to the dashboard.
    const title = options.title ?? 'GraphiQL';
    const heading = `${title} · <a href="${DASHBOARD_PATH}">dashboard</a>`;
    return render({ ...options, title: heading }).replace(`<title>${heading}</title>`, `<title>${title}</title>`);
  });

/**
 * Admin credentials of an operation. HTTP requests carry a Fetch request; WebSocket operations
 * the upgrade request and the connection parameters of `connection_init`, where a browser's
 * WebSocket puts headers.
 */
function credentialsOf({ request, req, connectionParams }: Partial<YogaInitialContext> & ServerContext): AdminCredentials {
  const fromParams = connectionParams?.['authorization'] ?? connectionParams?.['Authorization'];
  const header = (name: string) => request?.headers.get(name) ?? (req?.headers[name] as string | undefined);
  return {
    authorization: typeof fromParams === 'string' ? fromParams : header('authorization'),
    remoteAddress: req?.socket.remoteAddress,
    host: header('host'),
    origin: header('origin'),
  };
}

/**
 * The GraphQL server: schema, per-operation context and plugins, and the fast lane. It never
 * listens.
 */
export function createGraphQlServer(options: GraphQlServerDependencies): GraphQlServer {
  const { service, cache, statsFeed, logger, generator, adminToken, maxResponseBytes, readyRequiresGenerator = false, instanceId, cacheEvents, fleetStats, cancelGeneration, corsOrigins = [], maxSubscriptions = DEFAULT_MAX_SUBSCRIPTIONS, maxGenerationsPerOperation = DEFAULT_MAX_GENERATIONS_PER_OPERATION, trustedDocuments = { enabled: false, adminBypass: false }, metrics, plugins = [], fastLane = true, compileQueries = true } = options;
  const dependencies: ContextDependencies = {
    service,
    cache,
    statsFeed,
    logger,
    maxResponseBytes,
    instanceId,
    cacheEvents,
    fleetStats,
    // Made once here, not per operation by createContext's default.
    cancelGeneration: cancelGeneration ?? ((key) => service.cancel(key)),
    authenticate: createAdminAuthenticator(adminToken),
  };
  const contextOf = (sources: Partial<YogaInitialContext> & ServerContext) =>
    createContext(
      dependencies,
      () => credentialsOf(sources),
      () => departureOf(sources),
    );
  const isAdmin = (sources: Partial<YogaInitialContext> & ServerContext) => dependencies.authenticate(credentialsOf(sources)) === 'granted';
  // Plugins with hooks of HTTP framing that never act on what the fast lane takes: the readiness,
  // metrics, REST (/api) and dashboard endpoints answer their own paths; CSRF prevention lets
  // every JSON POST through; the GraphiQL page only acts on the GETs Yoga answers with GraphiQL;
  // the refusal of malformed parameters wraps Yoga's parsers, which the lane's requests skip.
  const csrfPrevention = useCsrfPrevention();
  const graphiqlPage = useGraphiQLPage({ options: { title: 'gencache', defaultQuery: print(ExampleDocument) }, render: renderGraphiQL });
  const laneSafe = [csrfPrevention, useGeneratorReadiness({ generator, cacheEnabled: () => cache.settings.enabled, sharedTier: () => cache.stats().sharedTier, requireGenerator: readyRequiresGenerator }), useMetricsEndpoint(metrics), useRestApi(), graphiqlPage, useDashboard({ graphqlEndpoint: GRAPHQL_ENDPOINT }), useMalformedParams()];
  // The request metrics and the access log first, so that they see every request, those a later
  // plugin's onParams refuses too; then trusted documents (which documents may be parsed at all),
  // automatic persisted queries (which text a hash names; after trusted documents, which decide
  // first), the security limits, the other endpoints, compilation, and what annotates results.
  const yogaPlugins = [
    useOperationMetrics({ registry: metrics, operationNames: operationNamesOf(persistedDocuments) }),
    useAccessLog({ logger }),
    ...(trustedDocuments.enabled
      ? [
          useTrustedDocuments<ServerContext>({
            manifest: persistedDocuments,
            allowAnyDocument: trustedDocuments.adminBypass ? ({ request, context }) => isAdmin({ ...context, request }) : undefined,
          }),
        ]
      : []),
    useAutomaticPersistedQueries(options.persistedQueries),
    ...useSecurityLimits(),
    useGenerationLimit(maxGenerationsPerOperation),
    useSubscriptionLimit(maxSubscriptions),
    ...laneSafe,
    ...(compileQueries ? useCompiledQueries(schema) : []),
    useRequestErrorCodes(),
    useCacheReport(),
    ...plugins,
  ];
  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_ENDPOINT,
    context: contextOf,
    maskedErrors: { maskError: maskUnexpected, errorMessage: UNEXPECTED_ERROR_MESSAGE },
    // Yoga's own logs (unexpected errors among them) are lines of the service's log.
    logging: logger as unknown as YogaLogger,
    plugins: yogaPlugins,
    ...graphiqlPage.yogaOptions,
    landingPage: false,
    // Closed unless origins are listed; credentials only ever for a listed origin.
    cors: corsOrigins.length === 0 ? false : { origin: [...corsOrigins], credentials: true, methods: ['GET', 'POST'] },
    // The HTTP server enforces the body limit (src/http-server.ts), where it costs less.
    maxRequestBodySize: false,
  });
  const lane = fastLane ? createFastLane({ yoga, plugins: yogaPlugins, laneSafe }) : undefined;
  return { yoga, fastLane: lane };
}
