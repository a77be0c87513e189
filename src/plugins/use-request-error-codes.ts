import type { GraphQLError } from 'graphql';
import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { GencacheError } from '../errors.js';

/**
 * HTTP statuses and codes of results with errors, where Yoga's defaults do not fit:
 * - request errors that come without a code (variables that do not coerce to their types,
 *   operations over the security limits) get `extensions.code = "BAD_USER_INPUT"` and HTTP 400;
 *   a refusal that comes with its own status keeps it, and 403 (CSRF prevention) is coded
 *   FORBIDDEN. Such errors carry no path, and field errors always do; parse and validation errors
 *   of GraphQL itself already get their codes from Yoga;
 * - a result without data whose errors are all expected failures (a subscription refused when it
 *   starts) is answered with 200 like any GraphQL result, not as a server fault (500).
 */
export function useRequestErrorCodes(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || isAsyncIterable(result) || result.errors === undefined) return;
      if (!('data' in result) && result.errors.every(isExpected)) {
        setResult({ ...result, extensions: { ...result.extensions, http: { status: 200 } } });
        return;
      }
      if (!result.errors.some(needsCode)) return;
      setResult({ ...result, errors: result.errors.map(withRequestErrorCode) });
    },
  };
}

/**
 * A request error that came without a code, coded: BAD_USER_INPUT with HTTP 400 unless it said
 * otherwise (403 is FORBIDDEN); any other error unchanged. src/websocket.ts codes the refusals of
 * graphql-ws operations with it, which never reach result processing.
 */
export function withRequestErrorCode(error: GraphQLError): GraphQLError {
  if (!needsCode(error)) return error;
  // The request itself is bad: 400 unless the refusal said otherwise; Yoga takes the status from
  // `http` and strips it.
  return withExtensions(error, { ...error.extensions, ...codeOf(error.extensions?.['http']) });
}

/** The same error, where it was found included, with other extensions. */
export const withExtensions = (error: GraphQLError, extensions: Readonly<Record<string, unknown>>): GraphQLError =>
  createGraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: extensions as GraphQLError['extensions'],
  });

const needsCode = (error: { path?: unknown; extensions?: Record<string, unknown> }) =>
  error.path === undefined && error.extensions?.['code'] === undefined;

function codeOf(http: unknown): { code: string; http: unknown } {
  const status = (http as { status?: unknown } | undefined)?.status;
  if (typeof status !== 'number') return { code: 'BAD_USER_INPUT', http: { status: 400 } };
  return { code: status === 403 ? 'FORBIDDEN' : 'BAD_USER_INPUT', http };
}

const isExpected = (error: { originalError?: unknown }) => error.originalError instanceof GencacheError;
