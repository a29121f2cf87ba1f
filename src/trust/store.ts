import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { botBottleHome } from '../paths.js';

/**
 * Trust records: `~/.bot-bottle/trust/<key>.json`, one per repository root,
 * holding the digest of the repository layer the user trusted and its entry
 * list (so a later change can be shown file by file). The home directory is
 * the user's own: nothing from a repository or a bottle writes here.
 */

const entrySchema = z.strictObject({
  path: z.string(),
  kind: z.enum(['file', 'dir', 'link']),
  sha256: z.string().nullable(),
});

export const trustRecordSchema = z.strictObject({
  version: z.literal(1),
  root: z.string(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  trustedAt: z.string(),
  entries: z.array(entrySchema),
});
export type TrustRecord = z.infer<typeof trustRecordSchema>;

export function trustDir(env: NodeJS.ProcessEnv): string {
  return join(botBottleHome(env), 'trust');
}

export function trustRecordPath(env: NodeJS.ProcessEnv, root: string): string {
  const key = createHash('sha256').update(root).digest('hex').slice(0, 32);
  return join(trustDir(env), `${key}.json`);
}

/**
 * The record for `root`, or why there is none usable. A record that cannot
 * be parsed, or that names another root, counts as no trust (fail closed).
 */
export function readTrustRecord(
  env: NodeJS.ProcessEnv,
  root: string,
): { record: TrustRecord } | { record: undefined; problem: string | null } {
  const path = trustRecordPath(env, root);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      record: undefined,
      problem: code === 'ENOENT' ? null : `${path}: cannot be read (${code ?? 'error'})`,
    };
  }
  try {
    const record = trustRecordSchema.parse(JSON.parse(text));
    if (record.root !== root)
      return { record: undefined, problem: `${path} is for ${record.root}` };
    return { record };
  } catch {
    return { record: undefined, problem: `${path} is not a trust record; trust the layer again` };
  }
}

export function writeTrustRecord(env: NodeJS.ProcessEnv, record: TrustRecord): string {
  const dir = trustDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = trustRecordPath(env, record.root);
  // Write then rename: a reader sees the old record or the new one, never half of one.
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(trustRecordSchema.parse(record), null, 2)}\n`, {
    mode: 0o600,
  });
  renameSync(tmp, path);
  return path;
}

/** Remove the record; true when there was one. */
export function removeTrustRecord(env: NodeJS.ProcessEnv, root: string): boolean {
  try {
    rmSync(trustRecordPath(env, root));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
