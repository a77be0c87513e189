/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "fragment CacheStatsFields on CacheStats {\n  enabled\n  entries\n  maxEntries\n  bytes\n  maxBytes\n  peakBytes\n  hits\n  misses\n  hitRate\n  coalesced\n  deduplicated\n  evictions\n  expirations\n  generations\n  generationErrors\n  inFlight\n  queued\n  savedMs\n  since\n}\n\nquery CacheStats {\n  cacheStats {\n    ...CacheStatsFields\n  }\n}": typeof types.CacheStatsFieldsFragmentDoc,
    "query DuplicatesInOneOperation($input: GenerationInput!, $inputs: [GenerationInput!]!) {\n  a0: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a1: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a2: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a3: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a4: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a5: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a6: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a7: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a8: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a9: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  list: generations(inputs: $inputs) {\n    key\n    output\n    cacheStatus\n  }\n}": typeof types.DuplicatesInOneOperationDocument,
    "fragment GenerationFields on Generation {\n  key\n  prompt\n  model\n  parameters\n  output\n  contentType\n  createdAt\n  generationMs\n  cacheStatus\n  expiresAt\n}\n\nquery Generation($input: GenerationInput!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generation(input: $input, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}\n\nquery Generations($inputs: [GenerationInput!]!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generations(inputs: $inputs, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}\n\nmutation Generate($input: GenerationInput!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generate(input: $input, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}": typeof types.GenerationFieldsFragmentDoc,
};
const documents: Documents = {
    "fragment CacheStatsFields on CacheStats {\n  enabled\n  entries\n  maxEntries\n  bytes\n  maxBytes\n  peakBytes\n  hits\n  misses\n  hitRate\n  coalesced\n  deduplicated\n  evictions\n  expirations\n  generations\n  generationErrors\n  inFlight\n  queued\n  savedMs\n  since\n}\n\nquery CacheStats {\n  cacheStats {\n    ...CacheStatsFields\n  }\n}": types.CacheStatsFieldsFragmentDoc,
    "query DuplicatesInOneOperation($input: GenerationInput!, $inputs: [GenerationInput!]!) {\n  a0: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a1: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a2: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a3: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a4: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a5: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a6: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a7: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a8: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a9: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  list: generations(inputs: $inputs) {\n    key\n    output\n    cacheStatus\n  }\n}": types.DuplicatesInOneOperationDocument,
    "fragment GenerationFields on Generation {\n  key\n  prompt\n  model\n  parameters\n  output\n  contentType\n  createdAt\n  generationMs\n  cacheStatus\n  expiresAt\n}\n\nquery Generation($input: GenerationInput!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generation(input: $input, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}\n\nquery Generations($inputs: [GenerationInput!]!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generations(inputs: $inputs, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}\n\nmutation Generate($input: GenerationInput!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generate(input: $input, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}": types.GenerationFieldsFragmentDoc,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment CacheStatsFields on CacheStats {\n  enabled\n  entries\n  maxEntries\n  bytes\n  maxBytes\n  peakBytes\n  hits\n  misses\n  hitRate\n  coalesced\n  deduplicated\n  evictions\n  expirations\n  generations\n  generationErrors\n  inFlight\n  queued\n  savedMs\n  since\n}\n\nquery CacheStats {\n  cacheStats {\n    ...CacheStatsFields\n  }\n}"): (typeof documents)["fragment CacheStatsFields on CacheStats {\n  enabled\n  entries\n  maxEntries\n  bytes\n  maxBytes\n  peakBytes\n  hits\n  misses\n  hitRate\n  coalesced\n  deduplicated\n  evictions\n  expirations\n  generations\n  generationErrors\n  inFlight\n  queued\n  savedMs\n  since\n}\n\nquery CacheStats {\n  cacheStats {\n    ...CacheStatsFields\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query DuplicatesInOneOperation($input: GenerationInput!, $inputs: [GenerationInput!]!) {\n  a0: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a1: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a2: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a3: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a4: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a5: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a6: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a7: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a8: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a9: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  list: generations(inputs: $inputs) {\n    key\n    output\n    cacheStatus\n  }\n}"): (typeof documents)["query DuplicatesInOneOperation($input: GenerationInput!, $inputs: [GenerationInput!]!) {\n  a0: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a1: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a2: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a3: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a4: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a5: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a6: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a7: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a8: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  a9: generation(input: $input) {\n    key\n    output\n    cacheStatus\n  }\n  list: generations(inputs: $inputs) {\n    key\n    output\n    cacheStatus\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment GenerationFields on Generation {\n  key\n  prompt\n  model\n  parameters\n  output\n  contentType\n  createdAt\n  generationMs\n  cacheStatus\n  expiresAt\n}\n\nquery Generation($input: GenerationInput!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generation(input: $input, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}\n\nquery Generations($inputs: [GenerationInput!]!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generations(inputs: $inputs, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}\n\nmutation Generate($input: GenerationInput!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generate(input: $input, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}"): (typeof documents)["fragment GenerationFields on Generation {\n  key\n  prompt\n  model\n  parameters\n  output\n  contentType\n  createdAt\n  generationMs\n  cacheStatus\n  expiresAt\n}\n\nquery Generation($input: GenerationInput!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generation(input: $input, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}\n\nquery Generations($inputs: [GenerationInput!]!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generations(inputs: $inputs, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}\n\nmutation Generate($input: GenerationInput!, $policy: CachePolicy, $ttlSeconds: Int) {\n  generate(input: $input, policy: $policy, ttlSeconds: $ttlSeconds) {\n    ...GenerationFields\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;