import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { checkIdentity, stateDir } from '../controller/state.js';
import { bottlePlanSchema, type BottlePlan } from '../plan/schema.js';
import { egressFileSchema } from './files.js';

/**
 * Access changes made to a bottle while it ran (approved proposals and the
 * operator's own edits), kept next to its saved state so `resume` starts
 * with them: ~/.bot-bottle/state/<identity>/changes.json. Each field is the
 * whole current value, not a delta, so applying it twice changes nothing.
 */

const planRoutes = bottlePlanSchema.shape.egress.shape.routes;

export const changesSchema = z.strictObject({
  /** The egress rules in force. */
  egress: egressFileSchema.optional(),
  /** The credential routes in force, with where each value comes from. */
  routes: planRoutes.optional(),
  /** Dockerfile lines already built into the saved image by a rebuild. */
  imageLines: z.array(z.string()).default([]),
  /** Dockerfile lines approved for the image and not yet built in. */
  pendingLines: z.array(z.string()).default([]),
  /** Rebuild as soon as the bottle is frozen (the controller resumes it), or at its next resume. */
  rebuild: z.enum(['now', 'next-launch']).nullable().default(null),
});
export type BottleChanges = z.infer<typeof changesSchema>;

function changesPath(env: NodeJS.ProcessEnv, identity: string): string {
  checkIdentity(identity);
  return join(stateDir(env), identity, 'changes.json');
}

export function loadChanges(env: NodeJS.ProcessEnv, identity: string): BottleChanges {
  const path = changesPath(env, identity);
  if (!existsSync(path)) return changesSchema.parse({});
  return changesSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}

export function saveChanges(
  env: NodeJS.ProcessEnv,
  identity: string,
  change: (c: BottleChanges) => BottleChanges,
): BottleChanges {
  const next = changesSchema.parse(change(loadChanges(env, identity)));
  const path = changesPath(env, identity);
  mkdirSync(join(stateDir(env), identity), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  return next;
}

/** The plan a resumed bottle launches with: its saved plan with the changes applied. */
export function applyChanges(plan: BottlePlan, c: BottleChanges): BottlePlan {
  const egress = { ...plan.egress };
  if (c.egress !== undefined) {
    egress.allow = c.egress.allow;
    egress.deny = c.egress.deny;
    egress.passthrough = c.egress.passthrough;
    egress.rules = c.egress.rules.map((r) => ({
      host: r.host,
      methods: r.methods ?? null,
      paths: r.paths ?? null,
    }));
  }
  if (c.routes !== undefined) egress.routes = c.routes;
  return { ...plan, egress };
}
