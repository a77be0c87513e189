import { z } from 'zod';

/**
 * The only reader of the environment. Variable names follow the seed system's so its users can
 * move over unchanged; every value is validated at start, and every problem is reported at once,
 * each naming its variable.
 */

export const DEFAULT_PORT = 4000;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_MAX_ENTRIES = 1000;
export const DEFAULT_MAX_MEMORY_MB = 512;
export const DEFAULT_TTL_SECONDS = 86_400;
export const DEFAULT_GENERATOR_LATENCY_MS = 1000;
export const DEFAULT_GENERATOR_CONCURRENCY = 4;
export const DEFAULT_GENERATOR_QUEUE_MAX = 1000;
export const DEFAULT_GENERATOR_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_PROMPT_LENGTH = 32_768;
export const DEFAULT_MAX_PARAMETERS_BYTES = 16_384;
export const DEFAULT_MAX_BATCH_SIZE = 100;
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 1_048_576;
/** Longest TTL, default or per request: a year. */
export const MAX_TTL_SECONDS = 31_536_000;
/** lru-cache preallocates its index arrays for `max` entries, so the entry bound is capped. */
export const MAX_CACHE_ENTRIES = 1_000_000;
/** 1 TiB. */
export const MAX_CACHE_BYTES = 2 ** 40;

export type GeneratorKind = 'simulated' | 'openai';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface CacheSettings {
  /** `false` turns the result cache off; memoization per operation stays. */
  readonly enabled: boolean;
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** 0 means entries do not expire. */
  readonly defaultTtlSeconds: number;
}

export interface GeneratorSettings {
  readonly kind: GeneratorKind;
  /** Latency of the simulated generator. */
  readonly latencyMs: number;
  /** Allow-list of models; empty means the generator's own list. */
  readonly models: readonly string[];
  readonly concurrency: number;
  readonly queueMax: number;
  readonly timeoutMs: number;
  readonly openai: {
    readonly baseUrl: string;
    readonly apiKey: string | undefined;
    readonly model: string;
  };
}

export interface InputLimits {
  /** Characters (UTF-16 code units) of a prompt. */
  readonly maxPromptLength: number;
  /** UTF-8 bytes of `parameters` as JSON. */
  readonly maxParametersBytes: number;
  /** Items of one `generations` list. */
  readonly maxBatchSize: number;
  /** Largest per-request `ttlSeconds`. */
  readonly maxTtlSeconds: number;
  /** Bytes of an HTTP request body. */
  readonly maxRequestBodyBytes: number;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly cache: CacheSettings;
  readonly adminToken: string | undefined;
  readonly generator: GeneratorSettings;
  readonly limits: InputLimits;
  readonly redisUrl: string | undefined;
  readonly snapshotPath: string | undefined;
  readonly logLevel: LogLevel;
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^-?\d+$/, 'must be a whole number in decimal')
    .transform(Number)
    .pipe(z.number().min(min).max(max));

const decimal = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a decimal number')
  .transform(Number)
  .pipe(z.number().positive());

/** Variables whose values never appear in messages. */
const SECRET_VARIABLES = new Set(['ADMIN_TOKEN', 'OPENAI_API_KEY', 'REDIS_URL']);

const flag = z
  .enum(['0', '1', 'true', 'false'], { error: 'must be 0, 1, true or false' })
  .transform((value) => value === '1' || value === 'true');

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
const redisUrl = z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' });

const environmentSchema = z.object({
  PORT: int(0, 65_535).default(DEFAULT_PORT),
  HOST: z.string().min(1).default(DEFAULT_HOST),
  DISABLE_RESULT_CACHE: flag.default(false),
  CACHE_MAX_SIZE: int(1, MAX_CACHE_ENTRIES).default(DEFAULT_MAX_ENTRIES),
  CACHE_MAX_MEMORY_MB: decimal.pipe(z.number().max(MAX_CACHE_BYTES / 2 ** 20)).default(DEFAULT_MAX_MEMORY_MB),
  CACHE_TTL_SECONDS: int(0, MAX_TTL_SECONDS).default(DEFAULT_TTL_SECONDS),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  GENERATOR: z.enum(['simulated', 'openai']).default('simulated'),
  GENERATOR_LATENCY_MS: int(0, 3_600_000).default(DEFAULT_GENERATOR_LATENCY_MS),
  GENERATOR_MODELS: z.string().optional(),
  GENERATOR_CONCURRENCY: int(1, 10_000).default(DEFAULT_GENERATOR_CONCURRENCY),
  GENERATOR_QUEUE_MAX: int(0).default(DEFAULT_GENERATOR_QUEUE_MAX),
  GENERATOR_TIMEOUT_MS: int(1, 86_400_000).default(DEFAULT_GENERATOR_TIMEOUT_MS),
  OPENAI_BASE_URL: httpUrl.default('http://127.0.0.1:8000/v1'),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_MODEL: z.string().min(1).default('default'),
  MAX_PROMPT_LENGTH: int(1).default(DEFAULT_MAX_PROMPT_LENGTH),
  MAX_PARAMETERS_BYTES: int(2).default(DEFAULT_MAX_PARAMETERS_BYTES),
  MAX_BATCH_SIZE: int(1, 10_000).default(DEFAULT_MAX_BATCH_SIZE),
  MAX_REQUEST_BODY_BYTES: int(1024, 1_073_741_824).default(DEFAULT_MAX_REQUEST_BODY_BYTES),
  REDIS_URL: redisUrl.optional(),
  CACHE_SNAPSHOT_PATH: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Raised when the environment does not describe a valid configuration; lists every problem. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the environment; an empty variable counts as unset. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(
    Object.entries(environment).filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
  const parsed = environmentSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const variable = issue.path.join('.');
        const value = SECRET_VARIABLES.has(variable) ? undefined : present[variable];
        return `${variable}: ${issue.message}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`;
      }),
    );
  }
  const env = parsed.data;
  return Object.freeze({
    port: env.PORT,
    host: env.HOST,
    cache: Object.freeze({
      enabled: !env.DISABLE_RESULT_CACHE,
      maxEntries: env.CACHE_MAX_SIZE,
      maxBytes: Math.floor(env.CACHE_MAX_MEMORY_MB * 1024 * 1024),
      defaultTtlSeconds: env.CACHE_TTL_SECONDS,
    }),
    adminToken: env.ADMIN_TOKEN,
    generator: Object.freeze({
      kind: env.GENERATOR,
      latencyMs: env.GENERATOR_LATENCY_MS,
      models: Object.freeze(
        (env.GENERATOR_MODELS ?? '')
          .split(',')
          .map((model) => model.trim())
          .filter((model) => model !== ''),
      ),
      concurrency: env.GENERATOR_CONCURRENCY,
      queueMax: env.GENERATOR_QUEUE_MAX,
      timeoutMs: env.GENERATOR_TIMEOUT_MS,
      openai: Object.freeze({
        baseUrl: env.OPENAI_BASE_URL,
        apiKey: env.OPENAI_API_KEY,
        model: env.OPENAI_MODEL,
      }),
    }),
    limits: Object.freeze({
      maxPromptLength: env.MAX_PROMPT_LENGTH,
      maxParametersBytes: env.MAX_PARAMETERS_BYTES,
      maxBatchSize: env.MAX_BATCH_SIZE,
      maxTtlSeconds: MAX_TTL_SECONDS,
      maxRequestBodyBytes: env.MAX_REQUEST_BODY_BYTES,
    }),
    redisUrl: env.REDIS_URL,
    snapshotPath: env.CACHE_SNAPSHOT_PATH,
    logLevel: env.LOG_LEVEL,
  });
}
