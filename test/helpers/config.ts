import { loadConfig, type Config } from '../../src/config.js';

/** A configuration from the given variables only, as if they were the whole environment. */
export function testConfig(environment: Record<string, string> = {}): Config {
  return loadConfig({ GENERATOR_LATENCY_MS: '0', LOG_LEVEL: 'silent', ...environment });
}
