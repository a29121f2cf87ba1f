import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, TeardownReport } from '../backend/backend.js';
import { botBottleHome } from '../paths.js';

/**
 * The egress audit log outlives its bottle: before a teardown the sidecar's
 * log is copied to ~/.bot-bottle/logs/egress/<identity>/, one file per
 * sidecar (a resumed bottle gets a new one), so `bot-bottle egress log`
 * still answers for ended and frozen bottles.
 */

export function egressArchiveDir(env: NodeJS.ProcessEnv, identity: string): string {
  return join(botBottleHome(env), 'logs', 'egress', identity);
}

export async function archiveEgressLog(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  slug: string,
  identity: string,
): Promise<string | undefined> {
  const log = await backend.egressLogText(slug);
  if (log === undefined) return undefined;
  const dir = egressArchiveDir(env, identity);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${log.sidecarId}.jsonl`);
  try {
    // 'wx': a second archiver of the same sidecar (freeze racing the controller) leaves it be.
    writeFileSync(file, log.text, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return file;
}

/** Archive the egress log (best effort, reported), then remove the bottle's containers and networks. */
export async function teardownBottle(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  slug: string,
  identity: string,
  warn: (line: string) => void,
): Promise<TeardownReport> {
  try {
    await archiveEgressLog(backend, env, slug, identity);
  } catch (e) {
    warn(`could not keep the egress log of ${slug}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return backend.teardown(slug);
}

/** Archived log lines of a bottle identity, oldest sidecar first; undefined when none. */
export function readArchivedEgressLog(
  env: NodeJS.ProcessEnv,
  identity: string,
): string[] | undefined {
  const dir = egressArchiveDir(env, identity);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return undefined;
  }
  files.sort((a, b) => statSync(join(dir, a)).mtimeMs - statSync(join(dir, b)).mtimeMs);
  return files.flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter((l) => l !== ''),
  );
}

/** Identities with an archived egress log, newest first. */
export function archivedIdentities(env: NodeJS.ProcessEnv): string[] {
  try {
    const root = join(botBottleHome(env), 'logs', 'egress');
    return readdirSync(root).sort(
      (a, b) => statSync(join(root, b)).mtimeMs - statSync(join(root, a)).mtimeMs,
    );
  } catch {
    return [];
  }
}
