import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import lockfile from 'proper-lockfile';
import { z } from 'zod';
import { auditPath } from './paths.js';

/**
 * The append-only audit log of access decisions, one JSON line per
 * decision, per bottle: ~/.bot-bottle/audit/<slug>.jsonl. Writers take an
 * exclusive lock (a lock directory next to the log, so it works across
 * processes) and append one whole line; nothing ever rewrites the file.
 */

export const COMPONENTS = ['egress', 'routes', 'capability'] as const;
export type Component = (typeof COMPONENTS)[number];

export const AUDIT_ACTIONS = [
  'approved',
  'modified',
  'rejected',
  'timed-out',
  'operator-edit',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const auditEntrySchema = z.strictObject({
  timestamp: z.iso.datetime(),
  bottleSlug: z.string(),
  identity: z.string().nullable(),
  component: z.enum(COMPONENTS),
  action: z.enum(AUDIT_ACTIONS),
  /** The proposal answered; null for an operator's own edit. */
  proposalId: z.string().nullable(),
  operator: z.string(),
  notes: z.string(),
  justification: z.string(),
  /** Unified diff of what was applied (current -> final). */
  diff: z.string(),
  /** The proposal was made against a config that changed before the answer. */
  stale: z.boolean(),
  /** How the change took effect: 'run' (live, kept by resume), 'bottle-file', 'rebuild-now', 'next-launch', or 'none'. */
  applied: z.string(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

export function operatorName(env: NodeJS.ProcessEnv): string {
  try {
    return env.USER ?? userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** Append one entry under the log's lock. */
export async function appendAudit(env: NodeJS.ProcessEnv, entry: AuditEntry): Promise<string> {
  const path = auditPath(env, entry.bottleSlug);
  const line = `${JSON.stringify(auditEntrySchema.parse(entry))}\n`;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // The lock needs an existing file; creating it is itself append-safe.
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  const release = await lockfile.lock(path, {
    realpath: false,
    stale: 10_000,
    retries: { retries: 200, minTimeout: 5, maxTimeout: 50, randomize: true },
  });
  try {
    const fd = openSync(path, 'a', 0o600);
    try {
      writeSync(fd, line);
    } finally {
      closeSync(fd);
    }
  } finally {
    await release();
  }
  return path;
}

export interface AuditRead {
  entries: AuditEntry[];
  /** Line numbers (1-based) that did not parse as entries. */
  badLines: number[];
}

export function readAudit(env: NodeJS.ProcessEnv, slug: string): AuditRead {
  const path = auditPath(env, slug);
  if (!existsSync(path)) return { entries: [], badLines: [] };
  const entries: AuditEntry[] = [];
  const badLines: number[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line === '') return;
      try {
        const r = auditEntrySchema.safeParse(JSON.parse(line));
        if (r.success) entries.push(r.data);
        else badLines.push(i + 1);
      } catch {
        badLines.push(i + 1);
      }
    });
  return { entries, badLines };
}
