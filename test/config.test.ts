import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../src/config.js';

/** The ConfigError that loading this environment throws; fails the test when it loads. */
function configError(environment: Record<string, string>): ConfigError {
  try {
    loadConfig(environment);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(environment)}`);
}

describe('loadConfig defaults', () => {
  const defaults = loadConfig({});

  it.each<[string, (config: Config) => unknown, unknown]>([
    ['PORT', (config) => config.port, 4000],
    ['HOST', (config) => config.host, '127.0.0.1'],
    ['CACHE_MAX_SIZE', (config) => config.cache.maxEntries, 1000],
    ['CACHE_MAX_MEMORY_MB', (config) => config.cache.maxBytes, 512 * 1024 * 1024],
    ['CACHE_TTL_SECONDS', (config) => config.cache.defaultTtlSeconds, 86_400],
    ['DISABLE_RESULT_CACHE', (config) => config.cache.enabled, true],
    ['GENERATOR', (config) => config.generator.kind, 'simulated'],
    ['GENERATOR_CONCURRENCY', (config) => config.generator.concurrency, 4],
    ['GENERATOR_QUEUE_MAX', (config) => config.generator.queueMax, 1000],
    ['GENERATOR_TIMEOUT_MS', (config) => config.generator.timeoutMs, 300_000],
    ['ABANDONED_GENERATIONS', (config) => config.generator.abandoned, 'finish'],
    ['GENERATOR_LATENCY_MS', (config) => config.generator.latencyMs, 1000],
    ['GENERATOR_MODELS', (config) => config.generator.models, []],
    ['ADMIN_TOKEN', (config) => config.adminToken, undefined],
    ['TRUSTED_DOCUMENTS', (config) => config.trustedDocuments.enabled, false],
    ['TRUSTED_DOCUMENTS_ADMIN_BYPASS', (config) => config.trustedDocuments.adminBypass, false],
    ['LOG_LEVEL', (config) => config.logLevel, 'info'],
    ['CACHE_SNAPSHOT_PATH', (config) => config.snapshot, undefined],
  ])('unset %s gives the documented default', (_variable, read, expected) => {
    expect(read(defaults)).toEqual(expected);
  });
});

describe('loadConfig values', () => {
  it('reads numbers from their strings', () => {
    const config = loadConfig({ PORT: '8080', CACHE_MAX_SIZE: '25', CACHE_TTL_SECONDS: '0', GENERATOR_CONCURRENCY: '16' });

    expect([config.port, config.cache.maxEntries, config.cache.defaultTtlSeconds, config.generator.concurrency]).toEqual([
      8080, 25, 0, 16,
    ]);
  });

  it('turns CACHE_MAX_MEMORY_MB into whole bytes', () => {
    expect(loadConfig({ CACHE_MAX_MEMORY_MB: '0.5' }).cache.maxBytes).toBe(524_288);
  });

  it.each(['1', 'true'])('DISABLE_RESULT_CACHE=%s turns the result cache off', (value) => {
    expect(loadConfig({ DISABLE_RESULT_CACHE: value }).cache.enabled).toBe(false);
  });

  it.each(['0', 'false'])('DISABLE_RESULT_CACHE=%s keeps the result cache on', (value) => {
    expect(loadConfig({ DISABLE_RESULT_CACHE: value }).cache.enabled).toBe(true);
  });

  it('splits GENERATOR_MODELS on commas and trims each name', () => {
    expect(loadConfig({ GENERATOR_MODELS: 'a, b' }).generator.models).toEqual(['a', 'b']);
  });

  it('drops empty names from GENERATOR_MODELS', () => {
    expect(loadConfig({ GENERATOR_MODELS: ' a ,, b ,' }).generator.models).toEqual(['a', 'b']);
  });

  it('reads the openai settings', () => {
    const config = loadConfig({
      GENERATOR: 'openai',
      OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
      OPENAI_API_KEY: 'sk-local',
      OPENAI_MODEL: 'llama3',
    });

    expect(config.generator.kind).toBe('openai');
    expect(config.generator.openai).toEqual({ baseUrl: 'http://127.0.0.1:11434/v1', apiKey: 'sk-local', model: 'llama3' });
  });

  it('accepts an ADMIN_TOKEN of 16 characters', () => {
    expect(loadConfig({ ADMIN_TOKEN: '0123456789abcdef' }).adminToken).toBe('0123456789abcdef');
  });

  it.each(['1', 'true'])('TRUSTED_DOCUMENTS=%s runs trusted documents only, with no admin bypass', (value) => {
    expect(loadConfig({ TRUSTED_DOCUMENTS: value }).trustedDocuments).toEqual({ enabled: true, adminBypass: false });
  });

  it('reads TRUSTED_DOCUMENTS_ADMIN_BYPASS=1 alongside TRUSTED_DOCUMENTS=1', () => {
    expect(loadConfig({ TRUSTED_DOCUMENTS: '1', TRUSTED_DOCUMENTS_ADMIN_BYPASS: '1' }).trustedDocuments).toEqual({ enabled: true, adminBypass: true });
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root', PORT: '4001' }).port).toBe(4001);
  });
});

describe('loadConfig empty values', () => {
  // The same INSTANCE_ID, or each would name itself anew.
  const named = (environment: Record<string, string>) => loadConfig({ ...environment, INSTANCE_ID: 'one' });

  it('treats an empty string as unset', () => {
    const config = named({ PORT: '', GENERATOR: '', CACHE_MAX_SIZE: '', ADMIN_TOKEN: '', REDIS_URL: '' });

    expect(config).toEqual(named({}));
  });

  it('treats a blank string as unset', () => {
    expect(named({ PORT: '  ', DISABLE_RESULT_CACHE: ' ' })).toEqual(named({}));
  });
});

describe('loadConfig invalid values', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['CACHE_MAX_SIZE', '0'],
    ['CACHE_MAX_SIZE', '1.5'],
    ['CACHE_MAX_MEMORY_MB', '-1'],
    ['CACHE_MAX_MEMORY_MB', '0'],
    ['CACHE_TTL_SECONDS', '-5'],
    ['DISABLE_RESULT_CACHE', 'maybe'],
    ['GENERATOR', 'gpt'],
    ['GENERATOR_CONCURRENCY', '0'],
    ['GENERATOR_QUEUE_MAX', '-1'],
    ['GENERATOR_TIMEOUT_MS', '0'],
    ['ABANDONED_GENERATIONS', 'abort'],
    ['ABANDONED_GENERATIONS', 'CANCEL'],
    ['GENERATOR_LATENCY_MS', 'slow'],
    ['OPENAI_BASE_URL', 'nope'],
    ['OPENAI_BASE_URL', 'ftp://example.com/v1'],
    ['OPENAI_BASE_URL', 'redis://127.0.0.1:6379'],
    ['PORT', '0x50'],
    ['CACHE_MAX_SIZE', '1e3'],
    ['CACHE_MAX_MEMORY_MB', '0x10'],
    ['ADMIN_TOKEN', 'too-short'],
    ['MAX_PROMPT_LENGTH', '0'],
    ['MAX_BATCH_SIZE', '10001'],
    ['MAX_PARAMETERS_DEPTH', '0'],
    ['MAX_SUBSCRIPTIONS', '0'],
    ['SHUTDOWN_GRACE_MS', '-1'],
    ['MAX_GENERATIONS_PER_OPERATION', '0'],
    ['MAX_OUTPUT_BYTES', '1023'],
    ['HTTP_HEADERS_TIMEOUT_MS', '99'],
    ['HTTP_KEEP_ALIVE_TIMEOUT_MS', '1.5'],
    ['MAX_RESPONSE_BYTES', '1023'],
    ['MAX_SUBSCRIPTIONS_PER_CONNECTION', '0'],
    ['MAX_PARAMETERS_DEPTH', '65'],
    ['TRUSTED_DOCUMENTS', 'yes'],
    ['READY_REQUIRES_GENERATOR', 'strict'],
    ['TRUSTED_DOCUMENTS_ADMIN_BYPASS', 'on'],
    ['LOG_LEVEL', 'loud'],
  ])(
    '%s=%s is rejected with a ConfigError naming the variable',
    (variable, value) => {
      const error = configError({ [variable]: value });

      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(new RegExp(`^${variable}: `));
      expect(error.message).toContain(variable);
    },
  );

  it('reads no fleet without REDIS_URL, and the fleet settings with it', () => {
    expect(loadConfig({ CACHE_NAMESPACE: 'other:' }).fleet).toBeUndefined();
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', INSTANCE_ID: 'replica-1' }).fleet).toEqual({
      redisUrl: 'redis://127.0.0.1:6379',
      namespace: 'gencache:v1:',
      commandTimeoutMs: 100,
      lockTtlMs: 30_000,
      instanceId: 'replica-1',
    });
    expect(loadConfig({ REDIS_URL: 'rediss://cache.internal:6380/2' }).fleet?.instanceId).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{4}$`));
  });

  it.each([
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['CACHE_NAMESPACE', 'gencache:*:'],
    ['CACHE_NAMESPACE', 'a'.repeat(65)],
    ['CACHE_LOCK_TTL_MS', '299'],
    ['REDIS_COMMAND_TIMEOUT_MS', '0'],
    ['INSTANCE_ID', 'has space'],
  ])('refuses %s=%s', (variable, value) => {
    const error = configError({ REDIS_URL: 'redis://127.0.0.1:6379', [variable]: value });

    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(new RegExp(`^${variable}: `));
  });

  it.each([['*'], ['https://ui.example/app'], ['ui.example'], ['https://ui.example, *']])('refuses CORS_ORIGINS=%s: origins only, never a wildcard', (value) => {
    expect(configError({ CORS_ORIGINS: value }).problems[0]).toMatch(/^CORS_ORIGINS\.\d+: must list origins/);
  });

  it('reads CORS_ORIGINS as a comma-separated list of origins, empty by default', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: 'https://ui.example, http://localhost:5173,' }).corsOrigins).toEqual(['https://ui.example', 'http://localhost:5173']);
  });

  it.each(['1', 'true'])('refuses TRUSTED_DOCUMENTS_ADMIN_BYPASS=%s without TRUSTED_DOCUMENTS=1: a bypass of a check that is off', (value) => {
    const environments: Record<string, string>[] = [{ TRUSTED_DOCUMENTS_ADMIN_BYPASS: value }, { TRUSTED_DOCUMENTS: '0', TRUSTED_DOCUMENTS_ADMIN_BYPASS: value }];
    for (const environment of environments) {
      const error = configError(environment);

      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(/^TRUSTED_DOCUMENTS_ADMIN_BYPASS: has no effect without TRUSTED_DOCUMENTS=1/);
    }
  });

  it('refuses HTTP_HEADERS_TIMEOUT_MS over HTTP_REQUEST_TIMEOUT_MS, and reads the HTTP timeouts', () => {
    expect(configError({ HTTP_HEADERS_TIMEOUT_MS: '40000' }).problems).toEqual([
      'HTTP_HEADERS_TIMEOUT_MS: must not be over HTTP_REQUEST_TIMEOUT_MS (30000): the headers are part of the request (got "40000")',
    ]);
    expect(loadConfig({}).http).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000 });
    expect(loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '30000' }).http.headersTimeoutMs).toBe(30_000);
  });

  it('quotes the value it rejected', () => {
    expect(configError({ PORT: 'abc' }).problems[0]).toContain('(got "abc")');
  });

  it.each([
    ['ADMIN_TOKEN', 'hunter2-secret'],
    ['REDIS_URL', 'http://user:pa55word@example.com'],
  ])('never repeats the value of the secret %s in its message', (variable, value) => {
    const error = configError({ [variable]: value });

    expect(error.problems[0]).toMatch(new RegExp(`^${variable}: `));
    expect(error.message).not.toContain(value);
    expect(error.message).not.toContain('pa55word');
  });

  it('reports every bad variable in one error', () => {
    const error = configError({ PORT: 'abc', CACHE_MAX_SIZE: '0', GENERATOR: 'gpt', REDIS_URL: 'not-a-url' });

    expect(error.problems.map((problem) => problem.split(':')[0]).sort()).toEqual([
      'CACHE_MAX_SIZE',
      'GENERATOR',
      'PORT',
      'REDIS_URL',
    ]);
    for (const variable of ['PORT', 'CACHE_MAX_SIZE', 'GENERATOR', 'REDIS_URL']) expect(error.message).toContain(variable);
  });

  it('is a ConfigError named ConfigError', () => {
    const error = configError({ PORT: 'abc' });

    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ConfigError');
  });
});

describe('loadConfig result', () => {
  const config = loadConfig({ GENERATOR_MODELS: 'a,b' });

  it.each<[string, object]>([
    ['the config', config],
    ['cache', config.cache],
    ['generator', config.generator],
    ['generator.models', config.generator.models],
    ['generator.openai', config.generator.openai],
    ['limits', config.limits],
    ['trustedDocuments', config.trustedDocuments],
  ])('%s is frozen', (_name, part) => {
    expect(Object.isFrozen(part)).toBe(true);
  });

  it('throws on an attempt to change it', () => {
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(config.port).toBe(4000);
  });
});

describe('loadConfig snapshot', () => {
  const directory = mkdtempSync(join(tmpdir(), 'gencache-config-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('reads CACHE_SNAPSHOT_PATH, with a write every 300 seconds by default', () => {
    const config = loadConfig({ CACHE_SNAPSHOT_PATH: join(directory, 'snapshot') });

    expect(config.snapshot).toEqual({ path: join(directory, 'snapshot'), intervalSeconds: 300 });
    expect(Object.isFrozen(config.snapshot)).toBe(true);
  });

  it('makes a relative CACHE_SNAPSHOT_PATH absolute, from the working directory at start', () => {
    expect(loadConfig({ CACHE_SNAPSHOT_PATH: 'snapshot' }).snapshot?.path).toBe(join(process.cwd(), 'snapshot'));
  });

  it.each([['0'], ['1'], ['86400']])('reads CACHE_SNAPSHOT_INTERVAL_SECONDS=%s', (value) => {
    expect(loadConfig({ CACHE_SNAPSHOT_PATH: join(directory, 'snapshot'), CACHE_SNAPSHOT_INTERVAL_SECONDS: value }).snapshot?.intervalSeconds).toBe(Number(value));
  });

  it.each([['-1'], ['86401'], ['1.5'], ['5m']])('refuses CACHE_SNAPSHOT_INTERVAL_SECONDS=%s: whole seconds from 0 to a day', (value) => {
    const error = configError({ CACHE_SNAPSHOT_PATH: join(directory, 'snapshot'), CACHE_SNAPSHOT_INTERVAL_SECONDS: value });

    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^CACHE_SNAPSHOT_INTERVAL_SECONDS: /);
  });

  it.each<[string, () => string, RegExp]>([
    ['in a directory that does not exist', () => join(directory, 'missing', 'snapshot'), /^CACHE_SNAPSHOT_PATH: its directory .*missing does not exist/],
    ['naming a directory', () => directory, /^CACHE_SNAPSHOT_PATH: names a directory: it must name a file/],
    ['ending in a slash', () => `${join(directory, 'snapshot')}/`, /^CACHE_SNAPSHOT_PATH: names a directory: it must name a file/],
  ])('refuses a CACHE_SNAPSHOT_PATH %s', (_case, path, message) => {
    const error = configError({ CACHE_SNAPSHOT_PATH: path() });

    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(message);
  });

  it('refuses CACHE_SNAPSHOT_INTERVAL_SECONDS without CACHE_SNAPSHOT_PATH: an interval of nothing', () => {
    expect(configError({ CACHE_SNAPSHOT_INTERVAL_SECONDS: '60' }).problems).toEqual([
      'CACHE_SNAPSHOT_INTERVAL_SECONDS: has no effect without CACHE_SNAPSHOT_PATH; set both, or unset it (got "60")',
    ]);
  });

  it('refuses CACHE_SNAPSHOT_PATH with DISABLE_RESULT_CACHE=1: its empty cache would replace the snapshot', () => {
    expect(configError({ CACHE_SNAPSHOT_PATH: join(directory, 'snapshot'), DISABLE_RESULT_CACHE: '1' }).problems[0]).toMatch(
      /^CACHE_SNAPSHOT_PATH: has no effect with DISABLE_RESULT_CACHE=1/,
    );
  });
});
