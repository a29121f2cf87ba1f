import { CURRENT_CONFIG_DIR, SIDECAR_QUEUE_DIR, SUPERVISE_PORT } from './paths.js';
import { createSuperviseServer } from './server.js';

/**
 * Entry point of the supervise sidecar: the MCP server on the bottle's
 * internal network. Its queue directory is the host's
 * ~/.bot-bottle/queue/<slug>/, bind-mounted; it holds no secret.
 */

const slug = process.env.BOT_BOTTLE_SLUG ?? '';
const timeoutMs = Number(process.env.BOT_BOTTLE_SUPERVISE_TIMEOUT_MS ?? 30 * 60_000);

function stamp(entry: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
}

if (!/^[a-z0-9][a-z0-9-]*$/.test(slug) || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
  process.stderr.write(
    'supervise: BOT_BOTTLE_SLUG and BOT_BOTTLE_SUPERVISE_TIMEOUT_MS must be set\n',
  );
  process.exit(2);
}

const server = createSuperviseServer({
  slug,
  queueDir: process.env.BOT_BOTTLE_QUEUE_DIR ?? SIDECAR_QUEUE_DIR,
  currentConfigDir: process.env.BOT_BOTTLE_CURRENT_CONFIG_DIR ?? CURRENT_CONFIG_DIR,
  timeoutMs,
  log: stamp,
});
server.listen(Number(process.env.BOT_BOTTLE_SUPERVISE_PORT ?? SUPERVISE_PORT), '0.0.0.0', () => {
  stamp({ kind: 'ready', port: SUPERVISE_PORT, timeoutMs });
});
const stop = (): void => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
