import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { botBottleHome } from '../paths.js';
import type { BottlePlan } from '../plan/schema.js';

/**
 * Saved bottles: an ended or frozen session keeps its agent container's
 * filesystem as an image and its metadata under
 * `~/.bot-bottle/state/<identity>/bottle.json`, which `resume` reads.
 */

export interface SavedBottle {
  identity: string;
  slug: string;
  label: string;
  agent: string;
  provider: string;
  bottles: string[];
  color: string | null;
  /** Image holding the agent container's filesystem. */
  image: string;
  /** running: launched and not yet ended (or its controller crashed). */
  reason: 'running' | 'ended' | 'frozen';
  savedAt: string;
  startedAt: string;
  /** Host repository and the commit the workspace was copied at. */
  repo: string | null;
  baseCommit: string | null;
  branch: string | null;
  exitCode: number | null;
  /** The plan it was launched with (no secret values). */
  plan: BottlePlan;
}

const IDENTITY_RE = /^[a-z][a-z0-9-]{0,80}$/;

export function checkIdentity(identity: string): void {
  if (!IDENTITY_RE.test(identity)) {
    throw new UsageError(
      `'${identity}' is not a bottle identity (lowercase letters, digits and dashes)`,
      '`bot-bottle ps --all` lists saved bottles',
    );
  }
}

export function stateDir(env: NodeJS.ProcessEnv): string {
  return join(botBottleHome(env), 'state');
}

/** `<slug>-<yyyymmdd>-<hhmmss>`: sortable and readable in `ps --all`. */
export function newIdentity(slug: string, at: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const d = `${at.getUTCFullYear()}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}`;
  const t = `${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}`;
  return `${slug}-${d}-${t}`;
}

export function saveBottle(env: NodeJS.ProcessEnv, saved: SavedBottle): string {
  checkIdentity(saved.identity);
  const dir = join(stateDir(env), saved.identity);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'bottle.json');
  writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  return file;
}

export function loadSaved(env: NodeJS.ProcessEnv, identity: string): SavedBottle | undefined {
  checkIdentity(identity);
  const file = join(stateDir(env), identity, 'bottle.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as SavedBottle;
}

export function listSaved(env: NodeJS.ProcessEnv): SavedBottle[] {
  const dir = stateDir(env);
  if (!existsSync(dir)) return [];
  const out: SavedBottle[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!IDENTITY_RE.test(name)) continue;
    const s = loadSaved(env, name);
    if (s !== undefined) out.push(s);
  }
  return out;
}

export function removeSavedState(env: NodeJS.ProcessEnv, identity: string): void {
  checkIdentity(identity);
  rmSync(join(stateDir(env), identity), { recursive: true, force: true });
}
