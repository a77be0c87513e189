import {
  defaultExtractPersistedOperationId,
  usePersistedOperations,
  type ExtractPersistedOperationId,
} from '@graphql-yoga/plugin-persisted-operations';
import { createGraphQLError, type GraphQLParams, type OnParamsEventPayload, type Plugin } from 'graphql-yoga';

/**
 * Trusted documents: the server runs only the operations of a manifest, the one that GraphQL Code
 * Generator's client preset writes with `persistedDocuments` (src/generated/persisted-documents.json,
 * from schema/operations). An operation names its document by id or sends the document's exact text:
 *
 * - by id: `documentId` (GraphQL over HTTP's persisted documents; in the body, or in the query
 *   string of a GET) or `extensions.persistedQuery.sha256Hash` (Apollo's APQ form, as Yoga's
 *   persisted-operations plugin reads it). An id is the manifest's `sha256:<hex>`, with or without
 *   its prefix. An id that is not in the manifest is refused with PERSISTED_QUERY_NOT_FOUND;
 * - by text: a query that is, character for character, the text of a manifest entry runs as sent.
 *   Any other text (an arbitrary document, or a trusted one reformatted or changed in any way) is
 *   refused with PERSISTED_QUERY_ONLY, unless `allowAnyDocument` lets this operation through (the
 *   admin bypass);
 * - neither: refused with BAD_REQUEST, as Yoga refuses a request without a query.
 *
 * Refusals are request errors, as parse and validation errors are: nothing is parsed or run, and
 * the HTTP status is 400 for `application/graphql-response+json`, 200 for `application/json` and
 * SSE (GraphQL over HTTP's rule, through Yoga's `http.spec`).
 *
 * The check is an `onParams` hook (Yoga's persisted-operations plugin does the id lookup, the
 * refusals and the hand-over of the trusted text): Yoga runs it for every HTTP request, the fast
 * lane through `yoga.getResultForParams`, and src/websocket.ts for every graphql-ws operation. It
 * has no hook of HTTP framing, so the fast lane stays on.
 */

/** The `extensions.code` of each refusal. */
export const TRUSTED_DOCUMENTS_CODES = {
  /** An id that names no document of the manifest. */
  unknownId: 'PERSISTED_QUERY_NOT_FOUND',
  /** A text that is not exactly a document of the manifest. */
  untrustedText: 'PERSISTED_QUERY_ONLY',
  /** Neither an id nor a text. */
  missing: 'BAD_REQUEST',
} as const;

/** Whether the server runs trusted documents only (TRUSTED_DOCUMENTS), and for whom not. */
export interface TrustedDocumentsSettings {
  /** Only the documents of the manifest run. @default false */
  readonly enabled: boolean;
  /**
   * Admins may still send any document (GraphiQL, an operator's query): admin as the admin surface
   * has it (src/auth.ts), so the bearer token, or a loopback client while no token is set.
   * @default false
   */
  readonly adminBypass: boolean;
}

/** Document id (`sha256:<hex>`) → document text, as the client preset writes it. */
export type TrustedDocumentsManifest = Readonly<Record<string, string>>;

/** An operation as an `onParams` hook sees it: its HTTP request, and the server context. */
export interface TrustedDocumentsOperation<TServerContext> {
  /** The Fetch request; for graphql-ws, the upgrade request. */
  readonly request: Request;
  /** What the server adapter gave Yoga (node's request), or src/websocket.ts (connection parameters too). */
  readonly context: TServerContext;
}

export interface TrustedDocumentsOptions<TServerContext> {
  /** The documents the server runs, by id. Read once; its texts are the only ones accepted as sent. */
  readonly manifest: TrustedDocumentsManifest;
  /**
   * Whether this operation may send any document (GraphiQL, an operator's ad-hoc query). Asked only
   * for a text that is not trusted; an id is always looked up in the manifest. It sees the server
   * context, which the persisted-operations plugin's `allowArbitraryOperations` does not: the
   * client's address and graphql-ws connection parameters are there. @default never
   */
  readonly allowAnyDocument?: (operation: TrustedDocumentsOperation<TServerContext>) => boolean;
}

/** GraphQL over HTTP's prefix of a sha256 document identifier, as the client preset writes it. */
const SHA256_PREFIX = 'sha256:';
/** Longest id quoted back in a refusal. */
const MAX_QUOTED_ID = 80;

/** `documentId` first, then APQ's extension; a GET carries `documentId` in its query string. */
const documentIdOf: ExtractPersistedOperationId = (params, request, context) => {
  const { documentId } = params as GraphQLParams & { documentId?: unknown };
  if (typeof documentId === 'string') return documentId;
  const apq = defaultExtractPersistedOperationId(params, request, context);
  if (apq !== null) return apq;
  return request.method === 'GET' ? new URL(request.url).searchParams.get('documentId') : null;
};

/** A request error: 400 for `application/graphql-response+json`, 200 for `application/json` and SSE. */
const refusal = (code: string, message: string) => createGraphQLError(message, { extensions: { code, http: { status: 400, spec: true } } });

const quoted = (id: string | null) => JSON.stringify(id !== null && id.length > MAX_QUOTED_ID ? `${id.slice(0, MAX_QUOTED_ID)}…` : id);

export function useTrustedDocuments<TServerContext extends object>({ manifest, allowAnyDocument }: TrustedDocumentsOptions<TServerContext>): Plugin<object, TServerContext> {
  const byId = new Map(Object.entries(manifest));
  const texts = new Set(byId.values());
  const persisted = usePersistedOperations({
    getPersistedOperation: (id) => byId.get(id.startsWith(SHA256_PREFIX) ? id : `${SHA256_PREFIX}${id}`) ?? null,
    extractPersistedOperationId: documentIdOf,
    // Texts are judged below, where the server context is known; any that reaches the plugin is refused.
    allowArbitraryOperations: false,
    customErrors: {
      notFound: ({ params, request, context }) =>
        refusal(TRUSTED_DOCUMENTS_CODES.unknownId, `no trusted document has the id ${quoted(documentIdOf(params, request, context))}`),
      persistedQueryOnly: () =>
        refusal(
          TRUSTED_DOCUMENTS_CODES.untrustedText,
          'this server runs trusted documents only: send the id of one (documentId, or extensions.persistedQuery.sha256Hash) or its exact text',
        ),
      keyNotFound: () =>
        refusal(TRUSTED_DOCUMENTS_CODES.missing, 'Must provide a document id (documentId, or extensions.persistedQuery.sha256Hash) or a query string.'),
    },
  }) as Plugin<object, TServerContext>;
  const lookUp = persisted.onParams!;
  return {
    ...persisted,
    onParams(payload: OnParamsEventPayload<TServerContext>) {
      const { query } = payload.params;
      // A trusted text runs as sent; so does any text of an operation allowed any document.
      if (query && (texts.has(query) || allowAnyDocument?.({ request: payload.request, context: payload.context }) === true)) return undefined;
      return lookUp(payload);
    },
  };
}
