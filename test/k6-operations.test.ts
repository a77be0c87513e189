import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, validate } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const K6_DIR = resolve(ROOT, 'load/k6');

/** Every named operation in schema/operations, but GraphiQL's example. */
const operationNames = ['generation', 'duplicates', 'cache-stats', 'admin', 'subscriptions'].flatMap((file) =>
  [...readFileSync(resolve(ROOT, `schema/operations/${file}.graphql`), 'utf8').matchAll(/^(?:query|mutation|subscription)\s+(\w+)/gm)].map(
    (match) => match[1]!,
  ),
);

describe('the documents the k6 scripts send', () => {
  let document: (operationName: string) => string;

  beforeAll(async () => {
    // k6's init-context open(), relative to the scripts' folder.
    (globalThis as unknown as { open: (path: string) => string }).open = (path) => readFileSync(resolve(K6_DIR, path), 'utf8');
    ({ document } = await import('../load/k6/operations.js'));
  });

  it.each(operationNames)('%s is a valid document for the schema, with its fragments', (name) => {
    const text = document(name);
    const errors = validate(schema, parse(text));

    expect(errors.map((error) => error.message)).toEqual([]);
    expect(parse(text).definitions.filter((definition) => definition.kind === 'OperationDefinition')).toHaveLength(1);
  });

  it('finds every operation the scripts send', () => {
    const sent = new Set(
      readdirSync(K6_DIR)
        .filter((file) => file.endsWith('.ts'))
        .flatMap((file) => [...readFileSync(resolve(K6_DIR, file), 'utf8').matchAll(/\b(?:operation|document)\('(\w+)'/g)].map((match) => match[1]!)),
    );

    expect([...sent].sort()).toEqual(['CacheConfig', 'CacheStatsLive', 'ClearCache', 'DuplicatesInOneOperation', 'Generation', 'GenerationStream', 'UpdateCacheConfig']);
    for (const name of sent) expect(operationNames).toContain(name);
  });
});
