import { join } from 'node:path';
import { botBottleHome } from '../paths.js';

/**
 * Where the supervise plane keeps its files. The queue, the host copy of
 * the current config and the audit log live on the host only; the bottle
 * reaches the queue through the controller's link and gets the current
 * config written into its containers through the engine.
 */

/** The MCP sidecar's name on the bottle's internal network, and its port. */
export const SUPERVISE_HOST = 'supervise';
export const SUPERVISE_PORT = 9100;
export const SUPERVISE_URL = `http://${SUPERVISE_HOST}:${SUPERVISE_PORT}/mcp`;

/** Inside the supervise sidecar: its tmpfs, holding the controller link's socket. */
export const SUPERVISE_RUN_DIR = '/run/supervise';
/** The config in force, root-owned and read-only to the agent, in the agent container. */
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
