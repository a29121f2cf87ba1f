// Writes schema/bottle-plan.schema.json from the zod schema in the build.
// Run `npm run schema` after changing src/plan/schema.ts; a unit test fails
// while the committed file and the schema disagree.
import { writeFileSync } from 'node:fs';
import { planJsonSchema } from '../dist/plan/json-schema.js';

const out = new URL('../schema/bottle-plan.schema.json', import.meta.url);
writeFileSync(out, JSON.stringify(planJsonSchema(), null, 2) + '\n');
console.log(`wrote ${out.pathname}`);
