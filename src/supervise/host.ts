import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { EgressPolicyConfig } from '../egress/config.js';
import { UsageError } from '../errors.js';
import type { ProviderName } from '../manifest/schema.js';
import { parseDuration } from '../util/duration.js';
import { renderDockerfile, renderEgressFile, renderRoutesFile } from './files.js';
import { currentConfigHostDir, queueDir, SUPERVISE_URL } from './paths.js';

/**
 * Host-side setup of a bottle's supervise plane: the queue directory the
 * sidecar writes into, the current-config files the agent reads, and each
 * CLI's registration of the MCP server.
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

/** Create the queue (owned by the sidecar's user) and the current-config directory. */
export function prepareSuperviseDirs(
  env: NodeJS.ProcessEnv,
  slug: string,
  sidecar: { uid: number; gid: number },
): SuperviseDirs {
  const q = queueDir(env, slug);
  mkdirSync(q, { recursive: true, mode: 0o700 });
  chmodSync(q, 0o700);
  if (process.getuid?.() === 0) chownSync(q, sidecar.uid, sidecar.gid);
  const c = currentConfigHostDir(env, slug);
  // Readable by the agent's user through the bind mount; nothing here is secret.
  mkdirSync(c, { recursive: true, mode: 0o755 });
  chmodSync(c, 0o755);
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

/** Refresh what /etc/bot-bottle/current-config/ shows (whole files, replaced atomically). */
export function writeCurrentConfig(env: NodeJS.ProcessEnv, slug: string, c: CurrentConfig): void {
  const dir = currentConfigHostDir(env, slug);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (c.policy !== undefined) {
    writePublic(join(dir, 'egress.yaml'), renderEgressFile(c.policy));
    writePublic(join(dir, 'routes.yaml'), renderRoutesFile(c.policy));
  }
  if (c.image !== undefined) {
    writePublic(join(dir, 'Dockerfile'), renderDockerfile(c.image.lines, c.image.apt));
  }
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
 * bottle keeps its home). pi has no MCP client: nothing to register.
 */
export function mcpRegistration(
  provider: ProviderName,
): { remove: string[]; add: string[] } | undefined {
  switch (provider) {
    case 'claude':
      return {
        remove: ['claude', 'mcp', 'remove', '--scope', 'user', 'supervise'],
        add: [
          'claude',
          'mcp',
          'add',
          '--scope',
          'user',
          '--transport',
          'http',
          'supervise',
          SUPERVISE_URL,
        ],
      };
    case 'codex':
      return {
        remove: ['codex', 'mcp', 'remove', 'supervise'],
        add: ['codex', 'mcp', 'add', 'supervise', '--url', SUPERVISE_URL],
      };
    case 'pi':
      return undefined;
  }
}
