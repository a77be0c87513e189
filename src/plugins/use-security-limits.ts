import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { Plugin } from 'graphql-yoga';

/**
 * Limits on the shape of an operation (graphql-armor), so that one document cannot ask for
 * thousands of generations through aliases or exhaust the parser. They run when a document is
 * first parsed and validated; Yoga caches both, so repeated operations pay nothing. A document over
 * the token limit fails to parse (GRAPHQL_PARSE_FAILED); the others come without a code, and
 * `useRequestErrorCodes` gives them BAD_USER_INPUT with HTTP 400.
 */
export const SECURITY_LIMITS = {
  /** Aliased fields in one operation: each may be a generation of its own. */
  aliases: 32,
  /** Nesting of fields; the deepest real operation (entries → edges → node → generation → field) has 5. Introspection is exempt. */
  depth: 8,
  /** Lexical tokens in a document. */
  tokens: 2000,
  /** Directives in one operation. */
  directives: 20,
} as const;

export function useSecurityLimits(): Plugin[] {
  return [
    maxTokensPlugin({ n: SECURITY_LIMITS.tokens, exposeLimits: true }),
    maxAliasesPlugin({ n: SECURITY_LIMITS.aliases, exposeLimits: true }),
    maxDepthPlugin({ n: SECURITY_LIMITS.depth, ignoreIntrospection: true, exposeLimits: true }),
    maxDirectivesPlugin({ n: SECURITY_LIMITS.directives, exposeLimits: true }),
  ] as Plugin[];
}
