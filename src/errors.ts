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
  /**
   * graphql-js copies an original error's `extensions` onto the located GraphQL error. `http`
   * tells Yoga this is an expected field error, answered with 200 like any GraphQL result, not a
   * server fault (500) when no data comes with it; Yoga strips it from the response.
   */
  readonly extensions: { readonly code: ErrorCode; readonly http: { readonly status: 200 } };

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'GencacheError';
    this.extensions = { code, http: { status: 200 } };
  }
}

export const badUserInput = (message: string): GencacheError => new GencacheError('BAD_USER_INPUT', message);
