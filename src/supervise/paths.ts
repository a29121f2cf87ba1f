import { join } from 'node:path';
import { botBottleHome } from '../paths.js';

/**
 * Where the supervise plane keeps its files on the host. The queue and the
 * current-config directories are bind-mounted into the bottle; the audit
 * log never is.
 */

/** The MCP sidecar's name on the bottle's internal network, and its port. */
export const SUPERVISE_HOST = 'supervise';
export const SUPERVISE_PORT = 9100;
export const SUPERVISE_URL = `http://${SUPERVISE_HOST}:${SUPERVISE_PORT}/mcp`;

/** Inside the supervise sidecar: the queue (read-write) and the config in force (read-only). */
export const SIDECAR_QUEUE_DIR = '/run/supervise/queue';
/** The config in force, read-only, in the agent container and the supervise sidecar. */
export const CURRENT_CONFIG_DIR = '/etc/bot-bottle/current-config';

export function queueRoot(env: NodeJS.ProcessEnv): string {
  return join(botBottleHome(env), 'queue');
}

export function queueDir(env: NodeJS.ProcessEnv, slug: string): string {
  return join(queueRoot(env), slug);
}

export function auditDir(env: NodeJS.ProcessEnv): string {
  return join(botBottleHome(env), 'audit');
}

export function auditPath(env: NodeJS.ProcessEnv, slug: string): string {
  return join(auditDir(env), `${slug}.jsonl`);
}

/** The host copy of what `/etc/bot-bottle/current-config/` shows inside the bottle. */
export function currentConfigHostDir(env: NodeJS.ProcessEnv, slug: string): string {
  return join(botBottleHome(env), 'run', slug, 'current-config');
}
