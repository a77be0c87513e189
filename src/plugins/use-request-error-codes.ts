import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Gives `extensions.code = "BAD_USER_INPUT"` and HTTP status 400 to request errors that come
 * without a code: variables that do not coerce to their types, and operations over the security
 * limits. Such errors carry no path, and field errors always do. Parse and validation errors of
 * GraphQL itself already get their codes from Yoga.
 */
export function useRequestErrorCodes(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || isAsyncIterable(result) || !result.errors?.some(needsCode)) return;
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
