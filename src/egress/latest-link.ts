import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import type { z } from 'zod';
import { messageReader } from './link-protocol.js';

/**
 * The listening end of a link the controller opens through the engine
 * (`exec … link`, relayed here): a unix socket in the sidecar's own tmpfs,
 * mode 0600. The newest connection is the link; it replaces an older one
 * (the controller reconnected). Lines are validated with `schema`; a bad
 * line is reported and skipped, an oversized one drops the connection.
 */

export type LinkEvent = 'connected' | 'disconnected' | 'bad-message';

export interface LatestLink<Out> {
  /** Write one message on the current connection; false when there is none. */
  send(m: Out): boolean;
  up(): boolean;
  close(): void;
}

export function listenLatest<In, Out>(opts: {
  socketPath: string;
  schema: z.ZodType<In>;
  onMessage: (m: In) => void;
  /** The connection is the link now (`send` reaches it). */
  onAttach: () => void;
  /** The link's connection ended without a newer one replacing it. */
  onDetach: () => void;
  onEvent?: (kind: LinkEvent, detail: string) => void;
}): LatestLink<Out> {
  let sock: Socket | undefined;
  let closed = false;
  const up = (): boolean => sock !== undefined && !sock.destroyed;
  const attach = (s: Socket): void => {
    if (closed) {
      s.destroy();
      return;
    }
    const old = sock;
    sock = s;
    old?.destroy();
    s.on('error', () => undefined);
    s.on('close', () => {
      if (sock !== s) return;
      sock = undefined;
      opts.onDetach();
      opts.onEvent?.('disconnected', opts.socketPath);
    });
    s.on(
      'data',
      messageReader(opts.schema, {
        message: opts.onMessage,
        bad: (line) => opts.onEvent?.('bad-message', line.slice(0, 200)),
        tooLong: () => {
          opts.onEvent?.('bad-message', 'line too long');
          s.destroy();
        },
      }),
    );
    opts.onAttach();
    opts.onEvent?.('connected', opts.socketPath);
  };
  // The tmpfs is the container's own: a socket already here is stale.
  rmSync(opts.socketPath, { force: true });
  const server = createServer(attach);
  server.on('error', (e) => opts.onEvent?.('bad-message', `link socket: ${e.message}`));
  server.listen(opts.socketPath, () => {
    chmodSync(opts.socketPath, 0o600);
  });
  return {
    send(m) {
      if (!up() || sock === undefined) return false;
      sock.write(`${JSON.stringify(m)}\n`);
      return true;
    },
    up,
    close() {
      closed = true;
      server.close();
      sock?.destroy();
    },
  };
}
