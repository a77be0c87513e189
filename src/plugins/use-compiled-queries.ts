import { useGraphQlJit } from '@envelop/graphql-jit';
import type { DocumentNode, GraphQLError, GraphQLSchema, SourceLocation } from 'graphql';
import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { isCompilable } from '../compilation.js';

/**
 * Queries compiled by graphql-jit where it runs them as graphql-js would (`isCompilable`), and
 * their field errors made whole again: graphql-jit's errors carry `locations` but not the source
 * and positions from which Yoga rebuilds an error before it answers, so they would lose their
 * locations. test/jit-differential.test.ts compares every shared operation under both executors.
 */
export function useCompiledQueries(schema: GraphQLSchema): Plugin[] {
  return [
    useGraphQlJit({}, { enableIf: ({ document }) => isCompilable(schema, document) }) as Plugin,
    { onExecute: ({ args }) => (isCompilable(schema, args.document) ? LOCATE_ERRORS : undefined) },
  ];
}

/** What an `onExecute` hook returns: the hooks of that execution's end. */
type ExecuteHooks = Exclude<Awaited<ReturnType<NonNullable<Plugin['onExecute']>>>, void>;

/**
 * One hook object for every compiled execution: its payload carries the execution's arguments
 * (node_modules/@envelop/core/esm/orchestrator.js passes `args` to each `onExecuteDone`), so
 * nothing is made per request.
 */
const LOCATE_ERRORS: ExecuteHooks = {
  onExecuteDone({ args, result, setResult }) {
    if (isAsyncIterable(result) || result.errors === undefined) return;
    setResult({ ...result, errors: result.errors.map((error) => located(error, args.document)) });
  },
};

/** The error with the source and positions its locations name, so that they survive a rebuild. */
function located(error: GraphQLError, document: DocumentNode): GraphQLError {
  const source = document.loc?.source;
  if (source === undefined || error.source !== undefined || error.locations === undefined) return error;
  return createGraphQLError(error.message, {
    source,
    positions: error.locations.map((location) => offsetOf(source.body, location)),
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/** The character offset of a line and column (both from 1) in a text. */
function offsetOf(body: string, { line, column }: SourceLocation): number {
  let offset = 0;
  for (let current = 1; current < line; current++) offset = body.indexOf('\n', offset) + 1;
  return offset + column - 1;
}
