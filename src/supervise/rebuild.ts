import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { loadSaved, saveBottle, type SavedBottle } from '../controller/state.js';
import { botBottleHome } from '../paths.js';
import { GUEST_USER } from '../providers/registry.js';
import { loadChanges, saveChanges } from './changes.js';

/**
 * Approved capability changes reach a saved bottle by a rebuild: a new
 * image FROM the saved one with the approved Dockerfile lines, so the
 * workspace and the agent CLI's session (both in the saved filesystem) stay.
 */

export interface Rebuilt extends SavedBottle {
  /** The Dockerfile lines built in by this rebuild. */
  lines: string[];
}

/** Proxy variables committed with the container would send the build's RUN steps to a bottle's proxy. */
const PROXY_VARS = [
  'HTTPS_PROXY',
  'HTTP_PROXY',
  'https_proxy',
  'http_proxy',
  'NO_PROXY',
  'no_proxy',
];

export function rebuildDockerfile(image: string, lines: readonly string[]): string {
  return [
    `FROM ${image}`,
    'USER root',
    `ENV ${PROXY_VARS.map((v) => `${v}=`).join(' ')}`,
    ...lines,
    `USER ${GUEST_USER}`,
    '',
  ].join('\n');
}

async function rebuildSaved(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  saved: SavedBottle,
  lines: string[],
  say: (line: string) => void,
): Promise<Rebuilt> {
  say(
    `rebuilding ${saved.identity} with ${lines.length} approved Dockerfile line(s); the workspace and session are kept`,
  );
  const built = await backend.images.ensure(
    {
      name: 'bot-bottle-rebuild',
      base: saved.image,
      dockerfile: rebuildDockerfile(saved.image, lines),
      files: {},
    },
    { logDir: join(botBottleHome(env), 'logs'), onProgress: say },
  );
  // The saved name now points at the rebuilt image (a child of the old one).
  await backend.images.tag(built.tag, saved.image);
  await backend.images.remove(built.tag);
  saveChanges(env, saved.identity, (c) => ({
    ...c,
    imageLines: [...c.imageLines, ...lines],
    pendingLines: [],
    rebuild: null,
  }));
  const next = { ...saved, savedAt: new Date().toISOString() };
  saveBottle(env, next);
  return { ...next, lines };
}

/** After a freeze: rebuild when an operator asked for "rebuild now". */
export async function rebuildIfRequested(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  identity: string,
  say: (line: string) => void,
): Promise<Rebuilt | undefined> {
  const c = loadChanges(env, identity);
  const saved = loadSaved(env, identity);
  if (c.rebuild !== 'now' || c.pendingLines.length === 0 || saved?.reason !== 'frozen') {
    return undefined;
  }
  return rebuildSaved(backend, env, saved, c.pendingLines, say);
}

/** Before a resume: build in approved lines that are still pending. */
export async function rebuildPending(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  saved: SavedBottle,
  say: (line: string) => void,
): Promise<SavedBottle> {
  const c = loadChanges(env, saved.identity);
  if (c.pendingLines.length === 0) return saved;
  return rebuildSaved(backend, env, saved, c.pendingLines, say);
}

/** What a headless agent is told when its rebuilt bottle continues. */
export function continuePrompt(lines: readonly string[]): string {
  return `The bottle was rebuilt with the capability you asked for (${lines.join('; ')}). Continue the task.`;
}
