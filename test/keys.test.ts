import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../load/bench/seeded-random.js';
import { canonicalJson, generationKey } from '../src/cache/keys.js';
import type { Generator, JsonObject } from '../src/generation/generator.js';
import { toGenerationRequest, type GenerationInput } from '../src/generation/request.js';
import { z } from 'zod';
import { SIMULATED_MAX_TOKENS, SimulatedGenerator, simulatedParameters } from '../src/generation/simulated-generator.js';
import { testConfig } from './helpers/config.js';

const simulated = new SimulatedGenerator({ latencyMs: 0 });
/**
 * The simulated generator, declaring any other parameter name besides its own: keys must be
 * canonical over whatever JSON a generator's parameters hold.
 */
const generator: Generator = {
  id: simulated.id,
  defaultModel: simulated.defaultModel,
  models: simulated.models,
  parameters: z.looseObject(simulatedParameters.shape) as unknown as z.ZodType<JsonObject>,
  generate: (request, signal) => simulated.generate(request, signal),
};
const defaults = simulatedParameters.parse({});
const { limits } = testConfig();
const keyOf = (input: GenerationInput): string => toGenerationRequest(input, generator, limits).key;

// 'grapheme' strings cover all of Unicode but never contain a lone surrogate, which canonical
// JSON rejects (the default unit, 'grapheme-ascii', would only ever produce ASCII).
const prompt = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }).filter((text) => text.trim() !== '');
const model = fc.constantFrom('sim-1', 'sim-2');
// maxTokens and temperature are checked by the simulated generator; other names take any JSON but
// the keys of the prototype machinery, which are refused.
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const parameterName = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 10 })
  .filter((name) => name !== 'maxTokens' && name !== 'temperature' && !PROTOTYPE_KEYS.has(name));
/** Whether a JSON value has a key of the prototype machinery at any depth. */
const hasPrototypeKey = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && Object.entries(value).some(([key, item]) => PROTOTYPE_KEYS.has(key) || hasPrototypeKey(item));
// Nested at most 3 levels, so that parameters of nested parameters stay within the depth limit (8).
const jsonValue = fc.jsonValue({ maxDepth: 3, stringUnit: 'grapheme' }).filter((value) => !hasPrototypeKey(value));
const parameters = fc.dictionary(parameterName, jsonValue, { maxKeys: 6 });
const nestedParameters = fc.dictionary(parameterName, fc.dictionary(parameterName, parameters, { maxKeys: 4 }), {
  minKeys: 1,
  maxKeys: 4,
});

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

/** The same value with the keys of every object, at any depth, in another order; arrays keep theirs. */
function deepShuffled(value: unknown, random: () => number): unknown {
  if (Array.isArray(value)) return value.map((item) => deepShuffled(item, random));
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([name, item]) => [name, deepShuffled(item, random)] as const);
    return Object.fromEntries(shuffled(entries, random));
  }
  return value;
}

/** Whether any object in the value lists its keys in another order than in `other`. */
const orderDiffers = (value: unknown, other: unknown): boolean => JSON.stringify(value) !== JSON.stringify(other);

/** Top-level nulls are unset parameters. */
const withoutNulls = (object: Readonly<Record<string, unknown>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(object).filter(([, value]) => value !== null));

const without = (object: Readonly<Record<string, unknown>>, name: string): Record<string, unknown> =>
  Object.fromEntries(Object.entries(object).filter(([key]) => key !== name));

describe('key order', () => {
  it('does not change the key when the parameters are listed in another order', () => {
    let reordered = 0;
    fc.assert(
      fc.property(
        prompt,
        model,
        parameters.chain((given) => {
          const entries = Object.entries(given);
          return fc
            .shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length })
            .map((order) => [given, Object.fromEntries(order)] as const);
        }),
        (text, name, [given, reshuffled]) => {
          if (orderDiffers(given, reshuffled)) reordered++;
          expect(keyOf({ prompt: text, model: name, parameters: reshuffled })).toBe(
            keyOf({ prompt: text, model: name, parameters: given }),
          );
        },
      ),
      { numRuns: 300 },
    );
    // The property must not hold only because no run ever changed an order.
    expect(reordered).toBeGreaterThan(0);
  });

  it('does not change the key when nested objects list their keys in another order', () => {
    let reordered = 0;
    fc.assert(
      fc.property(prompt, model, nestedParameters, fc.integer(), (text, name, given, seed) => {
        const reshuffled = deepShuffled(given, seededRandom(seed));
        if (orderDiffers(given, reshuffled)) reordered++;
        expect(keyOf({ prompt: text, model: name, parameters: reshuffled })).toBe(
          keyOf({ prompt: text, model: name, parameters: given }),
        );
      }),
      { numRuns: 300 },
    );
    expect(reordered).toBeGreaterThan(0);
  });

  it('gives one key for a literal example written in two key orders', () => {
    const first = { style: 'terse', seed: 7, options: { b: [1, { y: 2, x: 1 }], a: null } };
    const second = { options: { a: null, b: [1, { x: 1, y: 2 }] }, seed: 7, style: 'terse' };
    expect(keyOf({ prompt: 'p', parameters: second })).toBe(keyOf({ prompt: 'p', parameters: first }));
  });
});

describe('distinct inputs', () => {
  it('gives different keys for different prompts', () => {
    fc.assert(
      fc.property(prompt, prompt, model, parameters, (first, second, name, given) => {
        fc.pre(first !== second);
        expect(keyOf({ prompt: first, model: name, parameters: given })).not.toBe(
          keyOf({ prompt: second, model: name, parameters: given }),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('keys prompts as written, so surrounding whitespace gives another key', () => {
    expect(keyOf({ prompt: 'haiku ' })).not.toBe(keyOf({ prompt: 'haiku' }));
  });

  it('gives different keys for the two models', () => {
    fc.assert(
      fc.property(prompt, parameters, (text, given) => {
        expect(keyOf({ prompt: text, model: 'sim-1', parameters: given })).not.toBe(
          keyOf({ prompt: text, model: 'sim-2', parameters: given }),
        );
      }),
    );
  });

  it('gives equal keys for one parameter exactly when its two values are the same JSON', () => {
    fc.assert(
      fc.property(prompt, parameters, parameterName, jsonValue, jsonValue, (text, base, name, first, second) => {
        const firstKey = keyOf({ prompt: text, parameters: { ...base, [name]: first } });
        const secondKey = keyOf({ prompt: text, parameters: { ...base, [name]: second } });
        expect(firstKey === secondKey).toBe(canonicalJson(first) === canonicalJson(second));
      }),
      { numRuns: 500 },
    );
  });

  it('gives different keys for one parameter changed to a different JSON value', () => {
    fc.assert(
      fc.property(prompt, parameters, parameterName, jsonValue, jsonValue, (text, base, name, first, second) => {
        fc.pre(canonicalJson(first) !== canonicalJson(second));
        expect(keyOf({ prompt: text, parameters: { ...base, [name]: first } })).not.toBe(
          keyOf({ prompt: text, parameters: { ...base, [name]: second } }),
        );
      }),
      { numRuns: 300 },
    );
  });

  // Values that look alike but are different JSON.
  const lookalikes: readonly (readonly [string, unknown, unknown])[] = [
    ['number and string of the same digits', 1, '1'],
    ['integer and fraction', 1, 1.5],
    ['boolean and its string', true, 'true'],
    ['zero and false', 0, false],
    ['empty string and null', '', null],
    ['empty array and empty object', [], {}],
    ['arrays in another order', [1, 2], [2, 1]],
    ['nested number and string', { depth: 1 }, { depth: '1' }],
  ];

  it.each(lookalikes)('gives different keys for %s', (_name, first, second) => {
    fc.assert(
      fc.property(prompt, parameters, parameterName, (text, base, name) => {
        expect(keyOf({ prompt: text, parameters: { ...base, [name]: first } })).not.toBe(
          keyOf({ prompt: text, parameters: { ...base, [name]: second } }),
        );
      }),
    );
  });

  it('gives one key for a parameter set to null and the parameter left out: null is unset', () => {
    fc.assert(
      fc.property(prompt, parameters, parameterName, (text, base, name) => {
        const missing = without(base, name);
        expect(keyOf({ prompt: text, parameters: { ...missing, [name]: null } })).toBe(
          keyOf({ prompt: text, parameters: missing }),
        );
      }),
    );
  });

  it('gives equal keys for maxTokens exactly when the two counts are equal', () => {
    fc.assert(
      fc.property(
        prompt,
        fc.integer({ min: 1, max: SIMULATED_MAX_TOKENS }),
        fc.integer({ min: 1, max: SIMULATED_MAX_TOKENS }),
        (text, first, second) => {
          const firstKey = keyOf({ prompt: text, parameters: { maxTokens: first } });
          const secondKey = keyOf({ prompt: text, parameters: { maxTokens: second } });
          expect(firstKey === secondKey).toBe(first === second);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives equal keys for temperature exactly when the two values are the same JSON number', () => {
    const temperature = fc.double({ min: 0, max: 2, noNaN: true });
    fc.assert(
      fc.property(prompt, temperature, temperature, (text, first, second) => {
        const firstKey = keyOf({ prompt: text, parameters: { temperature: first } });
        const secondKey = keyOf({ prompt: text, parameters: { temperature: second } });
        expect(firstKey === secondKey).toBe(canonicalJson(first) === canonicalJson(second));
      }),
      { numRuns: 300 },
    );
  });
});

describe('defaults', () => {
  const explicitDefaults = fc.record(
    { maxTokens: fc.constant(64), temperature: fc.constant(0.7) },
    { requiredKeys: [] },
  );

  it('gives the same key for defaults given explicitly as for defaults left out', () => {
    fc.assert(
      fc.property(
        prompt,
        parameters,
        explicitDefaults,
        fc.constantFrom(undefined, null, 'sim-1'),
        (text, given, defaults, defaultModel) => {
          expect(keyOf({ prompt: text, model: defaultModel, parameters: { ...given, ...defaults } })).toBe(
            keyOf({ prompt: text, parameters: given }),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives the same key for absent, null and empty parameters', () => {
    fc.assert(
      fc.property(prompt, (text) => {
        const absent = keyOf({ prompt: text });
        expect(keyOf({ prompt: text, parameters: null })).toBe(absent);
        expect(keyOf({ prompt: text, parameters: {} })).toBe(absent);
      }),
    );
  });

  it('gives another key for a maxTokens other than the default', () => {
    fc.assert(
      fc.property(
        prompt,
        fc.integer({ min: 1, max: SIMULATED_MAX_TOKENS }).filter((count) => count !== 64),
        (text, count) => {
          expect(keyOf({ prompt: text, parameters: { maxTokens: count } })).not.toBe(keyOf({ prompt: text }));
        },
      ),
    );
  });

  it('applies the defaults under the given parameters in the request', () => {
    const request = toGenerationRequest({ prompt: 'p', parameters: { temperature: 1.5, seed: 3 } }, generator, limits);
    expect(request.model).toBe('sim-1');
    expect(request.parameters).toEqual({ maxTokens: 64, temperature: 1.5, seed: 3 });
  });
});

describe('number normalisation', () => {
  it('writes numbers in their shortest form', () => {
    expect(canonicalJson({ a: 1.0, b: 1e2, c: 1.5e-7, d: 1e21, e: -0 })).toBe('{"a":1,"b":100,"c":1.5e-7,"d":1e+21,"e":0}');
  });

  it('gives one key for the JSON texts 1.0 and 1, and 1e2 and 100', () => {
    const keyOfJson = (text: string) => keyOf({ prompt: 'p', parameters: JSON.parse(`{"seed":${text}}`) });
    expect(keyOfJson('1.0')).toBe(keyOfJson('1'));
    expect(keyOfJson('1e2')).toBe(keyOfJson('100'));
    expect(keyOfJson('1e2')).not.toBe(keyOfJson('1'));
  });

  it('gives one key for every JSON spelling of a number', () => {
    fc.assert(
      fc.property(prompt, fc.double({ noNaN: true, noDefaultInfinity: true }), (text, value) => {
        const spellings = [JSON.stringify(value), value.toExponential(), value.toPrecision(17)];
        const keys = new Set(spellings.map((spelling) => keyOf({ prompt: text, parameters: JSON.parse(`{"weight":${spelling}}`) })));
        expect(keys.size).toBe(1);
      }),
      { numRuns: 300 },
    );
  });

  it('gives one key for an integer written with a fraction, an exponent or a scaled mantissa', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1_000_000, max: 1_000_000 }).filter((n) => n !== 0), (n) => {
        const spellings = [`${n}`, `${n}.0`, `${n}.000`, `${n}e0`, `${n}E+0`, `${n}00e-2`, `${n}0E-1`];
        const keys = new Set(spellings.map((spelling) => keyOf({ prompt: 'p', parameters: JSON.parse(`{"seed":${spelling}}`) })));
        expect(keys.size).toBe(1);
      }),
    );
  });
});

describe('generationKey', () => {
  const generatorId = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((id) => !id.includes('\n'));
  const canonicalInput = fc.jsonValue({ maxDepth: 3, stringUnit: 'grapheme' }).map(canonicalJson);

  it('gives different keys for different generator ids and one canonical input', () => {
    fc.assert(
      fc.property(generatorId, generatorId, canonicalInput, (first, second, input) => {
        fc.pre(first !== second);
        expect(generationKey(first, input)).not.toBe(generationKey(second, input));
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same 64-hex-digit key for the same id and input', () => {
    fc.assert(
      fc.property(generatorId, canonicalInput, (id, input) => {
        const key = generationKey(id, input);
        expect(key).toMatch(/^[0-9a-f]{64}$/);
        expect(generationKey(id, input)).toBe(key);
      }),
    );
  });

  it('gives another key for the same request under another generator version', () => {
    const next: Generator = { ...generator, id: 'simulated/2' };
    fc.assert(
      fc.property(prompt, model, parameters, (text, name, given) => {
        const input = { prompt: text, model: name, parameters: given };
        expect(toGenerationRequest(input, next, limits).key).not.toBe(keyOf(input));
      }),
    );
  });
});

describe('the key of a request', () => {
  it('is the hash of the RFC 8785 canonical JSON of prompt, model and parameters with defaults', () => {
    fc.assert(
      fc.property(prompt, model, parameters, (text, name, given) => {
        const request = toGenerationRequest({ prompt: text, model: name, parameters: given }, generator, limits);
        const canonical = canonicalJson({ prompt: text, model: name, parameters: { ...defaults, ...withoutNulls(given) } });
        expect(request.key).toBe(generationKey(generator.id, canonical));
      }),
    );
  });
});

describe('inputs that cannot be keyed', () => {
  it('rejects a prompt with a lone surrogate as BAD_USER_INPUT', () => {
    expect(() => keyOf({ prompt: 'broken \uD800 text' })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/lone surrogate/) }));
  });

  it('rejects a parameter string with a lone surrogate as BAD_USER_INPUT', () => {
    expect(() => keyOf({ prompt: 'fine', parameters: { style: 'broken \uDC00' } })).toThrow(
      expect.objectContaining({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/not valid JSON/) }),
    );
  });

  it('throws a TypeError from canonicalJson for a value that is not JSON', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});
