import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');
/** The core: the service, the generators and the cache. */
const CORE = ['cache', 'generation'];
/** What the core may import from the rest of src: the error vocabulary, free of GraphQL. */
const CORE_MAY_IMPORT = ['errors.ts'];
/** Packages of the GraphQL edge, which the core must not import. */
const EDGE_PACKAGE = /^(graphql($|\/|-)|@graphql-|@envelop\/|@pothos\/|@escape\.tech\/)/;

/** Every module specifier a TypeScript source imports or re-exports, static or dynamic. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm)) {
    found.push((match[1] ?? match[2] ?? match[3])!);
  }
  return found;
}

/** The imports of a core module that break the boundary, as `specifier`. */
function violations(file: string, source: string): string[] {
  return specifiers(source).filter((specifier) => {
    if (!specifier.startsWith('.')) return EDGE_PACKAGE.test(specifier);
    const target = relative(SRC, resolve(dirname(file), specifier)).replace(/\.js$/, '.ts');
    return !CORE.some((folder) => target.startsWith(`${folder}/`)) && !CORE_MAY_IMPORT.includes(target);
  });
}

const coreFiles = CORE.flatMap((folder) =>
  readdirSync(join(SRC, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(SRC, folder, name)),
);

describe('the core (src/cache, src/generation)', () => {
  it('has modules to check', () => {
    expect(coreFiles.map((file) => relative(SRC, file))).toEqual(expect.arrayContaining(['cache/memory-store.ts', 'generation/service.ts']));
  });

  it.each(coreFiles.map((file) => [relative(SRC, file), file]))('%s imports neither config, GraphQL nor the schema', (_name, file) => {
    expect(violations(file, readFileSync(file, 'utf8'))).toEqual([]);
  });

  it('tells a violation when it sees one', () => {
    const file = join(SRC, 'cache/example.ts');
    const source = [
      "import { z } from 'zod';",
      "import type { Config } from '../config.js';",
      "import { parse } from 'graphql';",
      "import { builder } from '../schema/builder.js';",
      "export { createYoga } from 'graphql-yoga';",
      "const lazy = await import('../yoga.js');",
      "import { GencacheError } from '../errors.js';",
      "import type { Generator } from '../generation/generator.js';",
    ].join('\n');
    expect(violations(file, source)).toEqual(['../config.js', 'graphql', '../schema/builder.js', 'graphql-yoga', '../yoga.js']);
  });
});
