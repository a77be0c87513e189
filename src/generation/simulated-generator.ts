import { hash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { GenerationRequest, Generator, GeneratorOutput } from './generator.js';

export interface SimulatedGeneratorOptions {
  /** Milliseconds each generation takes. @default 1000 */
  readonly latencyMs?: number;
  /** Allow-list of models. @default ['sim-1', 'sim-2'] */
  readonly models?: readonly string[];
}

export const SIMULATED_MODELS = ['sim-1', 'sim-2'] as const;
export const DEFAULT_LATENCY_MS = 1000;
/** Largest `maxTokens` the simulated generator accepts: an output of at most about 90 KB. */
export const SIMULATED_MAX_TOKENS = 8192;

/** The parameters of the simulated generator: those of an LLM, each part of the key. */
export const simulatedParameters = z.strictObject({
  /** Words of output. */
  maxTokens: z.int().min(1).max(SIMULATED_MAX_TOKENS).default(64),
  temperature: z.number().min(0).max(2).default(0.7),
  topP: z.number().gt(0).max(1).optional(),
  seed: z.int().optional(),
  /** Up to 4 stop sequences. */
  stop: z.array(z.string().min(1).max(256)).max(4).optional(),
});

const WORDS = [
  'amber', 'basalt', 'cedar', 'delta', 'ember', 'fjord', 'granite', 'harbor', 'iris', 'juniper',
  'kelp', 'lumen', 'meadow', 'nimbus', 'orchid', 'pebble', 'quartz', 'river', 'sierra', 'tundra',
  'umber', 'violet', 'willow', 'xenon', 'yarrow', 'zephyr', 'aurora', 'bramble', 'cobalt', 'dune',
  'estuary', 'fern',
] as const;

/**
 * The embedded generator: output is a pure function of the request key, produced after a fixed
 * latency, so the cache's effects are real and visible without a GPU. `parameters.maxTokens`
 * (default 64) sets the output length in words; the other parameters only change the key, and
 * so the words.
 */
export class SimulatedGenerator implements Generator {
  readonly id: string = 'simulated/1';
  readonly defaultModel: string;
  readonly models: readonly string[];
  readonly parameters = simulatedParameters;
  readonly latencyMs: number;

  constructor(options: SimulatedGeneratorOptions = {}) {
    this.latencyMs = options.latencyMs ?? DEFAULT_LATENCY_MS;
    this.models = options.models?.length ? options.models : SIMULATED_MODELS;
    this.defaultModel = this.models[0] ?? SIMULATED_MODELS[0];
  }

  /**
   * Streamed (with `onDelta`), the words come one by one spread evenly over the latency, the
   * first with the model's tag; they add up to the output. At most one timer a millisecond:
   * words due within a millisecond come without waiting, except the last.
   */
  async generate(request: GenerationRequest, signal: AbortSignal, onDelta?: (delta: string) => void): Promise<GeneratorOutput> {
    const words = simulatedWords(request.key, request.parameters['maxTokens'] as number);
    const output = `[${request.model}] ${words.join(' ')}`;
    if (onDelta === undefined) {
      if (this.latencyMs > 0) await sleep(this.latencyMs, undefined, { signal });
    } else {
      const started = performance.now();
      for (const [index, word] of words.entries()) {
        const wait = started + (this.latencyMs * (index + 1)) / words.length - performance.now();
        // The last word waits out the latency to the end: a generation never takes less.
        if (wait >= 1 || (wait > 0 && index === words.length - 1)) await sleep(wait, undefined, { signal });
        signal.throwIfAborted();
        onDelta(index === 0 ? `[${request.model}] ${word}` : ` ${word}`);
      }
    }
    signal.throwIfAborted();
    return { output, contentType: 'text/plain' };
  }
}

/** Deterministic words drawn from the key: the same key always gives the same words. */
function simulatedWords(key: string, words: number): string[] {
  const out: string[] = [];
  let block = hash('sha256', key, 'buffer');
  for (let i = 0; i < words; i++) {
    const offset = i % block.length;
    if (i > 0 && offset === 0) block = hash('sha256', block, 'buffer');
    out.push(WORDS[block[offset]! % WORDS.length]!);
  }
  return out;
}
