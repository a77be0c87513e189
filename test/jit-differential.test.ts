import { readdirSync, readFileSync } from 'node:fs';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  parse,
  print,
  TypeInfo,
  typeFromAST,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type DefinitionNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  type OperationDefinitionNode,
  type OperationTypeNode,
} from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { isCompilable } from '../src/compilation.js';
import { schema } from '../src/schema/index.js';
import { createHarness, type Harness } from './helpers/harness.js';

/**
 * Differential test of graphql-jit against graphql-js: the same requests, in the same order, go
 * to two apps that differ only in `compileQueries`, and every response (status, media type and
 * the whole body: data, errors, extensions) must be the same. It covers every operation of
 * schema/operations/*.graphql, every argument of every Query and Mutation field given as a
 * literal, as a variable and left to its default, and the first result of subscriptions.
 */

/**
 * What graphql-jit did on the compiled side. `useGraphQlJit` is wrapped, unchanged but for a
 * document cache that counts the runs of each compiled query (by document text) and an `onError`
 * that records compilation failures instead of printing them; so a case can tell that its
 * response really came from a compiled query, and the other side cannot have installed the plugin.
 */
const jit = vi.hoisted(() => ({
  /** Plugins made: one per app that runs graphql-jit. */
  plugins: 0,
  /** Runs of compiled queries, by document text. */
  runs: new Map<string, number>(),
  /** Results of documents graphql-jit failed to compile. */
  failures: [] as unknown[],
}));

vi.mock('@envelop/graphql-jit', async (importOriginal) => {
  const original = await importOriginal<typeof import('@envelop/graphql-jit')>();
  const useGraphQlJit: typeof original.useGraphQlJit = (compilerOptions, pluginOptions = {}) => {
    jit.plugins++;
    return original.useGraphQlJit(compilerOptions, {
      ...pluginOptions,
      onError: (result) => void jit.failures.push(result),
      cache: {
        // The plugin's own per-document cache still answers first; this one only observes.
        get: () => undefined,
        set: (source, entry) => {
          const query = entry.query;
          entry.query = (...args) => {
            jit.runs.set(source, (jit.runs.get(source) ?? 0) + 1);
            return query(...args);
          };
        },
      },
    });
  };
  return { ...original, useGraphQlJit };
});

const TOKEN = 'jit-differential-admin-token';
// One name for both apps: their events carry it.
const ENV = { ADMIN_TOKEN: TOKEN, INSTANCE_ID: 'differential' };
const URL_OF_GRAPHQL = 'http://yoga/graphql';
const START_MS = 1_700_000_000_000;
/** What the fake clock moves between cases, so that times differ from case to case. */
const TICK_MS = 1000;
/** Errors a valid request may still meet: a refused value, a CACHE_ONLY miss of `generate`. */
const EXPECTED_ERROR_CODES = ['BAD_USER_INPUT', 'NOT_FOUND'];

/** The fake clock of both apps: it moves only when a test moves it. */
let clockMs = START_MS;
const now = () => clockMs;

/**
 * `generationMs` is the only value of a response that measures real time (performance.now around
 * the generator call), and two servers never measure the same. It also reaches other values: the
 * stored record's size (`bytes`, `peakBytes`, `freedBytes`, the LARGEST order, the byte bound) is
 * that of its JSON, generationMs included, and `savedMs` sums it over hits. Rather than blank all
 * of those, performance.now is frozen for the duration of this file, so that every generation
 * takes 0 ms on both sides and every one of those values is compared as it is.
 */
const FROZEN_PERFORMANCE_NOW = 1234.5;
beforeAll(() => {
  vi.spyOn(performance, 'now').mockReturnValue(FROZEN_PERFORMANCE_NOW);
});
afterAll(() => {
  vi.restoreAllMocks();
});

// ---------------------------------------------------------------------------------------------
// The two apps, and one request sent to both.

interface Pair {
  readonly jit: Harness;
  readonly js: Harness;
  /** graphql-jit plugins made while creating the pair: 1, that of the compiled side. */
  readonly pluginsMade: number;
}

/**
 * Two apps alike but for `compileQueries`. Requests go through Yoga's fetch, which the fast lane
 * (node's HTTP server only) never answers, so the lane is left out of both.
 */
function createPair(): Pair {
  clockMs = START_MS;
  const before = jit.plugins;
  const compiled = createHarness({ env: ENV, now, fastLane: false });
  const standard = createHarness({ env: ENV, now, fastLane: false, compileQueries: false });
  return { jit: compiled, js: standard, pluginsMade: jit.plugins - before };
}

async function closePair(pair: Pair | undefined): Promise<void> {
  await Promise.all([pair?.jit.close(0), pair?.js.close(0)]);
}

interface GraphQLRequest {
  readonly query: string;
  readonly variables?: Readonly<Record<string, unknown>>;
  readonly operationName?: string;
}

interface Reply {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: ResponseBody;
}

interface ResponseBody {
  readonly data?: Record<string, unknown> | null;
  readonly errors?: readonly { readonly message: string; readonly extensions?: Record<string, unknown> }[];
  readonly extensions?: Record<string, unknown>;
}

const fetchInit = (request: GraphQLRequest, accept: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${TOKEN}` },
  body: JSON.stringify(request),
});

async function post(harness: Harness, request: GraphQLRequest): Promise<Reply> {
  const response = await harness.yoga.fetch(URL_OF_GRAPHQL, fetchInit(request, 'application/graphql-response+json'));
  return { status: response.status, contentType: response.headers.get('content-type'), body: (await response.json()) as ResponseBody };
}

interface Differential<T> {
  readonly jit: T;
  readonly js: T;
  /** Runs of a compiled query on the graphql-jit side during this request. */
  readonly compiledRuns: number;
  /** Documents graphql-jit failed to compile during this request. */
  readonly compileFailures: number;
}

/** Sends one request to the graphql-jit side, then the same to the graphql-js side. */
async function both<T>(pair: Pair, query: string, send: (harness: Harness) => Promise<T>): Promise<Differential<T>> {
  const runsBefore = jit.runs.get(query) ?? 0;
  const failuresBefore = jit.failures.length;
  const compiled = await send(pair.jit);
  const compiledRuns = (jit.runs.get(query) ?? 0) - runsBefore;
  const compileFailures = jit.failures.length - failuresBefore;
  const standard = await send(pair.js);
  return { jit: compiled, js: standard, compiledRuns, compileFailures };
}

const postBoth = (pair: Pair, request: GraphQLRequest) => both(pair, request.query, (harness) => post(harness, request));

/** The data of a reply that must have succeeded: its errors are checked absent first. */
function dataOf(reply: Reply): Record<string, unknown> {
  expect(reply.body.errors).toBeUndefined();
  expect(reply.status).toBe(200);
  return reply.body.data!;
}

const errorCodes = (body: ResponseBody): unknown[] => (body.errors ?? []).map((error) => error.extensions?.['code']);

// ---------------------------------------------------------------------------------------------
// Subscriptions over SSE: the first result only.

interface FirstEvent {
  readonly status: number;
  readonly contentType: string | null;
  readonly event: ResponseBody;
  /** The reply to the request that made the event happen, when the subscription needed one. */
  readonly trigger?: Reply;
}

/** A request that always stores a generation, and so makes a SET event. */
const TRIGGER: GraphQLRequest = {
  query: 'query Trigger($input: GenerationInput!) { generation(input: $input, policy: NETWORK_ONLY) { key cacheStatus } }',
  variables: { input: { prompt: 'a subscription trigger' } },
};
const FIRST_EVENT_TIMEOUT_MS = 5000;

/**
 * Subscribes over SSE (`accept: text/event-stream`, through Yoga's fetch) and reads the first
 * `data:` event, then cancels the body. A subscription that waits for cache events (nothing comes
 * before its listener is attached) gets one: once its listener is on the cache, the trigger
 * request stores a generation.
 */
async function firstEvent(harness: Harness, request: GraphQLRequest): Promise<FirstEvent> {
  const listenersBefore = harness.cache.events.listenerCount('event');
  const response = await harness.yoga.fetch(URL_OF_GRAPHQL, fetchInit(request, 'text/event-stream'));
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let settled = false;
  const first = (async (): Promise<ResponseBody> => {
    for (;;) {
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice('data:'.length).replace(/^ /, ''))
          .join('\n');
        if (data !== '') return JSON.parse(data) as ResponseBody;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before its first event: ${JSON.stringify(buffer)}`);
      buffer += decoder.decode(value, { stream: true });
    }
  })().finally(() => (settled = true));
  try {
    let trigger: Reply | undefined;
    const deadline = Date.now() + FIRST_EVENT_TIMEOUT_MS;
    while (!settled && harness.cache.events.listenerCount('event') === listenersBefore) {
      if (Date.now() > deadline) throw new Error('no first event, and no cache listener to trigger one');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    if (!settled) trigger = await post(harness, TRIGGER);
    const event = await first;
    return { status: response.status, contentType: response.headers.get('content-type'), event, ...(trigger && { trigger }) };
  } finally {
    await reader.cancel();
  }
}

// ---------------------------------------------------------------------------------------------
// Values for arguments and variables, derived from their types.

/** What the tests learn from the apps once seeded: a key and a cursor that exist. */
interface Fixture {
  readonly key: string;
  readonly cursor: string;
}

interface Sample {
  readonly label: string;
  readonly value: unknown;
  /** Outside what the field accepts: it must be refused with BAD_USER_INPUT. */
  readonly invalid?: boolean;
}

const sample = (value: unknown, label = JSON.stringify(value)): Sample => ({ label, value });
const refused = (value: unknown): Sample => ({ label: `${JSON.stringify(value)} (out of range)`, value, invalid: true });

/**
 * Values of particular arguments and input fields, by schema coordinate (`Type.field.argument`,
 * `InputType.field`, or `*.name` for any of that name); the first one of each is valid. The rest
 * are derived from the type alone. `last` and `before` have no valid value: the listing pages
 * forward only, and refuses them.
 */
const VALUES: Readonly<Record<string, (fixture: Fixture) => readonly Sample[]>> = {
  'GenerationInput.prompt': () => [sample('a differential prompt')],
  '*.model': () => [sample('sim-2')],
  '*.ttlSeconds': () => [sample(60), refused(-1)],
  'Query.cacheEntries.first': () => [sample(2), refused(5000)],
  'Query.cacheEntries.after': ({ cursor }) => [sample(cursor, 'a real cursor')],
  'Query.cacheEntries.last': () => [refused(1)],
  'Query.cacheEntries.before': ({ cursor }) => [refused(cursor)],
  // These apps have no shared tier: SHARED is refused.
  'Query.cacheEntries.tier': () => [sample('LOCAL', 'LOCAL'), { ...sample('SHARED', 'SHARED (no shared tier here)'), invalid: true }],
  'Subscription.cacheStats.intervalMs': () => [sample(250)],
  'CacheConfigInput.enabled': () => [sample(true)],
  'CacheConfigInput.maxEntries': () => [sample(500)],
  'CacheConfigInput.maxBytes': () => [sample(1_048_576)],
  'CacheConfigInput.defaultTtlSeconds': () => [sample(3600)],
};

/** Input fields of which a valid object gives exactly one: the first in "all fields" and "required fields only", each other in a sample of its own. */
const ONE_OF: Readonly<Record<string, readonly string[]>> = {
  GenerationInput: ['prompt', 'messages'],
};

const SCALAR_VALUES: Readonly<Record<string, (fixture: Fixture) => Sample>> = {
  Int: () => sample(1),
  Float: () => sample(1.5),
  String: () => sample('text'),
  Boolean: () => sample(true),
  ID: ({ key }) => sample(key, 'a real key'),
  JSON: () => sample({ maxTokens: 8 }),
  DateTime: () => sample('2023-11-14T22:13:20.000Z'),
};

function samplesFor(type: GraphQLInputType, coordinate: string, fixture: Fixture): readonly Sample[] {
  if (isNonNullType(type)) return samplesFor(type.ofType, coordinate, fixture);
  const given = VALUES[coordinate] ?? VALUES[`*.${coordinate.split('.').at(-1)}`];
  if (given !== undefined) return given(fixture);
  if (isListType(type)) {
    const items = samplesFor(type.ofType, coordinate, fixture).filter((item) => !item.invalid);
    const lists = items.map((item) => sample([item.value], `[${item.label}]`));
    return items.length > 1 ? [...lists, sample(items.map((item) => item.value), `[${items.map((item) => item.label).join(', ')}]`)] : lists;
  }
  if (isInputObjectType(type)) {
    const [first, ...others] = ONE_OF[type.name] ?? [];
    const fields = Object.values(type.getFields());
    const plain = fields.filter((field) => first === undefined || ![first, ...others].includes(field.name));
    const alternative = (name: string | undefined) => fields.filter((field) => field.name === name);
    const objectOf = (chosen: typeof fields) =>
      Object.fromEntries(chosen.map((field) => [field.name, firstSample(field.type, `${type.name}.${field.name}`, fixture).value]));
    const required = [...plain.filter((field) => isNonNullType(field.type) && field.defaultValue === undefined), ...alternative(first)];
    const all = sample(objectOf([...plain, ...alternative(first)]), 'all fields');
    const alternatives = others.map((name) => sample(objectOf([...plain, ...alternative(name)]), `all fields, ${name} for ${first}`));
    if (required.length === fields.length - others.length) return [all, ...alternatives];
    return [all, ...alternatives, sample(objectOf(required), required.length === 0 ? 'no fields' : 'required fields only')];
  }
  if (isEnumType(type)) return type.getValues().map((value) => sample(value.name, value.name));
  const scalar = SCALAR_VALUES[type.name];
  if (scalar === undefined) throw new Error(`no value for the scalar ${type.name} (${coordinate}): add one to SCALAR_VALUES`);
  return [scalar(fixture)];
}

function firstSample(type: GraphQLInputType, coordinate: string, fixture: Fixture): Sample {
  const first = samplesFor(type, coordinate, fixture)[0];
  if (first === undefined || first.invalid) throw new Error(`no valid value for ${coordinate}`);
  return first;
}

/** A value written as a GraphQL literal of its type (JSON scalars as object and list literals). */
function literal(value: unknown, type: GraphQLInputType): string {
  if (value === null) return 'null';
  if (isNonNullType(type)) return literal(value, type.ofType);
  if (isListType(type)) return `[${(value as unknown[]).map((item) => literal(item, type.ofType)).join(', ')}]`;
  if (isInputObjectType(type)) {
    const fields = type.getFields();
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([name, field]) => `${name}: ${literal(field, fields[name]!.type)}`)
      .join(', ')}}`;
  }
  if (isEnumType(type)) return String(value);
  return jsonLiteral(value);
}

function jsonLiteral(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonLiteral).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([name, field]) => `${name}: ${jsonLiteral(field)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------
// Which documents must run compiled.

/** Whether a document has a literal of the JSON scalar, which graphql-jit would parse without variables. */
function hasJsonLiteral(document: DocumentNode): boolean {
  const typeInfo = new TypeInfo(schema);
  let found = false;
  const valueKinds = new Set<string>([Kind.INT, Kind.FLOAT, Kind.STRING, Kind.BOOLEAN, Kind.NULL, Kind.ENUM, Kind.LIST, Kind.OBJECT]);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      enter(node) {
        if (valueKinds.has(node.kind) && getNamedType(typeInfo.getInputType())?.name === 'JSON') found = true;
      },
    }),
  );
  return found;
}

/**
 * Whether the graphql-jit side must have run a document compiled: a document of one query and no
 * JSON literal (mutations, subscriptions, several operations and JSON literals run on graphql-js).
 */
function mustRunCompiled(document: DocumentNode): boolean {
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  return operations.length === 1 && operations[0]!.operation === 'query' && !hasJsonLiteral(document);
}

/** The checks of every query or mutation case: the same reply on both sides, from compiled code where it should be. */
function expectSameReply(request: GraphQLRequest, result: Differential<Reply>): void {
  expect(result.jit).toEqual(result.js);
  expect(result.compileFailures).toBe(0);
  const document = parse(request.query);
  const compiled = mustRunCompiled(document);
  expect(isCompilable(schema, document)).toBe(compiled);
  expect(result.compiledRuns).toBe(compiled ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------
// State both sides start each case from.

const SEED_QUERY = 'query Seed($input: GenerationInput!) { generation(input: $input) { key cacheStatus } }';
const SEED_INPUTS = [{ prompt: 'a seed' }, { prompt: 'another seed', model: 'sim-2', parameters: { maxTokens: 8 } }];

/** Moves the clock and (re)stores the seed generations on both sides. */
async function seed(pair: Pair): Promise<string[]> {
  clockMs += TICK_MS;
  const keys: string[] = [];
  for (const input of SEED_INPUTS) {
    const result = await postBoth(pair, { query: SEED_QUERY, variables: { input } });
    expect(result.jit).toEqual(result.js);
    keys.push((dataOf(result.jit)['generation'] as { key: string }).key);
  }
  return keys;
}

/** Seeds both sides and reads a key and a cursor that exist on both. */
async function fixtureOf(pair: Pair): Promise<Fixture> {
  const [key] = await seed(pair);
  const result = await postBoth(pair, { query: '{ cacheEntries(first: 1) { edges { cursor } } }' });
  expect(result.jit).toEqual(result.js);
  const [edge] = (dataOf(result.jit)['cacheEntries'] as { edges: { cursor: string }[] }).edges;
  return { key: key!, cursor: edge!.cursor };
}

/** A fixture for naming cases before the apps exist: the shapes of the values, not the values. */
const NAMING_FIXTURE: Fixture = { key: 'key', cursor: 'cursor' };

// ---------------------------------------------------------------------------------------------
// 1. The operations of schema/operations/*.graphql.

const OPERATIONS_DIRECTORY = new URL('../schema/operations/', import.meta.url);

interface OperationCase {
  readonly name: string;
  readonly operation: OperationTypeNode;
  readonly document: DocumentNode;
  readonly operationName: string | undefined;
  readonly definition: OperationDefinitionNode;
  /** Only the variables that have to be given. */
  readonly requiredOnly: boolean;
}

/** Every operation of the files, alone with its fragments, and within its whole file by operationName. */
function operationCases(): OperationCase[] {
  const files = readdirSync(OPERATIONS_DIRECTORY)
    .filter((file) => file.endsWith('.graphql'))
    .sort()
    .map((file) => ({ file, document: parse(readFileSync(new URL(file, OPERATIONS_DIRECTORY), 'utf8')) }));
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const { document } of files) {
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
  }
  /** The definitions, with the fragments they need that are not among them. */
  const withFragments = (definitions: readonly DefinitionNode[]): DocumentNode => {
    const all = [...definitions];
    const present = new Set(all.flatMap((definition) => (definition.kind === Kind.FRAGMENT_DEFINITION ? [definition.name.value] : [])));
    for (let index = 0; index < all.length; index++) {
      visit(all[index]!, {
        FragmentSpread(node) {
          if (present.has(node.name.value)) return;
          const fragment = fragments.get(node.name.value);
          if (fragment === undefined) throw new Error(`no fragment ${node.name.value} in schema/operations`);
          present.add(node.name.value);
          all.push(fragment);
        },
      });
    }
    return { kind: Kind.DOCUMENT, definitions: all };
  };

  const cases: OperationCase[] = [];
  for (const { file, document } of files) {
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      const name = `${file} ${definition.operation} ${definition.name?.value ?? '(anonymous)'}`;
      const base = { operation: definition.operation, definition };
      const alone = withFragments([definition]);
      cases.push({ ...base, name: `${name}, with every variable`, document: alone, operationName: undefined, requiredOnly: false });
      if (definition.variableDefinitions?.some((variable) => variable.type.kind !== Kind.NON_NULL_TYPE || variable.defaultValue)) {
        cases.push({ ...base, name: `${name}, with only its required variables`, document: alone, operationName: undefined, requiredOnly: true });
      }
      if (definition.name !== undefined && document.definitions.filter((each) => each.kind === Kind.OPERATION_DEFINITION).length > 1) {
        cases.push({
          ...base,
          name: `${name}, chosen by operationName in the whole file`,
          document: withFragments(document.definitions),
          operationName: definition.name.value,
          requiredOnly: false,
        });
      }
    }
  }
  return cases;
}

/** The schema coordinate each variable of an operation is used at: `Type.field.argument` or `InputType.field`. */
function variableCoordinates(definition: OperationDefinitionNode): Map<string, string> {
  const coordinates = new Map<string, string>();
  const typeInfo = new TypeInfo(schema);
  const document: DocumentNode = { kind: Kind.DOCUMENT, definitions: [definition] };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Variable(node, _key, parent) {
        const owner = parent as ASTNode | readonly ASTNode[] | undefined;
        if (owner === undefined || Array.isArray(owner)) return;
        const ownerNode = owner as ASTNode;
        if (ownerNode.kind === Kind.ARGUMENT) {
          coordinates.set(node.name.value, `${typeInfo.getParentType()?.name}.${typeInfo.getFieldDef()?.name}.${ownerNode.name.value}`);
        } else if (ownerNode.kind === Kind.OBJECT_FIELD) {
          coordinates.set(node.name.value, `${getNamedType(typeInfo.getParentInputType())?.name}.${ownerNode.name.value}`);
        }
      },
    }),
  );
  return coordinates;
}

function operationRequest(operationCase: OperationCase, fixture: Fixture): GraphQLRequest {
  const coordinates = variableCoordinates(operationCase.definition);
  const variables: Record<string, unknown> = {};
  for (const variable of operationCase.definition.variableDefinitions ?? []) {
    const name = variable.variable.name.value;
    const required = variable.type.kind === Kind.NON_NULL_TYPE && variable.defaultValue === undefined;
    if (operationCase.requiredOnly && !required) continue;
    const type = typeFromAST(schema, variable.type) as GraphQLInputType | undefined;
    if (type === undefined) throw new Error(`unknown type of $${name} in ${operationCase.name}`);
    variables[name] = firstSample(type, coordinates.get(name) ?? `$${name}`, fixture).value;
  }
  return { query: print(operationCase.document), variables, ...(operationCase.operationName && { operationName: operationCase.operationName }) };
}

/**
 * A pair of apps for the tests of a describe block, with its fixture, seeded again before each
 * test; and the check that graphql-jit is installed on the compiled side only.
 */
function pairForBlock(): { pair: Pair; fixture: Fixture } {
  const block = {} as { pair: Pair; fixture: Fixture };
  beforeAll(async () => {
    block.pair = createPair();
    block.fixture = await fixtureOf(block.pair);
  });
  beforeEach(async () => {
    await seed(block.pair);
  });
  afterAll(() => closePair(block.pair));

  it('installs graphql-jit on the compiled side only', () => {
    expect(block.pair.pluginsMade).toBe(1);
  });
  return block;
}

describe('graphql-jit and graphql-js on every operation of schema/operations', () => {
  const cases = operationCases();
  const block = pairForBlock();

  it('finds operations of every kind in the files', () => {
    expect(new Set(cases.map((each) => each.operation))).toEqual(new Set(['query', 'mutation', 'subscription']));
  });

  it.each(cases.filter((each) => each.operation !== 'subscription').map((each) => [each.name, each] as const))(
    '%s: same reply',
    async (_name, operationCase) => {
      const request = operationRequest(operationCase, block.fixture);
      const result = await postBoth(block.pair, request);
      expectSameReply(request, result);
      expect(EXPECTED_ERROR_CODES).toEqual(expect.arrayContaining(errorCodes(result.jit.body)));
      if (operationCase.operation === 'query' && !operationCase.requiredOnly) dataOf(result.jit);
    },
  );

  it.each(cases.filter((each) => each.operation === 'subscription').map((each) => [each.name, each] as const))(
    '%s: same first result over SSE',
    async (_name, operationCase) => {
      const request = operationRequest(operationCase, block.fixture);
      const result = await both(block.pair, request.query, (harness) => firstEvent(harness, request));
      expect(result.jit).toEqual(result.js);
      expect(result.compiledRuns).toBe(0);
      expect(result.jit.status).toBe(200);
      expect(result.jit.event.errors).toBeUndefined();
      expect(result.jit.event.data).toEqual(expect.any(Object));
    },
  );
});

// ---------------------------------------------------------------------------------------------
// 2. Every argument of every Query and Mutation field, as a literal, as a variable, by default.

type Form = 'as a literal' | 'as a variable' | 'left out' | 'as a variable left unset' | 'as a null literal' | 'as a null variable';

interface FieldCase {
  readonly name: string;
  readonly root: GraphQLObjectType;
  readonly field: GraphQLField<unknown, unknown>;
  /** The argument under test, how it is given, and the index of its value among its samples. */
  readonly tested: { readonly argument: GraphQLArgument; readonly form: Form; readonly sampleIndex: number } | undefined;
  readonly selection: string;
  readonly invalid: boolean;
}

const coordinateOf = (root: GraphQLObjectType, field: GraphQLField<unknown, unknown>, argument: GraphQLArgument) =>
  `${root.name}.${field.name}.${argument.name}`;
const isRequired = (argument: GraphQLArgument) => isNonNullType(argument.type) && argument.defaultValue === undefined;

/** Every leaf of an object type, and of the objects under it to some depth, with `__typename` at each level. */
function fullSelection(type: GraphQLObjectType, depth = 0): string {
  const parts = ['__typename'];
  for (const field of Object.values(type.getFields())) {
    if (field.args.some(isRequired)) continue;
    const named = getNamedType(field.type);
    if (isLeafType(named)) parts.push(field.name);
    else if (isObjectType(named) && depth < 3) parts.push(`${field.name} ${fullSelection(named, depth + 1)}`);
  }
  return `{ ${parts.join(' ')} }`;
}

/** A second, smaller selection for the result types that have one here; others take their first leaf. */
const SECOND_SELECTIONS: Readonly<Record<string, string>> = {
  Generation: '{ key output cacheStatus parameters }',
  CacheEntryConnection: '{ totalCount edges { cursor node { key } } }',
  CacheEntry: '{ key hits generation { key cacheStatus } }',
  CacheStats: '{ hits misses hitRate entries bytes }',
  CacheConfig: '{ enabled maxEntries }',
  CacheClearResult: '{ removed }',
};

function selectionsOf(field: GraphQLField<unknown, unknown>): [label: string, selection: string][] {
  const named = getNamedType(field.type);
  if (!isObjectType(named)) return [['', '']];
  const firstLeaf = Object.values(named.getFields()).find((each) => isLeafType(getNamedType(each.type)))?.name ?? '__typename';
  return [
    ['every field', fullSelection(named)],
    ['a few fields', SECOND_SELECTIONS[named.name] ?? `{ ${firstLeaf} }`],
  ];
}

function fieldCases(root: GraphQLObjectType): FieldCase[] {
  const cases: FieldCase[] = [];
  for (const field of Object.values(root.getFields())) {
    for (const [selectionLabel, selection] of selectionsOf(field)) {
      const suffix = selectionLabel === '' ? '' : `, selecting ${selectionLabel}`;
      if (field.args.length === 0) {
        cases.push({ name: `${root.name}.${field.name} without arguments${suffix}`, root, field, tested: undefined, selection, invalid: false });
      }
      for (const argument of field.args) {
        const add = (form: Form, sampleIndex: number, shown: string, invalid = false) =>
          cases.push({
            name: `${root.name}.${field.name}(${argument.name}${shown}) ${form}${suffix}`,
            root,
            field,
            tested: { argument, form, sampleIndex },
            selection,
            invalid,
          });
        samplesFor(argument.type, coordinateOf(root, field, argument), NAMING_FIXTURE).forEach((each, index) => {
          add('as a literal', index, `: ${each.label}`, each.invalid);
          add('as a variable', index, `: ${each.label}`, each.invalid);
        });
        if (!isRequired(argument)) {
          add('left out', -1, '');
          add('as a variable left unset', -1, '');
        }
        if (!isNonNullType(argument.type)) {
          add('as a null literal', -1, '');
          add('as a null variable', -1, '');
        }
      }
    }
  }
  return cases;
}

/** The document of a case: only the argument under test varies; other required arguments are variables. */
function fieldRequest(fieldCase: FieldCase, fixture: Fixture): GraphQLRequest {
  const { root, field, tested, selection } = fieldCase;
  const definitions: string[] = [];
  const args: string[] = [];
  const variables: Record<string, unknown> = {};
  const asVariable = (argument: GraphQLArgument, value: unknown) => {
    definitions.push(`$${argument.name}: ${String(argument.type)}`);
    args.push(`${argument.name}: $${argument.name}`);
    if (value !== undefined) variables[argument.name] = value;
  };
  for (const argument of field.args) {
    const coordinate = coordinateOf(root, field, argument);
    if (argument !== tested?.argument) {
      if (isRequired(argument)) asVariable(argument, firstSample(argument.type, coordinate, fixture).value);
      continue;
    }
    const value = samplesFor(argument.type, coordinate, fixture)[tested.sampleIndex]?.value;
    switch (tested.form) {
      case 'as a literal':
        args.push(`${argument.name}: ${literal(value, argument.type)}`);
        break;
      case 'as a variable':
        asVariable(argument, value);
        break;
      case 'left out':
        break;
      case 'as a variable left unset':
        asVariable(argument, undefined);
        break;
      case 'as a null literal':
        args.push(`${argument.name}: null`);
        break;
      case 'as a null variable':
        asVariable(argument, null);
        break;
    }
  }
  const operation = root === schema.getMutationType() ? 'mutation' : 'query';
  const variableList = definitions.length === 0 ? '' : `(${definitions.join(', ')})`;
  const argumentList = args.length === 0 ? '' : `(${args.join(', ')})`;
  return { query: `${operation} Differential${variableList} { ${field.name}${argumentList} ${selection} }`, variables };
}

describe.each([
  ['Query', schema.getQueryType()!],
  ['Mutation', schema.getMutationType()!],
])('graphql-jit and graphql-js on every argument of %s', (rootName, root) => {
  const cases = fieldCases(root);
  const block = pairForBlock();

  it.each(cases.map((each) => [each.name, each] as const))('%s: same reply', async (_name, fieldCase) => {
    const request = fieldRequest(fieldCase, block.fixture);
    const result = await postBoth(block.pair, request);
    expectSameReply(request, result);
    const codes = errorCodes(result.jit.body);
    if (fieldCase.invalid) {
      expect(codes).toContain('BAD_USER_INPUT');
    } else if (rootName === 'Query') {
      dataOf(result.jit);
    } else {
      expect(EXPECTED_ERROR_CODES).toEqual(expect.arrayContaining(codes));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Subscription.cacheStats: its interval as a literal, as a variable, by default.

describe('graphql-jit and graphql-js on Subscription.cacheStats', () => {
  const SELECTION = fullSelection(schema.getType('CacheStats') as GraphQLObjectType);
  const forms: [form: string, request: (intervalMs: number) => GraphQLRequest][] = [
    ['as a literal', (intervalMs) => ({ query: `subscription { cacheStats(intervalMs: ${intervalMs}) ${SELECTION} }` })],
    [
      'as a variable',
      (intervalMs) => ({ query: `subscription Stats($intervalMs: Int) { cacheStats(intervalMs: $intervalMs) ${SELECTION} }`, variables: { intervalMs } }),
    ],
  ];
  const byDefault: GraphQLRequest = { query: `subscription { cacheStats ${SELECTION} }` };
  let pair: Pair;
  let subscribed: { jit: number[]; js: number[] };

  beforeAll(async () => {
    pair = createPair();
    await seed(pair);
    const jitFeed = vi.spyOn(pair.jit.statsFeed, 'subscribe');
    const jsFeed = vi.spyOn(pair.js.statsFeed, 'subscribe');
    subscribed = {
      get jit() {
        return jitFeed.mock.calls.map(([intervalMs]) => intervalMs);
      },
      get js() {
        return jsFeed.mock.calls.map(([intervalMs]) => intervalMs);
      },
    };
  });
  afterAll(() => closePair(pair));

  /** Subscribes on both sides; resolves once both have started their timers. */
  async function subscribeBoth(request: GraphQLRequest) {
    const before = { jit: subscribed.jit.length, js: subscribed.js.length };
    const result = await both(pair, request.query, (harness) => firstEvent(harness, request));
    await vi.waitFor(() => {
      expect(subscribed.jit.length).toBe(before.jit + 1);
      expect(subscribed.js.length).toBe(before.js + 1);
    });
    return { ...result, intervals: { jit: subscribed.jit.at(-1), js: subscribed.js.at(-1) } };
  }

  it.each([...forms.map(([form, request]) => [`cacheStats(intervalMs: 250) ${form}`, request(250), 250] as const), ['cacheStats by default', byDefault, 1000] as const])(
    '%s: same first result, on timers of the interval given',
    async (_name, request, intervalMs) => {
      const result = await subscribeBoth(request);
      expect(result.jit).toEqual(result.js);
      expect(result.compiledRuns).toBe(0);
      expect(result.jit.status).toBe(200);
      expect(result.jit.event.errors).toBeUndefined();
      expect(result.jit.event.data).toEqual({ cacheStats: expect.any(Object) });
      expect(result.intervals).toEqual({ jit: intervalMs, js: intervalMs });
    },
  );

  it('gives the same first result for the interval as a literal, as a variable and by default', async () => {
    const requests = [...forms.map(([, request]) => request(250)), byDefault];
    const results: FirstEvent[] = [];
    for (const request of requests) {
      const result = await subscribeBoth(request);
      expect(result.jit).toEqual(result.js);
      results.push(result.jit);
    }
    expect(results[0]!.event.errors).toBeUndefined();
    for (const result of results.slice(1)) expect(result).toEqual(results[0]);
  });

  it.each(forms.map(([form, request]) => [form, request(5)] as const))(
    'cacheStats(intervalMs: 5) %s: refused with BAD_USER_INPUT on both',
    async (_form, request) => {
      const before = { jit: subscribed.jit.length, js: subscribed.js.length };
      const result = await both(pair, request.query, (harness) => firstEvent(harness, request));
      expect(result.jit).toEqual(result.js);
      expect(result.jit.event.data).toBeUndefined();
      expect(errorCodes(result.jit.event)).toEqual(['BAD_USER_INPUT']);
      expect(result.js.event.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
      expect({ jit: subscribed.jit.length, js: subscribed.js.length }).toEqual(before);
    },
  );
});
