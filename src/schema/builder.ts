import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type { Context } from '../context.js';
import { GencacheError } from '../errors.js';

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { admin: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
  // Must match relay.edgesFieldOptions / relay.nodeFieldOptions below: `edges: [XEdge!]!`, `node: X!`.
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin, RelayPlugin],
  // Connections only (`t.connection`): no Node interface, no `node`/`nodes` query fields, no global IDs.
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    // The plugin adds `first` itself (a field's own `first` arg is overwritten), so its default lives here.
    firstArgOptions: { defaultValue: 50 },
  },
  scopeAuth: {
    // The one authorization rule: fields with `authScopes: { admin: true }` are the admin surface.
    authScopes: (context) => ({ admin: context.adminAccess() === 'granted' }),
    // Refuse a subscription when it starts, not at its first event.
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, context) =>
      context.adminAccess() === 'forbidden'
        ? new GencacheError('FORBIDDEN', 'the admin surface is open to loopback clients only while ADMIN_TOKEN is not set')
        : new GencacheError('UNAUTHENTICATED', 'admin access needs the header Authorization: Bearer <ADMIN_TOKEN>'),
  },
});

builder.addScalarType('DateTime', DateTimeResolver);
builder.addScalarType('JSON', JSONResolver);
