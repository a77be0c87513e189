import {
  BREAK,
  getNamedType,
  isScalarType,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';

const VALUE_KINDS = new Set<string>([
  Kind.INT,
  Kind.FLOAT,
  Kind.STRING,
  Kind.BOOLEAN,
  Kind.NULL,
  Kind.ENUM,
  Kind.LIST,
  Kind.OBJECT,
]);

const compilable = new WeakMap<DocumentNode, boolean>();

/**
 * Whether graphql-jit may run a document: only where it runs it exactly as graphql-js would, and
 * only where that is worth it. Documents it does not run:
 * - mutations and subscriptions: its subscription compiler passes the operation's variables as
 *   the field's arguments (a literal `intervalMs: 250` was read as the default), and a mutation
 *   runs once, so compiling it gains nothing;
 * - several operations: compiled queries are cached by document, whatever operation is chosen;
 * - a literal of a scalar whose `parseLiteral` reads variables (JSON): graphql-jit parses it
 *   without them, so `parameters: {seed: $seed}` would lose its seed (and it warns on stderr).
 * Such documents run on graphql-js. The answer is kept for each document;
 * test/jit-differential.test.ts runs every shared operation both ways and compares.
 */
export function isCompilable(schema: GraphQLSchema, document: DocumentNode): boolean {
  let answer = compilable.get(document);
  if (answer === undefined) {
    answer = isOneQuery(document) && !hasLiteralReadingVariables(schema, document);
    compilable.set(document, answer);
  }
  return answer;
}

function isOneQuery(document: DocumentNode): boolean {
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  return operations.length === 1 && operations[0]!.operation === 'query';
}

function hasLiteralReadingVariables(schema: GraphQLSchema, document: DocumentNode): boolean {
  const typeInfo = new TypeInfo(schema);
  let found = false;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      enter(node) {
        if (!VALUE_KINDS.has(node.kind)) return undefined;
        const type = getNamedType(typeInfo.getInputType());
        if (isScalarType(type) && type.parseLiteral.length > 1) {
          found = true;
          return BREAK;
        }
        return undefined;
      },
    }),
  );
  return found;
}
