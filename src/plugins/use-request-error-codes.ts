import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { GencacheError } from '../errors.js';

/**
 * HTTP statuses and codes of results with errors, where Yoga's defaults do not fit:
 * - request errors that come without a code (variables that do not coerce to their types,
 *   operations over the security limits) get `extensions.code = "BAD_USER_INPUT"` and HTTP 400.
 *   Such errors carry no path, and field errors always do; parse and validation errors of GraphQL
 *   itself already get their codes from Yoga;
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
      setResult({
        ...result,
        errors: result.errors.map((error) =>
          needsCode(error)
            ? createGraphQLError(error.message, {
                nodes: error.nodes,
                source: error.source,
                positions: error.positions,
                // The request itself is bad: 400, which Yoga takes from `http` and strips.
                extensions: { ...error.extensions, code: 'BAD_USER_INPUT', http: { status: 400 } },
              })
            : error,
        ),
      });
    },
  };
}

const needsCode = (error: { path?: unknown; extensions?: Record<string, unknown> }) =>
  error.path === undefined && error.extensions?.['code'] === undefined;

const isExpected = (error: { originalError?: unknown }) => error.originalError instanceof GencacheError;
