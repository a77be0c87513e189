/**
 * The shared operation documents of schema/operations, read at init time, and a way to send
 * one operation with the fragments it uses. k6 has no GraphQL parser: definitions are split by
 * their top-level braces, which is enough for these documents.
 */

/**
 * k6's init-context open(), named with its k6 type so that this module also typechecks where DOM
 * types declare another `open` (the test suite checks these documents against the schema).
 */
const readFile = open as unknown as (path: string) => string;

const SOURCES = [
  readFile('../../schema/operations/generation.graphql'),
  readFile('../../schema/operations/duplicates.graphql'),
  readFile('../../schema/operations/cache-stats.graphql'),
  readFile('../../schema/operations/admin.graphql'),
  readFile('../../schema/operations/subscriptions.graphql'),
];

interface Definition {
  readonly kind: 'query' | 'mutation' | 'subscription' | 'fragment';
  readonly name: string;
  readonly text: string;
}

function definitions(source: string): Definition[] {
  const text = source.replace(/#[^\n]*/g, '');
  const found: Definition[] = [];
  const head = /(query|mutation|subscription|fragment)\s+(\w+)/g;
  for (let match = head.exec(text); match !== null; match = head.exec(text)) {
    let depth = 0;
    let end = text.indexOf('{', match.index);
    do {
      const char = text[end];
      if (char === '{') depth++;
      else if (char === '}') depth--;
      end++;
    } while (depth > 0 && end < text.length);
    found.push({ kind: match[1] as Definition['kind'], name: match[2]!, text: text.slice(match.index, end) });
    head.lastIndex = end;
  }
  return found;
}

const ALL = new Map(SOURCES.flatMap(definitions).map((definition) => [definition.name, definition]));

/** The document of one named operation, with every fragment it spreads, directly or not. */
export function document(operationName: string): string {
  const operation = ALL.get(operationName);
  if (operation === undefined || operation.kind === 'fragment') throw new Error(`no operation ${operationName} in schema/operations`);
  const parts = [operation.text];
  const seen = new Set<string>();
  for (let index = 0; index < parts.length; index++) {
    for (const spread of parts[index]!.matchAll(/\.\.\.\s*(\w+)/g)) {
      const name = spread[1]!;
      const fragment = ALL.get(name);
      if (fragment?.kind === 'fragment' && !seen.has(name)) {
        seen.add(name);
        parts.push(fragment.text);
      }
    }
  }
  return parts.join('\n');
}
