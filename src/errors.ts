/**
 * The error vocabulary of the service. Expected failures are `GencacheError`s carrying a code;
 * the GraphQL edge (src/yoga.ts) turns them into GraphQL errors with `extensions.code`, and
 * masks everything else. Nothing here depends on GraphQL, so the service can raise them.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'GENERATION_FAILED'
  | 'GENERATION_TIMEOUT'
  | 'OVERLOADED'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN';

export class GencacheError extends Error {
  /** graphql-js copies an original error's `extensions` onto the located GraphQL error. */
  readonly extensions: { readonly code: ErrorCode };

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'GencacheError';
    this.extensions = { code };
  }
}

export const badUserInput = (message: string): GencacheError => new GencacheError('BAD_USER_INPUT', message);
