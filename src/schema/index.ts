import { builder } from './builder.js';
import './cache-admin.js';
import './generation.js';
import './statistics.js';

builder.queryType({});
builder.mutationType({});

export const schema = builder.toSchema({ sortSchema: true });
