import { createYoga, maskError, type YogaServerInstance } from 'graphql-yoga';
import type { InputLimits } from './config.js';
import { createContext, type Context } from './context.js';
import { GencacheError } from './errors.js';
import type { GenerationService } from './generation/service.js';
import { useCacheReport } from './plugins/use-cache-report.js';
import { useRequestErrorCodes } from './plugins/use-request-error-codes.js';
import { schema } from './schema/index.js';

export interface YogaDependencies {
  readonly service: GenerationService;
  readonly limits: InputLimits;
}

export type GencacheYoga = YogaServerInstance<Record<string, unknown>, Context>;

/**
 * Expected failures pass unchanged: their `extensions.code` came with them from GencacheError.
 * Anything else is masked and logged by Yoga.
 */
const maskUnexpected: typeof maskError = (error, message, isDev) =>
  (error as { originalError?: unknown }).originalError instanceof GencacheError
    ? (error as Error)
    : maskError(error, message, isDev);

/** The GraphQL server: schema, per-operation context and plugins. It never listens. */
export function createYogaServer({ service, limits }: YogaDependencies): GencacheYoga {
  return createYoga<Record<string, unknown>, Context>({
    schema,
    context: () => createContext({ service, limits }),
    maskedErrors: { maskError: maskUnexpected },
    plugins: [useRequestErrorCodes(), useCacheReport()],
    graphiql: { title: 'gencache' },
    landingPage: false,
  });
}
