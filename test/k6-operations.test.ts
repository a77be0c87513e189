import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, validate } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const K6_DIR = resolve(ROOT, 'load/k6');

/** Every named operation in schema/operations. */
const operationNames = ['generation', 'duplicates', 'cache-stats', 'admin', 'subscriptions', 'example'].flatMap((file) =>
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

  it.each(operationNames.filter((name) => name !== 'Example'))('%s is a valid document for the schema, with its fragments', (name) => {
    const text = document(name);
    const errors = validate(schema, parse(text));

    expect(errors.map((error) => error.message)).toEqual([]);
    expect(parse(text).definitions.filter((definition) => definition.kind === 'OperationDefinition')).toHaveLength(1);
  });

  it('finds the operations the scripts use', () => {
    for (const name of ['Generation', 'DuplicatesInOneOperation', 'UpdateCacheConfig', 'ClearCache', 'CacheStatsLive']) {
      expect(operationNames).toContain(name);
    }
  });
});
