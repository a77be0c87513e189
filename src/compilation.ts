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
 * Whether graphql-jit runs a document exactly as graphql-js would. Two kinds of document it does
 * not:
 * - several operations: compiled queries are cached by document, whatever operation is chosen;
 * - a literal of a scalar whose `parseLiteral` reads variables (JSON): graphql-jit parses it
 *   without them, so `parameters: {seed: $seed}` would lose its seed (and it warns on stderr).
 * Such documents run on the standard executor. The answer is kept for each document.
 */
export function isCompilable(schema: GraphQLSchema, document: DocumentNode): boolean {
  let answer = compilable.get(document);
  if (answer === undefined) {
    answer = hasOneOperation(document) && !hasLiteralReadingVariables(schema, document);
    compilable.set(document, answer);
  }
  return answer;
}

function hasOneOperation(document: DocumentNode): boolean {
  return document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION).length === 1;
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
