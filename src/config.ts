import { accessSync, constants, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_SHUTDOWN_GRACE_MS } from './app.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, DEFAULT_TTL_SECONDS, MAX_CACHE_BYTES, MAX_CACHE_ENTRIES, MAX_TTL_SECONDS, type CacheSettings } from './cache/settings.js';
import { DEFAULT_SNAPSHOT_INTERVAL_SECONDS, MAX_SNAPSHOT_INTERVAL_SECONDS } from './cache/snapshot.js';
import {
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_MAX_PARAMETERS_BYTES,
  DEFAULT_MAX_PARAMETERS_DEPTH,
  DEFAULT_MAX_PROMPT_LENGTH,
  type InputLimits,
} from './generation/limits.js';
import {
  ABANDONED_GENERATIONS,
  DEFAULT_ABANDONED_GENERATIONS,
  DEFAULT_GENERATOR_CONCURRENCY,
  DEFAULT_GENERATOR_QUEUE_MAX,
  DEFAULT_GENERATOR_TIMEOUT_MS,
  DEFAULT_MAX_OUTPUT_BYTES,
  type AbandonedGenerations,
} from './generation/service.js';
import { DEFAULT_LATENCY_MS } from './generation/simulated-generator.js';

import { DEFAULT_MAX_RESPONSE_BYTES } from './context.js';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_KEEP_ALIVE_TIMEOUT_MS, DEFAULT_MAX_REQUEST_BODY_BYTES, DEFAULT_REQUEST_TIMEOUT_MS } from './http-server.js';
import { DEFAULT_MAX_GENERATIONS_PER_OPERATION } from './plugins/use-generation-limit.js';
import { DEFAULT_MAX_SUBSCRIPTIONS } from './plugins/use-subscription-limit.js';
import type { TrustedDocumentsSettings } from './plugins/use-trusted-documents.js';
import { DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION } from './websocket.js';
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS } from './fleet/redis-link.js';
import { DEFAULT_CACHE_NAMESPACE } from './fleet/shared-tier.js';
import { DEFAULT_CACHE_LOCK_TTL_MS } from './fleet/flight-lock.js';

/**
 * The only reader of the environment. Variable names follow the seed system's so its users can
 * move over unchanged; every value is validated at start, and every problem is reported at once,
 * each naming its variable. Each module owns its defaults and bounds; this one imports them.
 */

export const DEFAULT_PORT = 4000;
export const DEFAULT_HOST = '127.0.0.1';
/** `CACHE_MAX_MEMORY_MB` counts in the seed system's unit, MiB. */
const MIB = 2 ** 20;

export type GeneratorKind = 'simulated' | 'openai';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface GeneratorSettings {
  readonly kind: GeneratorKind;
  /** Latency of the simulated generator. */
  readonly latencyMs: number;
  /** Allow-list of models; empty means the generator's own list. */
  readonly models: readonly string[];
  readonly concurrency: number;
  readonly queueMax: number;
  readonly timeoutMs: number;
  /** What becomes of a generation whose every client went away. */
  readonly abandoned: AbandonedGenerations;
  readonly openai: {
    readonly baseUrl: string;
    readonly apiKey: string | undefined;
    readonly model: string;
  };
}

/** The instances' shared Redis: a second cache tier, and their bus. */
export interface FleetSettings {
  readonly redisUrl: string;
  /** Prefix of every Redis key and channel of this cache. */
  readonly namespace: string;
  readonly commandTimeoutMs: number;
  /** How long a claim to generate a key lives unless renewed: the longest wait for a holder that died. */
  readonly lockTtlMs: number;
  /** This instance's name in events and fleet statistics. */
  readonly instanceId: string;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly cache: CacheSettings;
  readonly adminToken: string | undefined;
  /** Browser origins allowed to call the API across origins; empty: none. */
  readonly corsOrigins: readonly string[];
  readonly generator: GeneratorSettings;
  /** Undefined without REDIS_URL: one instance, alone. */
  readonly fleet: FleetSettings | undefined;
  /** This instance's name in events and fleet statistics: INSTANCE_ID, or host name and pid. */
  readonly instanceId: string;
  readonly limits: InputLimits;
  /** Bytes of an HTTP request body, and of a graphql-ws message. */
  readonly maxRequestBodyBytes: number;
  /** Milliseconds a client has to send a request's headers, and the whole request; and an idle kept-alive connection lives. */
  readonly http: { readonly headersTimeoutMs: number; readonly requestTimeoutMs: number; readonly keepAliveTimeoutMs: number };
  /** Subscriptions open at once on the server, and on one graphql-ws connection. */
  readonly maxSubscriptions: number;
  readonly maxSubscriptionsPerConnection: number;
  /** Generations one operation may ask for, counted before it runs. */
  readonly maxGenerationsPerOperation: number;
  /** UTF-8 bytes of one generation's output, and of the outputs of one response. */
  readonly maxOutputBytes: number;
  readonly maxResponseBytes: number;
  /** How long a shutdown waits for requests under way before aborting their generations. */
  readonly shutdownGraceMs: number;
  /** Whether /ready answers 503 while the generator cannot take work (else it only reports it). */
  readonly readyRequiresGenerator: boolean;
  /** Which documents operations may send: any, or only those of src/generated/persisted-documents.json. */
  readonly trustedDocuments: TrustedDocumentsSettings;
  /** Warm restart: the cache's snapshot file (absolute) and the seconds between writes (0: at shutdown only); undefined without CACHE_SNAPSHOT_PATH. */
  readonly snapshot: { readonly path: string; readonly intervalSeconds: number } | undefined;
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

/**
 * The snapshot file, made absolute. Its directory must exist and be writable now, so that a
 * missing volume or a wrong owner stops the start rather than fail every write later, in a log.
 */
function checkSnapshotPath(path: string, context: z.RefinementCtx<string>): string {
  const absolute = resolve(path);
  const directory = dirname(absolute);
  const isDirectory = (at: string): boolean => {
    try {
      return statSync(at).isDirectory();
    } catch {
      return false;
    }
  };
  const problem = (() => {
    if (path.endsWith('/') || isDirectory(absolute)) return 'names a directory: it must name a file';
    if (!isDirectory(directory)) return `its directory ${directory} does not exist`;
    try {
      accessSync(directory, constants.W_OK | constants.X_OK);
    } catch {
      return `its directory ${directory} is not writable by this process`;
    }
    return undefined;
  })();
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  return absolute;
}


const environmentSchema = z.object({
  PORT: int(0, 65_535).default(DEFAULT_PORT),
  HOST: z.string().min(1).default(DEFAULT_HOST),
  DISABLE_RESULT_CACHE: flag.default(false),
  CACHE_MAX_SIZE: int(1, MAX_CACHE_ENTRIES).default(DEFAULT_MAX_ENTRIES),
  CACHE_MAX_MEMORY_MB: decimal.pipe(z.number().max(MAX_CACHE_BYTES / MIB)).default(DEFAULT_MAX_BYTES / MIB),
  CACHE_TTL_SECONDS: int(0, MAX_TTL_SECONDS).default(DEFAULT_TTL_SECONDS),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  CORS_ORIGINS: z
    .string()
    .transform((list) => list.split(',').map((origin) => origin.trim()).filter((origin) => origin !== ''))
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s*]+$/, 'must list origins such as https://ui.example.com, comma-separated (scheme, host and port only; no wildcard)')))
    .default([]),
  GENERATOR: z.enum(['simulated', 'openai']).default('simulated'),
  GENERATOR_LATENCY_MS: int(0, 3_600_000).default(DEFAULT_LATENCY_MS),
  GENERATOR_MODELS: z.string().optional(),
  GENERATOR_CONCURRENCY: int(1, 10_000).default(DEFAULT_GENERATOR_CONCURRENCY),
  GENERATOR_QUEUE_MAX: int(0).default(DEFAULT_GENERATOR_QUEUE_MAX),
  GENERATOR_TIMEOUT_MS: int(1, 86_400_000).default(DEFAULT_GENERATOR_TIMEOUT_MS),
  ABANDONED_GENERATIONS: z.enum(ABANDONED_GENERATIONS, { error: 'must be finish or cancel' }).default(DEFAULT_ABANDONED_GENERATIONS),
  OPENAI_BASE_URL: httpUrl.default('http://127.0.0.1:8000/v1'),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_MODEL: z.string().min(1).default('default'),
  MAX_PROMPT_LENGTH: int(1).default(DEFAULT_MAX_PROMPT_LENGTH),
  MAX_PARAMETERS_BYTES: int(2).default(DEFAULT_MAX_PARAMETERS_BYTES),
  MAX_PARAMETERS_DEPTH: int(1, 64).default(DEFAULT_MAX_PARAMETERS_DEPTH),
  MAX_BATCH_SIZE: int(1, 10_000).default(DEFAULT_MAX_BATCH_SIZE),
  MAX_REQUEST_BODY_BYTES: int(1024, 1_073_741_824).default(DEFAULT_MAX_REQUEST_BODY_BYTES),
  HTTP_HEADERS_TIMEOUT_MS: int(100, 3_600_000).default(DEFAULT_HEADERS_TIMEOUT_MS),
  HTTP_REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(DEFAULT_REQUEST_TIMEOUT_MS),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(100, 3_600_000).default(DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
  MAX_SUBSCRIPTIONS: int(1, 1_000_000).default(DEFAULT_MAX_SUBSCRIPTIONS),
  MAX_GENERATIONS_PER_OPERATION: int(1, 100_000).default(DEFAULT_MAX_GENERATIONS_PER_OPERATION),
  MAX_OUTPUT_BYTES: int(1024, 256 * MIB).default(DEFAULT_MAX_OUTPUT_BYTES),
  MAX_RESPONSE_BYTES: int(1024, 512 * MIB).default(DEFAULT_MAX_RESPONSE_BYTES),
  SHUTDOWN_GRACE_MS: int(0, 3_600_000).default(DEFAULT_SHUTDOWN_GRACE_MS),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: int(1, 10_000).default(DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION),
  TRUSTED_DOCUMENTS: flag.default(false),
  READY_REQUIRES_GENERATOR: flag.default(false),
  TRUSTED_DOCUMENTS_ADMIN_BYPASS: flag.default(false),
  // The fleet (see src/fleet): the shared tier and single-flight across instances, and warm restarts.
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
  CACHE_NAMESPACE: z
    .string()
    .regex(/^[\w.:-]{1,64}$/, 'must be 1 to 64 letters, digits and _ . : - (it prefixes Redis keys and is matched by SCAN)')
    .default(DEFAULT_CACHE_NAMESPACE),
  REDIS_COMMAND_TIMEOUT_MS: int(1, 60_000).default(DEFAULT_REDIS_COMMAND_TIMEOUT_MS),
  CACHE_LOCK_TTL_MS: int(300, 3_600_000).default(DEFAULT_CACHE_LOCK_TTL_MS),
  INSTANCE_ID: z.string().regex(/^[\w.:-]{1,64}$/, 'must be 1 to 64 letters, digits and _ . : -').optional(),
  CACHE_SNAPSHOT_PATH: z.string().transform(checkSnapshotPath).optional(),
  CACHE_SNAPSHOT_INTERVAL_SECONDS: int(0, MAX_SNAPSHOT_INTERVAL_SECONDS).optional(),
  // Case-insensitive, as operators write it (INFO, Debug); pino takes it lower-cased.
  LOG_LEVEL: z
    .string()
    .transform((level) => level.toLowerCase())
    .pipe(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .default('info'),
}).superRefine((env, context) => {
  // A bypass of a check that is off would be accepted and do nothing.
  if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
    context.addIssue({ code: 'custom', path: ['HTTP_HEADERS_TIMEOUT_MS'], message: `must not be over HTTP_REQUEST_TIMEOUT_MS (${env.HTTP_REQUEST_TIMEOUT_MS}): the headers are part of the request` });
  }
  if (env.TRUSTED_DOCUMENTS_ADMIN_BYPASS && !env.TRUSTED_DOCUMENTS) {
    context.addIssue({ code: 'custom', path: ['TRUSTED_DOCUMENTS_ADMIN_BYPASS'], message: 'has no effect without TRUSTED_DOCUMENTS=1; set both, or unset it' });
  }
  if (env.CACHE_SNAPSHOT_INTERVAL_SECONDS !== undefined && env.CACHE_SNAPSHOT_PATH === undefined) {
    context.addIssue({ code: 'custom', path: ['CACHE_SNAPSHOT_INTERVAL_SECONDS'], message: 'has no effect without CACHE_SNAPSHOT_PATH; set both, or unset it' });
  }
  // A disabled cache has nothing to snapshot, and its empty snapshot would replace a warm one.
  if (env.CACHE_SNAPSHOT_PATH !== undefined && env.DISABLE_RESULT_CACHE) {
    context.addIssue({ code: 'custom', path: ['CACHE_SNAPSHOT_PATH'], message: 'has no effect with DISABLE_RESULT_CACHE=1: there is no cache to snapshot; unset one of them' });
  }
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
  // The pid tells processes on one host apart; the random part, apps in one process (tests).
  const instanceId = env.INSTANCE_ID ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  return Object.freeze({
    port: env.PORT,
    host: env.HOST,
    cache: Object.freeze({
      enabled: !env.DISABLE_RESULT_CACHE,
      maxEntries: env.CACHE_MAX_SIZE,
      maxBytes: Math.floor(env.CACHE_MAX_MEMORY_MB * MIB),
      defaultTtlSeconds: env.CACHE_TTL_SECONDS,
    }),
    adminToken: env.ADMIN_TOKEN,
    corsOrigins: Object.freeze(env.CORS_ORIGINS),
    instanceId,
    fleet:
      env.REDIS_URL === undefined
        ? undefined
        : Object.freeze({
            redisUrl: env.REDIS_URL,
            namespace: env.CACHE_NAMESPACE,
            commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
            lockTtlMs: env.CACHE_LOCK_TTL_MS,
            instanceId,
          }),
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
      abandoned: env.ABANDONED_GENERATIONS,
      openai: Object.freeze({
        baseUrl: env.OPENAI_BASE_URL,
        apiKey: env.OPENAI_API_KEY,
        model: env.OPENAI_MODEL,
      }),
    }),
    limits: Object.freeze({
      maxPromptLength: env.MAX_PROMPT_LENGTH,
      maxParametersBytes: env.MAX_PARAMETERS_BYTES,
      maxParametersDepth: env.MAX_PARAMETERS_DEPTH,
      maxBatchSize: env.MAX_BATCH_SIZE,
      maxTtlSeconds: MAX_TTL_SECONDS,
    }),
    maxRequestBodyBytes: env.MAX_REQUEST_BODY_BYTES,
    http: Object.freeze({
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    }),
    maxSubscriptions: env.MAX_SUBSCRIPTIONS,
    maxSubscriptionsPerConnection: env.MAX_SUBSCRIPTIONS_PER_CONNECTION,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    readyRequiresGenerator: env.READY_REQUIRES_GENERATOR,
    maxGenerationsPerOperation: env.MAX_GENERATIONS_PER_OPERATION,
    maxOutputBytes: env.MAX_OUTPUT_BYTES,
    maxResponseBytes: env.MAX_RESPONSE_BYTES,
    trustedDocuments: Object.freeze({ enabled: env.TRUSTED_DOCUMENTS, adminBypass: env.TRUSTED_DOCUMENTS_ADMIN_BYPASS }),
    snapshot:
      env.CACHE_SNAPSHOT_PATH === undefined
        ? undefined
        : Object.freeze({ path: env.CACHE_SNAPSHOT_PATH, intervalSeconds: env.CACHE_SNAPSHOT_INTERVAL_SECONDS ?? DEFAULT_SNAPSHOT_INTERVAL_SECONDS }),
    logLevel: env.LOG_LEVEL,
  });
}
