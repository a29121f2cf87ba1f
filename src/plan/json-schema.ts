import { z } from 'zod';
import { bottlePlanSchema } from './schema.js';

/** JSON Schema (draft 2020-12) of `start --dry-run --json` output. */
export function planJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(bottlePlanSchema, { target: 'draft-2020-12' }),
    $id: 'https://github.com/bot-bottle/bot-bottle/schema/bottle-plan.schema.json',
    title: 'BottlePlan',
  };
}
