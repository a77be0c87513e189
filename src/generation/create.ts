import type { Config } from '../config.js';
import { ResultCache } from '../cache/result-cache.js';
import type { Generator } from './generator.js';
import { OpenAIGenerator } from './openai-generator.js';
import { GenerationService } from './service.js';
import { SimulatedGenerator } from './simulated-generator.js';

/** The generator the configuration names. */
export function createGenerator({ generator: settings }: Config): Generator {
  switch (settings.kind) {
    case 'simulated':
      return new SimulatedGenerator({ latencyMs: settings.latencyMs, models: settings.models });
    case 'openai':
      return new OpenAIGenerator({ ...settings.openai, models: settings.models });
  }
}

export interface ServiceOverrides {
  /** Replaces the configured generator. */
  readonly generator?: Generator;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

/** The result cache and the generation service, as the configuration describes them. */
export function createGenerationService(config: Config, overrides: ServiceOverrides = {}): GenerationService {
  return new GenerationService({
    generator: overrides.generator ?? createGenerator(config),
    cache: new ResultCache({ ...config.cache, now: overrides.now }),
    concurrency: config.generator.concurrency,
    queueMax: config.generator.queueMax,
    timeoutMs: config.generator.timeoutMs,
    now: overrides.now,
  });
}
