import { hash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GenerationRequest, Generator, GeneratorOutput, JsonObject } from './generator.js';

export interface SimulatedGeneratorOptions {
  /** Milliseconds each generation takes. @default 1000 */
  readonly latencyMs?: number;
  /** Allow-list of models. @default ['sim-1', 'sim-2'] */
  readonly models?: readonly string[];
}

export const SIMULATED_MODELS = ['sim-1', 'sim-2'] as const;
export const DEFAULT_LATENCY_MS = 1000;
/** Largest `maxTokens` the simulated generator accepts. */
export const SIMULATED_MAX_TOKENS = 1_000_000;

const WORDS = [
  'amber', 'basalt', 'cedar', 'delta', 'ember', 'fjord', 'granite', 'harbor', 'iris', 'juniper',
  'kelp', 'lumen', 'meadow', 'nimbus', 'orchid', 'pebble', 'quartz', 'river', 'sierra', 'tundra',
  'umber', 'violet', 'willow', 'xenon', 'yarrow', 'zephyr', 'aurora', 'bramble', 'cobalt', 'dune',
  'estuary', 'fern',
] as const;

/**
 * The embedded generator: output is a pure function of the request key, produced after a fixed
 * latency, so the cache's effects are real and visible without a GPU. `parameters.maxTokens`
 * (default 64) sets the output length in words.
 */
export class SimulatedGenerator implements Generator {
  readonly id: string = 'simulated/1';
  readonly defaultModel: string;
  readonly models: readonly string[];
  readonly defaultParameters = { maxTokens: 64, temperature: 0.7 };
  readonly latencyMs: number;

  constructor(options: SimulatedGeneratorOptions = {}) {
    this.latencyMs = options.latencyMs ?? DEFAULT_LATENCY_MS;
    this.models = options.models?.length ? options.models : SIMULATED_MODELS;
    this.defaultModel = this.models[0] ?? SIMULATED_MODELS[0];
  }

  checkParameters(parameters: Readonly<JsonObject>): string | undefined {
    const { maxTokens, temperature } = parameters;
    if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > SIMULATED_MAX_TOKENS) {
      return `maxTokens must be an integer from 1 to ${SIMULATED_MAX_TOKENS}, got ${JSON.stringify(maxTokens)}`;
    }
    if (typeof temperature !== 'number' || temperature < 0 || temperature > 2) {
      return `temperature must be a number from 0 to 2, got ${JSON.stringify(temperature)}`;
    }
    return undefined;
  }

  async generate(request: GenerationRequest, signal: AbortSignal): Promise<GeneratorOutput> {
    if (this.latencyMs > 0) await sleep(this.latencyMs, undefined, { signal });
    signal.throwIfAborted();
    const words = request.parameters['maxTokens'] as number;
    return { output: `[${request.model}] ${simulatedText(request.key, words)}`, contentType: 'text/plain' };
  }
}

/** Deterministic words drawn from the key: the same key always gives the same text. */
function simulatedText(key: string, words: number): string {
  const out: string[] = [];
  let block = hash('sha256', key, 'buffer');
  for (let i = 0; i < words; i++) {
    const offset = i % block.length;
    if (i > 0 && offset === 0) block = hash('sha256', block, 'buffer');
    out.push(WORDS[block[offset]! % WORDS.length]!);
  }
  return out.join(' ');
}
