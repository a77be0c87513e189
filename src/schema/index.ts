import { builder } from './builder.js';
import './cache-admin.js';
import './generation.js';
import './statistics.js';
import './subscriptions.js';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export const schema = builder.toSchema({ sortSchema: true });
