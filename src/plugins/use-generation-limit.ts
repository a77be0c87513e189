import { getOperationAST, Kind, type DocumentNode, type ExecutionArgs, type ExecutionResult, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { badUserInput } from '../errors.js';

/** Generations one operation may ask for. */
export const DEFAULT_MAX_GENERATIONS_PER_OPERATION = 100;

/** Root fields that ask for one generation each. */
const ONE_GENERATION = new Set(['generation', 'generate', 'generationStream']);
/** The root field that asks for one generation per item of its `inputs`. */
const MANY_GENERATIONS = 'generations';

/**
 * A cost limit counted before anything runs: every `generation`, `generate` and `generationStream` in an operation,
 * under any alias or fragment, and every item of a `generations` list (literal or variable),
 * count one; past `max` the operation is refused with BAD_USER_INPUT and generates nothing, so
 * that one request cannot queue thousands of generations. Directives are not evaluated: a field
 * under `@skip` counts too.
 */
export function useGenerationLimit(max: number): Plugin {
  const refuse = ({ args, setResultAndStopExecution }: { args: ExecutionArgs; setResultAndStopExecution: (result: ExecutionResult) => void }) => {
    const asked = countGenerations(args.document, args.operationName ?? undefined, args.variableValues ?? {});
    if (asked <= max) return;
    const refusal = badUserInput(`the operation asks for ${asked} generations; the limit is ${max} an operation`);
    setResultAndStopExecution({ errors: [createGraphQLError(refusal.message, { originalError: refusal })] });
  };
  return { onExecute: refuse, onSubscribe: refuse };
}

/** The generations an operation of a document asks for, with these variables. */
export function countGenerations(document: DocumentNode, operationName: string | undefined, variables: Readonly<Record<string, unknown>>): number {
  const operation = getOperationAST(document, operationName);
  if (operation === null || operation === undefined) return 0;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const seen = new Set<string>();
  const count = (selectionSet: SelectionSetNode): number => {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) total += count(selection.selectionSet);
      else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        // A fragment spread twice at the root is counted once: its fields merge.
        if (fragment !== undefined && !seen.has(fragment.name.value)) {
          seen.add(fragment.name.value);
          total += count(fragment.selectionSet);
        }
      } else if (ONE_GENERATION.has(selection.name.value)) total += 1;
      else if (selection.name.value === MANY_GENERATIONS) {
        const inputs = selection.arguments?.find((argument) => argument.name.value === 'inputs')?.value;
        if (inputs?.kind === Kind.LIST) total += inputs.values.length;
        else if (inputs?.kind === Kind.VARIABLE) {
          const given = variables[inputs.name.value];
          // A single value given for a list is coerced to a list of one.
          total += Array.isArray(given) ? given.length : given == null ? 0 : 1;
        } else if (inputs !== undefined) total += 1;
      }
    }
    return total;
  };
  return count(operation.selectionSet);
}
