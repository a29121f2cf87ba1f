import { join } from 'node:path';
import { relayStdio } from '../egress/link-relay.js';
import { SUPERVISE_PORT, SUPERVISE_RUN_DIR } from './paths.js';
import { createSuperviseServer } from './server.js';
import { listenSupervise } from './sidecar-link.js';

/**
 * Entry point of the supervise sidecar: the MCP server on the bottle's
 * internal network. It holds no queue and no secret: each call goes to the
 * controller over the link the controller opens through the engine
 * (`exec ... link`, relayed to a socket in this container's tmpfs).
 */

const LINK_SOCKET = join(
  process.env.BOT_BOTTLE_SUPERVISE_RUN_DIR ?? SUPERVISE_RUN_DIR,
  'link.sock',
);
const slug = process.env.BOT_BOTTLE_SLUG ?? '';
const timeoutMs = Number(process.env.BOT_BOTTLE_SUPERVISE_TIMEOUT_MS ?? 30 * 60_000);

function stamp(entry: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
}

function serve(): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(slug) || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    process.stderr.write(
      'supervise: BOT_BOTTLE_SLUG and BOT_BOTTLE_SUPERVISE_TIMEOUT_MS must be set\n',
    );
    process.exit(2);
  }
  const link = listenSupervise({
    socketPath: LINK_SOCKET,
    onEvent: (kind, detail) => {
      stamp({ kind: 'controller', event: kind, detail });
    },
  });
  const server = createSuperviseServer({
    submit: (draft, signal) => link.submit(draft, timeoutMs, signal),
    log: stamp,
  });
  server.listen(Number(process.env.BOT_BOTTLE_SUPERVISE_PORT ?? SUPERVISE_PORT), '0.0.0.0', () => {
    stamp({ kind: 'ready', port: SUPERVISE_PORT, timeoutMs });
  });
  const stop = (): void => {
    server.close();
    link.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[2] === 'link') {
  void relayStdio(LINK_SOCKET).then((code) => process.exit(code));
} else {
  serve();
}
