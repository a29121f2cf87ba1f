import { z } from 'zod';
import { bottlePlanSchema, type BottlePlan } from '../plan/schema.js';

/**
 * What the in-cluster controller is told about its launch: the plan (no
 * secret values), the launch identity and when it started, so budgets
 * count as they would on the host that applied it. The renderer puts it in
 * a ConfigMap (`launch.json`); the controller container reads it at start.
 * A restarted controller reads the same document, so a launch budget
 * keeps counting from the first start.
 */

export const launchDocumentSchema = z
  .object({
    schemaVersion: z.literal(1),
    identity: z.string().regex(/^[a-z][a-z0-9-]{0,80}$/),
    startedAt: z.iso.datetime(),
    plan: bottlePlanSchema,
  })
  .strict();

export type LaunchDocument = z.infer<typeof launchDocumentSchema>;

export function launchDocument(plan: BottlePlan, identity: string, startedAt: string): string {
  const doc: LaunchDocument = { schemaVersion: 1, identity, startedAt, plan };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** The document, or why it is not one (the message names the first bad field). */
export function parseLaunchDocument(
  text: string,
): { ok: true; launch: LaunchDocument } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  const r = launchDocumentSchema.safeParse(raw);
  if (r.success) return { ok: true, launch: r.data };
  const issue = r.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.join('.')}: `;
  return { ok: false, error: `${where}${issue?.message ?? 'invalid'}` };
}
