import { MapperKind, mapSchema, pruneSchema } from '@graphql-tools/utils';
import { useSofa } from '@graphql-yoga/plugin-sofa';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import type { FetchAPI, Plugin, YogaLogger } from 'graphql-yoga';
import { useCsrfPrevention } from './use-csrf-prevention.js';

/**
 * The replaced system's REST endpoints, for its clients, served from the GraphQL schema by SOFA
 * (`@graphql-yoga/plugin-sofa`), with an OpenAPI 3 document at `/api/openapi.json`:
 *
 * | endpoint                  | runs                                   | answers                          |
 * |---------------------------|----------------------------------------|----------------------------------|
 * | `GET /api/cache/stats`    | `cacheStats(scope)`                    | the CacheStats object            |
 * | `GET /api/cache/config`   | `cacheConfig`                          | the CacheConfig object           |
 * | `POST /api/cache/config`  | `updateCacheConfig(input: <the body>)` | the CacheConfig after the change |
 * | `POST /api/cache/clear`   | `clearCache`                           | the CacheClearResult object      |
 * | `GET /api/cache/entries`  | `cacheEntries(first, after, orderBy, model, tier)` | a JSON array of entries |
 *
 * Invariants:
 * - Only these routes exist under `/api`: SOFA sees a schema cut down to their five fields (it
 *   would make a route of every field, and a webhook that posts subscription events to any URL),
 *   and any other method or path under `/api` is answered 404 or 405 here, before SOFA. Nothing
 *   outside `/api` is touched: for every other request the hook returns at once, doing nothing,
 *   which is why the fast lane (POST /graphql only) may leave it out.
 * - Operations run through Yoga's envelop (`getEnveloped`: the same context, so the same admin
 *   rule from the same request headers and client address; masking; every execute hook), with
 *   the resolvers of the schema. SOFA's documents are made here from the schema, so they are not
 *   parsed or checked against the trusted documents, which judge the texts clients send; no
 *   route takes GraphQL text.
 * - A POST must pass the CSRF rule of `/graphql` (src/plugins/use-csrf-prevention.ts): a JSON
 *   content type, or the `x-graphql-yoga-csrf` header; a form-like POST is refused with 403
 *   before anything runs.
 * - Errors are JSON, `{ "errors": [{ "message", "extensions": { "code" } }] }`, with the status of
 *   their code: 400 for an invalid value (a client's mistake is never a 500), 401
 *   UNAUTHENTICATED, 403 FORBIDDEN, 503 for a shared tier that does not answer; 500 only for an
 *   unexpected failure, masked as on `/graphql`.
 */

type SofaErrorHandler = NonNullable<Parameters<typeof useSofa>[0]['errorHandler']>;

/** Where the REST API is served. */
const REST_API_BASE_PATH = '/api';

const OPENAPI_PATH = '/openapi.json';
const UNEXPECTED_ERROR_MESSAGE = 'Unexpected error.';

/** The routes (paths under the base) and the field each runs. */
const ROUTES = {
  'Query.cacheStats': { method: 'GET', path: '/cache/stats' },
  'Query.cacheConfig': { method: 'GET', path: '/cache/config' },
  'Mutation.updateCacheConfig': { method: 'POST', path: '/cache/config' },
  'Mutation.clearCache': { method: 'POST', path: '/cache/clear' },
  'Query.cacheEntries': { method: 'GET', path: '/cache/entries' },
} as const;

/** Path under the base → the methods it takes. */
const METHODS = new Map<string, string[]>([[OPENAPI_PATH, ['GET']]]);
for (const { method, path } of Object.values(ROUTES)) METHODS.set(path, [...(METHODS.get(path) ?? []), method]);

/** The HTTP status of each expected error code; any other code is a failure of the server. */
const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  OVERLOADED: 503,
  SHARED_TIER_UNAVAILABLE: 503,
};

/**
 * The code of an error that came without one, as src/plugins/use-request-error-codes.ts gives it
 * on `/graphql`: a refusal with its own status 403 (CSRF prevention) is FORBIDDEN; an error
 * without a path is the request's own (a body that is not JSON, a value that does not coerce to
 * its type), a bad value; a field error without a code is unexpected (masked).
 */
function codeOf(error: GraphQLError, declaredStatus: unknown): string {
  if (declaredStatus === 403) return 'FORBIDDEN';
  return error.path === undefined ? 'BAD_USER_INPUT' : 'INTERNAL_SERVER_ERROR';
}

/**
 * The part of the schema the REST API serves: its five root fields, without what they cannot use.
 * `cacheEntries` loses `last` and `before`, which it always refuses (cursors are read forward
 * only), and a listed entry its `generation`: a listing is the entries' bookkeeping, and each
 * output (up to MAX_OUTPUT_BYTES) stays with GraphQL's `cacheEntry(key)`. Resolvers, and so the
 * admin rule, are the schema's own.
 */
function restApiSchemaOf(schema: GraphQLSchema): GraphQLSchema {
  return pruneSchema(
    mapSchema(schema, {
      [MapperKind.SUBSCRIPTION]: () => null,
      [MapperKind.ROOT_FIELD]: (field, fieldName, typeName) => {
        if (!(`${typeName}.${fieldName}` in ROUTES)) return null;
        if (fieldName !== 'cacheEntries' || field.args === undefined) return field;
        const { last: _last, before: _before, ...args } = field.args;
        return { ...field, args };
      },
      [MapperKind.OBJECT_FIELD]: (field, fieldName, typeName) => (typeName === 'CacheEntry' && fieldName === 'generation' ? null : field),
    }),
  );
}

/** The REST endpoints under `/api`; see above. */
export function useRestApi(): Plugin {
  let fetchAPI: FetchAPI | undefined;
  let logger: YogaLogger | undefined;
  const json = (body: unknown, init: ResponseInit = {}) => fetchAPI!.Response.json(body, init);

  /** Errors as JSON, with the highest status among them. */
  const errorResponse = (errors: readonly unknown[]): Response => {
    let status = 0;
    const formatted = errors.map((error) => {
      if (!(error instanceof GraphQLError)) {
        // A failure outside GraphQL's execution (SOFA's, or the context's): masked and logged.
        logger?.error(error);
        status = Math.max(status, 500);
        return { message: UNEXPECTED_ERROR_MESSAGE, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
      }
      // graphql-jit's errors of variables come without extensions.
      const extensions: Readonly<Record<string, unknown>> = error.extensions ?? {};
      const declared = (extensions['http'] as { status?: unknown } | undefined)?.status;
      const code = typeof extensions['code'] === 'string' ? extensions['code'] : codeOf(error, declared);
      status = Math.max(status, typeof declared === 'number' ? declared : (STATUS_OF_CODE[code] ?? 500));
      return { message: error.message, extensions: { code } };
    });
    const headers: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer' } : {};
    return json({ errors: formatted }, { status, headers });
  };
  const refusal = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    json({ errors: [{ message, extensions: { code } }] }, { status, headers });

  const sofa = useSofa({
    basePath: REST_API_BASE_PATH,
    routes: ROUTES,
    // fets types the Response it expects with its routes' bodies; any Fetch Response does.
    errorHandler: errorResponse as unknown as SofaErrorHandler,
    openAPI: {
      info: {
        title: 'gencache REST API',
        version: '1',
        description:
          "The replaced system's cache endpoints, served from the GraphQL schema. Errors are " +
          '{"errors": [{"message", "extensions": {"code"}}]} with the status of their code. Admin routes need ' +
          '`Authorization: Bearer <ADMIN_TOKEN>` (without ADMIN_TOKEN: a client on the server\'s machine).',
      },
    },
  });
  const csrf = useCsrfPrevention();

  return {
    onYogaInit(payload) {
      fetchAPI = payload.yoga.fetchAPI;
      logger = payload.yoga.logger;
      sofa.onYogaInit?.(payload);
    },
    onSchemaChange(payload) {
      sofa.onSchemaChange?.({ ...payload, schema: restApiSchemaOf(payload.schema) });
    },
    // Synchronous, doing nothing, for every path outside the base.
    onRequest(payload) {
      const { pathname } = payload.url;
      if (pathname !== REST_API_BASE_PATH && !pathname.startsWith(`${REST_API_BASE_PATH}/`)) return undefined;
      const { request, url, endResponse } = payload;
      const path = pathname.slice(REST_API_BASE_PATH.length);
      const methods = METHODS.get(path);
      if (methods === undefined) {
        return endResponse(refusal(404, 'NOT_FOUND', `no endpoint at ${pathname}; the endpoints are listed at ${REST_API_BASE_PATH}${OPENAPI_PATH}`));
      }
      if (!methods.includes(request.method)) {
        return endResponse(refusal(405, 'METHOD_NOT_ALLOWED', `${pathname} takes ${methods.join(' or ')}, not ${request.method}`, { allow: methods.join(', ') }));
      }
      // A bodiless POST without a content type (the old clients' `POST /api/cache/clear`) carries
      // nothing a form could forge but the request itself: the admin rule alone decides it, and
      // refuses a page of another site (by its Origin; nor can such a page send the token).
      const bodiless = !request.headers.has('content-type') && (request.headers.get('content-length') ?? '0') === '0' && !request.headers.has('transfer-encoding');
      if (request.method === 'POST' && !bodiless) {
        try {
          csrf.onRequestParse?.({ request, url, requestParser: undefined, setRequestParser: () => undefined, serverContext: payload.serverContext, fetchAPI: payload.fetchAPI, endResponse });
        } catch (error) {
          return endResponse(errorResponse([error]));
        }
      }
      return answer(payload, path).then(endResponse, (error: unknown) => endResponse(errorResponse([error])));
    },
  };

  /** What SOFA answers a request to one of the routes (or the OpenAPI document), reshaped where the old clients need it. */
  async function answer(payload: Parameters<NonNullable<Plugin['onRequest']>>[0], path: string): Promise<Response> {
    const { request, url } = payload;
    let forwarded = request;
    if (request.method === 'POST' && path === ROUTES['Mutation.updateCacheConfig'].path) {
      const settings = await settingsRequest(request);
      if (typeof settings === 'string') return refusal(400, 'BAD_USER_INPUT', settings);
      forwarded = settings;
    }
    let answered: Response | undefined;
    await sofa.onRequest?.({ ...payload, request: forwarded, endResponse: (response) => void (answered = response) });
    if (answered === undefined) throw new Error(`SOFA did not answer ${request.method} ${url.pathname}`);
    if (!answered.ok) return answered;
    if (path === ROUTES['Query.cacheEntries'].path) return entryList(answered, url);
    if (path === OPENAPI_PATH) return json(describeRestApi((await answered.json()) as OpenApiDocument));
    return answered;
  }

  /**
   * `POST /api/cache/config` as SOFA's route of `updateCacheConfig` takes it: the old clients post
   * the settings object itself, `{"maxEntries": 10}`, which becomes the `input` argument. Only the
   * body counts (not the query string). A string: why the body is refused.
   */
  async function settingsRequest(request: Request): Promise<Request | string> {
    const text = await request.text();
    const expected = 'the body must be a JSON object of settings (enabled, maxEntries, maxBytes, defaultTtlSeconds), such as {"maxEntries": 100}';
    let settings: unknown;
    try {
      settings = JSON.parse(text);
    } catch {
      return `${expected}; it is not JSON`;
    }
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
      return `${expected}; got ${settings === null ? 'null' : Array.isArray(settings) ? 'an array' : typeof settings}`;
    }
    const url = new URL(request.url);
    url.search = '';
    const headers = new fetchAPI!.Headers(request.headers);
    headers.delete('content-length');
    headers.set('content-type', 'application/json');
    return new fetchAPI!.Request(url, { method: 'POST', headers, body: JSON.stringify({ input: settings }) });
  }

  /**
   * The page of `cacheEntries` as the list the old clients read: a JSON array of entries, most
   * recently used first by default, with `X-Total-Count` (entries that match, on all pages) and,
   * while there are more, `Link: <...&after=cursor>; rel="next"`.
   */
  async function entryList(answered: Response, url: URL): Promise<Response> {
    const page = (await answered.json()) as {
      edges: { node: unknown }[];
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      totalCount: number;
    };
    const headers: Record<string, string> = { 'x-total-count': String(page.totalCount) };
    if (page.pageInfo.hasNextPage && page.pageInfo.endCursor !== null) {
      const next = new URLSearchParams(url.search);
      next.set('after', page.pageInfo.endCursor);
      headers['link'] = `<${url.pathname}?${next}>; rel="next"`;
    }
    return json(
      page.edges.map(({ node }) => node),
      { headers },
    );
  }
}

type OpenApiDocument = {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
} & Record<string, unknown>;
type OpenApiOperation = { parameters?: unknown[]; requestBody?: unknown; responses: Record<string, unknown>; security?: unknown[] } & Record<string, unknown>;

const ADMIN_OPERATIONS = new Set(['Mutation.updateCacheConfig', 'Mutation.clearCache', 'Query.cacheEntries']);

/**
 * SOFA's OpenAPI document, told what this plugin changes: the settings are the body of
 * `POST /cache/config` (SOFA describes `{"input": ...}`, and `input` as a query parameter); the
 * entries are answered as a list with paging headers; and the errors, and the admin routes'
 * bearer token, are described. Throws if SOFA's document no longer has the routes.
 */
function describeRestApi(document: OpenApiDocument): OpenApiDocument {
  const errors = { $ref: '#/components/schemas/Errors' };
  const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: errors } } });
  document.components.schemas['Errors'] = {
    type: 'object',
    required: ['errors'],
    properties: {
      errors: {
        type: 'array',
        items: {
          type: 'object',
          required: ['message', 'extensions'],
          properties: { message: { type: 'string' }, extensions: { type: 'object', properties: { code: { type: 'string' } } } },
        },
      },
    },
  };
  // SOFA describes every object type; the root types and the connection's are no route's.
  for (const unused of ['Query', 'Mutation', 'CacheEntryConnection', 'CacheEntryEdge', 'PageInfo']) delete document.components.schemas[unused];
  document.components.securitySchemes = { adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' } };
  for (const [field, { method, path }] of Object.entries(ROUTES)) {
    const operation = document.paths[path]?.[method.toLowerCase()];
    if (operation === undefined) throw new TypeError(`SOFA's OpenAPI document has no ${method} ${path} (of ${field})`);
    operation['operationId'] = field.split('.')[1];
    operation.responses['400'] = errorResponse('An invalid value (BAD_USER_INPUT).');
    if (ADMIN_OPERATIONS.has(field)) {
      operation.security = [{ adminToken: [] }];
      operation.responses['401'] = errorResponse('No or a wrong admin token (UNAUTHENTICATED).');
      operation.responses['403'] = errorResponse('Admin refused to this client while ADMIN_TOKEN is not set, or a form-like POST without the CSRF header (FORBIDDEN).');
    }
  }
  const update = document.paths[ROUTES['Mutation.updateCacheConfig'].path]!['post']!;
  delete update.parameters;
  update.requestBody = {
    required: true,
    description: 'The settings to change; one left out keeps its value.',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/CacheConfigInput' } } },
  };
  const entries = document.paths[ROUTES['Query.cacheEntries'].path]!['get']!;
  entries.responses['200'] = {
    description: 'A page of entries.',
    headers: {
      'X-Total-Count': { description: 'Entries that match, on all pages.', schema: { type: 'integer' } },
      Link: { description: 'While there are more: `<...&after=<cursor>>; rel="next"`, the next page.', schema: { type: 'string' } },
    },
    content: { 'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/CacheEntry' } } } },
  };
  return document;
}
