import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents of the shared operations in schema/operations: for the tests and GraphiQL's
 * examples; and their manifest, the only operations a server with TRUSTED_DOCUMENTS=1 runs.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: 'schema/operations/*.graphql',
  ignoreNoDocuments: false,
  emitLegacyCommonJSImports: false,
  generates: {
    'src/generated/': {
      preset: 'client',
      // persisted-documents.json: the trusted documents (TRUSTED_DOCUMENTS=1), keyed by the
      // GraphQL-over-HTTP document identifier `sha256:<hex>` that each typed document also carries.
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: 'sha256' } },
      config: {
        scalars: { DateTime: 'string', JSON: 'unknown' },
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
      },
    },
  },
};

export default config;
