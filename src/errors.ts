/**
 * The error vocabulary of the service. Expected failures are `GencacheError`s carrying a code in
 * `extensions`, which graphql-js copies onto the located GraphQL error; the GraphQL edge
 * (src/yoga.ts) lets them through and masks everything else. Nothing here depends on GraphQL or
 * HTTP, so the core can raise them.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'GENERATION_FAILED'
  | 'GENERATION_TIMEOUT'
  | 'GENERATION_CANCELLED'
  | 'OVERLOADED'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'TOO_MANY_SUBSCRIPTIONS'
  | 'RESPONSE_TOO_LARGE'
  | 'SHARED_TIER_UNAVAILABLE';

export class GencacheError extends Error {
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
