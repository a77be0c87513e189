import { useAPQ, type APQStore } from '@graphql-yoga/plugin-apq';
import { GraphQLError } from 'graphql';
import { createGraphQLError, type OnParamsEventPayload, type Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';

/**
 * Automatic persisted queries (APQ), as Apollo Client's persisted-query link sends them: an
 * operation names its query by `extensions.persistedQuery.sha256Hash` alone; a hash the server does
 * not hold is answered PERSISTED_QUERY_NOT_FOUND, and the client sends the query with its hash,
 * which registers it. Yoga's APQ plugin does the lookup, the registration and the check that the
 * hash is the SHA-256 of the query's text (a text under any other hash is refused with
 * PERSISTED_QUERY_MISMATCH and stored nowhere, so nobody can put a wrong query under a known hash).
 *
 * This file keeps what is ours:
 * - the store is bounded, by queries and by their bytes, least recently used forgotten first: any
 *   client can register any number of distinct queries, so an unbounded store is a memory leak
 *   on demand. The plugin's own store has a bound of entries only, and a 36-second lifetime;
 * - refusals are request errors, as the trusted documents' are (the same PERSISTED_QUERY_NOT_FOUND
 *   either way): HTTP 400 for `application/graphql-response+json`, 200 for `application/json`;
 * - the plugin is asked only about operations that carry the extension, and synchronously left
 *   out of every other (its hook is `async`: it would put a promise on every cached hit);
 * - a hash may carry GraphQL over HTTP's `sha256:` prefix, as trusted documents accept it; a
 *   query sent empty (graphql-ws's subscribe message must carry one) is a query not sent.
 *
 * A resolved query is then parsed, validated, limited and run exactly as a sent one: the security
 * limits, the generation limit and every later hook see only its text. With trusted documents
 * (src/plugins/use-trusted-documents.ts) in the list, they must come first: they resolve an id to
 * the manifest's text or refuse it, and refuse an untrusted text, before this plugin could look up
 * or register anything. A registration is stored before the query is parsed: a query over the
 * limits is refused each time it is named, as when it is sent.
 *
 * The hook is `onParams`: Yoga runs it for every HTTP request (GET and POST), the fast lane through
 * `yoga.getResultForParams`, and src/websocket.ts for graphql-ws. It has no hook of HTTP framing,
 * so the fast lane stays on.
 */

/** Queries the store holds at most. */
export const DEFAULT_MAX_QUERIES = 1000;
/** UTF-8 bytes of stored query texts, all together: 4 MiB, four of the largest request bodies. */
export const DEFAULT_MAX_QUERY_BYTES = 4 * 2 ** 20;

/** The `extensions.code` of each refusal. */
export const PERSISTED_QUERY_CODES = {
  /** A hash that names no stored query: the client sends the query with it. */
  notFound: 'PERSISTED_QUERY_NOT_FOUND',
  /** A query sent with a hash that is not its SHA-256. */
  mismatch: 'PERSISTED_QUERY_MISMATCH',
} as const;

export interface PersistedQueryStoreOptions {
  /**
   * Queries held at most; past it the least recently used is forgotten. Costs an index slot each,
   * preallocated by lru-cache. @default 1000 (DEFAULT_MAX_QUERIES)
   */
  readonly maxQueries?: number;
  /**
   * UTF-8 bytes of the held queries' texts (and their 64-character hashes), all together; past it
   * the least recently used are forgotten. A query longer than this on its own runs, but is never
   * stored: its client sends it each time. @default 4 MiB (DEFAULT_MAX_QUERY_BYTES)
   */
  readonly maxBytes?: number;
}

export interface AutomaticPersistedQueriesOptions extends PersistedQueryStoreOptions {
  /** Where queries are kept by hash; it must bound itself. @default a store bounded by `maxQueries` and `maxBytes` */
  readonly store?: APQStore;
}

/** GraphQL over HTTP's prefix of a sha256 document identifier. */
const SHA256_PREFIX = 'sha256:';
/** Longest hash quoted back in a refusal. */
const MAX_QUOTED_HASH = 80;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`${name} must be a positive whole number, got ${String(value)}`);
  return value;
}

/** A store of queries by hash, in memory, bounded by queries and bytes; least recently used forgotten first. */
export function createPersistedQueryStore({ maxQueries = DEFAULT_MAX_QUERIES, maxBytes = DEFAULT_MAX_QUERY_BYTES }: PersistedQueryStoreOptions = {}): APQStore {
  const queries = new LRUCache<string, string>({
    max: positiveInteger('maxQueries', maxQueries),
    maxSize: positiveInteger('maxBytes', maxBytes),
    sizeCalculation: (query, hash) => Buffer.byteLength(query) + hash.length,
  });
  return {
    get: (hash) => queries.get(hash),
    // A query over maxBytes on its own is not stored (lru-cache drops it).
    set: (hash, query) => void queries.set(hash, query),
  };
}

/** A request error: 400 for `application/graphql-response+json`, 200 for `application/json` and SSE. */
const refusal = (code: string, message: string) => createGraphQLError(message, { extensions: { code, http: { status: 400, spec: true } } });

const quoted = (hash: string) => JSON.stringify(hash.length > MAX_QUOTED_HASH ? `${hash.slice(0, MAX_QUOTED_HASH)}…` : hash);

/** The refusal of Yoga's plugin in our words and HTTP semantics; anything else unchanged. */
function reworded(error: unknown, hash: string): unknown {
  if (!(error instanceof GraphQLError)) return error;
  switch (error.extensions['code']) {
    case PERSISTED_QUERY_CODES.notFound:
      return refusal(PERSISTED_QUERY_CODES.notFound, `no persisted query has the hash ${quoted(hash)}: send the query with it`);
    case PERSISTED_QUERY_CODES.mismatch:
      return refusal(PERSISTED_QUERY_CODES.mismatch, `the hash ${quoted(hash)} is not the SHA-256 of the query sent with it`);
    default:
      return error;
  }
}

interface PersistedQueryExtension {
  readonly version: unknown;
  readonly sha256Hash: unknown;
}

/** Automatic persisted queries over a bounded store; see the top of this file. */
export function useAutomaticPersistedQueries({ store, ...bounds }: AutomaticPersistedQueriesOptions = {}): Plugin {
  if (store !== undefined && (bounds.maxQueries !== undefined || bounds.maxBytes !== undefined)) {
    throw new TypeError('maxQueries and maxBytes bound the default store: a store given as store keeps its own bounds');
  }
  const apq = useAPQ({ store: store ?? createPersistedQueryStore(bounds) });
  const resolve = apq.onParams!;
  return {
    onParams(payload: OnParamsEventPayload<object>) {
      const { params } = payload;
      const extension = (params.extensions as { persistedQuery?: PersistedQueryExtension } | null | undefined)?.persistedQuery;
      if (typeof extension?.sha256Hash !== 'string') return undefined;
      // A query that is not a string is Yoga's to refuse; it is never hashed or stored.
      if (params.query != null && typeof params.query !== 'string') return undefined;
      const hash = extension.sha256Hash.startsWith(SHA256_PREFIX) ? extension.sha256Hash.slice(SHA256_PREFIX.length) : extension.sha256Hash;
      const normalized = {
        ...params,
        query: params.query === '' ? undefined : params.query,
        extensions: { ...params.extensions, persistedQuery: { ...extension, sha256Hash: hash } },
      };
      return Promise.resolve(resolve({ ...payload, params: normalized })).catch((error: unknown) => {
        throw reworded(error, hash);
      });
    },
  };
}
