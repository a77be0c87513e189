import type { z } from 'zod';
import type { GenerationRequest, Generator, GeneratorOutput, JsonObject } from '../../src/generation/generator.js';
import { SimulatedGenerator, type SimulatedGeneratorOptions } from '../../src/generation/simulated-generator.js';

export type Behaviour =
  /** Generate as the simulated generator does. */
  | { readonly kind: 'generate' }
  /** Throw this message after the latency. */
  | { readonly kind: 'fail'; readonly message: string }
  /** Never answer and ignore the abort signal: only the service's timeout ends the call. */
  | { readonly kind: 'hang' }
  /** Generate once `release` resolves: concurrent requests are sure to meet in flight. */
  | { readonly kind: 'held'; readonly release: Promise<void> };

/**
 * The simulated generator with a record of what it was asked, and a behaviour that tests can
 * switch to failing or hanging. Generation itself is the real simulated generator's.
 */
export class InstrumentedGenerator implements Generator {
  readonly calls: GenerationRequest[] = [];
  behaviour: Behaviour = { kind: 'generate' };
  readonly #inner: SimulatedGenerator;
  readonly #parameters: z.ZodType<JsonObject> | undefined;

  /** `parameters`: other parameters to declare than the simulated generator's. */
  constructor(options: SimulatedGeneratorOptions & { readonly parameters?: z.ZodType<JsonObject> } = { latencyMs: 0 }) {
    this.#inner = new SimulatedGenerator(options);
    this.#parameters = options.parameters;
  }

  get id() {
    return this.#inner.id;
  }
  get defaultModel() {
    return this.#inner.defaultModel;
  }
  get models() {
    return this.#inner.models;
  }
  get parameters(): z.ZodType<JsonObject> {
    return this.#parameters ?? this.#inner.parameters;
  }

  async generate(request: GenerationRequest, signal: AbortSignal, onDelta?: (delta: string) => void): Promise<GeneratorOutput> {
    this.calls.push(request);
    const behaviour = this.behaviour;
    if (behaviour.kind === 'hang') return new Promise<never>(() => {});
    if (behaviour.kind === 'held') await behaviour.release;
    const output = await this.#inner.generate(request, signal, onDelta);
    if (behaviour.kind === 'fail') throw new Error(behaviour.message);
    return output;
  }
}
