import { chmodSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, ContainerFile } from '../backend/backend.js';
import type { EgressPolicyConfig } from '../egress/config.js';
import { UsageError } from '../errors.js';
import type { McpRegistration } from '../providers/provider.js';
import { providerOf, type ProviderName } from '../providers/registry.js';
import { parseDuration } from '../util/duration.js';
import { renderDockerfile, renderEgressFile, renderRoutesFile } from './files.js';
import { CURRENT_CONFIG_DIR, currentConfigHostDir, queueDir, SUPERVISE_URL } from './paths.js';

/**
 * Host-side setup of a bottle's supervise plane: the queue directory the
 * controller keeps for the sidecar, the current-config files the agent
 * reads (a host copy, written into the agent container through the
 * engine), and each CLI's registration of the MCP server.
 */

export const DEFAULT_SUPERVISE_TIMEOUT_MS = 30 * 60_000;

/** How long a tool call waits for the operator: BOT_BOTTLE_SUPERVISE_TIMEOUT (e.g. 90s, 30m, 2h). */
export function superviseTimeoutMs(env: NodeJS.ProcessEnv): number {
  const raw = env.BOT_BOTTLE_SUPERVISE_TIMEOUT;
  if (raw === undefined || raw === '') return DEFAULT_SUPERVISE_TIMEOUT_MS;
  const ms = parseDuration(raw);
  if (ms === undefined) {
    throw new UsageError(
      `BOT_BOTTLE_SUPERVISE_TIMEOUT: expected a duration such as 90s, 30m or 2h, got ${JSON.stringify(raw)}`,
    );
  }
  return ms;
}

export interface SuperviseDirs {
  queueDir: string;
  configDir: string;
}

/** Create the queue and the host copy of the current config (the operator's own). */
export function prepareSuperviseDirs(env: NodeJS.ProcessEnv, slug: string): SuperviseDirs {
  const q = queueDir(env, slug);
  mkdirSync(q, { recursive: true, mode: 0o700 });
  chmodSync(q, 0o700);
  const c = currentConfigHostDir(env, slug);
  mkdirSync(c, { recursive: true, mode: 0o700 });
  return { queueDir: q, configDir: c };
}

export interface CurrentConfig {
  policy?: EgressPolicyConfig;
  image?: { lines: readonly string[]; apt: readonly string[] };
}

function writePublic(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, path);
}

/** The files of /etc/bot-bottle/current-config/ that `c` determines. */
export function currentConfigFiles(c: CurrentConfig): ContainerFile[] {
  const files: ContainerFile[] = [];
  if (c.policy !== undefined) {
    files.push({ name: 'egress.yaml', content: renderEgressFile(c.policy), mode: 0o644 });
    files.push({ name: 'routes.yaml', content: renderRoutesFile(c.policy), mode: 0o644 });
  }
  if (c.image !== undefined) {
    files.push({
      name: 'Dockerfile',
      content: renderDockerfile(c.image.lines, c.image.apt),
      mode: 0o644,
    });
  }
  return files;
}

/** Refresh the host copy (whole files, replaced atomically); returns what it wrote. */
export function writeCurrentConfig(
  env: NodeJS.ProcessEnv,
  slug: string,
  c: CurrentConfig,
): ContainerFile[] {
  const dir = currentConfigHostDir(env, slug);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = currentConfigFiles(c);
  for (const f of files) writePublic(join(dir, f.name), f.content);
  return files;
}

/**
 * Refresh what the agent reads at /etc/bot-bottle/current-config/: the
 * host copy (what proposals are judged against), then the same files
 * written into the agent container through the engine.
 */
export async function publishCurrentConfig(
  backend: Backend,
  env: NodeJS.ProcessEnv,
  slug: string,
  c: CurrentConfig,
): Promise<void> {
  const files = writeCurrentConfig(env, slug, c);
  if (files.length > 0) await backend.writeFiles(slug, 'agent', CURRENT_CONFIG_DIR, files);
}

/** The text of a current-config file on the host ('' when there is none). */
export function readCurrentFile(env: NodeJS.ProcessEnv, slug: string, file: string): string {
  try {
    return readFileSync(join(currentConfigHostDir(env, slug), file), 'utf8');
  } catch {
    return '';
  }
}

/**
 * Commands (run as the agent's user) that register the supervise server in
 * the CLI's own config, after removing a stale registration (a resumed
 * bottle keeps its home). Undefined: the CLI has no MCP client (pi).
 */
export function mcpRegistration(provider: ProviderName): McpRegistration | undefined {
  return providerOf(provider).mcpRegistration(SUPERVISE_URL);
}
