import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from '../schema/index.js';

/** Prints the Pothos schema as sorted SDL to schema/schema.graphql (or the path given). */
const target = process.argv[2] ?? new URL('../../schema/schema.graphql', import.meta.url).pathname;
writeFileSync(target, `${printSchema(schema)}\n`);
process.stdout.write(`wrote ${target}\n`);
