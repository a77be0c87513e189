import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Gives `extensions.code = "BAD_USER_INPUT"` and HTTP status 400 to request errors that the
 * executor raises before execution starts (variables that do not coerce to their types). Such
 * errors carry no path; field errors always do. Parse and validation errors already get their
 * codes from Yoga.
 */
export function useRequestErrorCodes(): Plugin {
  return {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result) || !result.errors?.some(needsCode)) return;
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
    },
  };
}

const needsCode = (error: { path?: unknown; extensions?: Record<string, unknown> }) =>
  error.path === undefined && error.extensions?.['code'] === undefined;
