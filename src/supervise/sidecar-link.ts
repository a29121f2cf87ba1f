import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { messageReader } from '../egress/link-protocol.js';
import {
  superviseControllerMessage,
  type ProposalDraft,
  type SuperviseSidecarMessage,
} from './link-protocol.js';
import type { Status } from './queue.js';

/**
 * The supervise sidecar's end of its link to the controller, which holds
 * the queue on the host. Like the egress link, the sidecar listens on a
 * socket in its tmpfs and the controller connects through the engine's
 * `exec`; the newest connection is the link. Every call still waiting is
 * sent again on each new connection (the controller knows it by id), so a
 * dropped link loses no proposal. Nothing is ever approved here.
 */

export interface ToolAnswer {
  status: Status;
  notes: string;
}

export interface SuperviseLink {
  submit(draft: ProposalDraft, timeoutMs: number, signal: AbortSignal): Promise<ToolAnswer>;
  connected(): boolean;
  close(): void;
}

/** Past the operator timeout, how long a call waits for a link that is down before giving up. */
const LINK_GRACE_MS = 30_000;

interface Waiting {
  draft: ProposalDraft;
  resolve: (a: ToolAnswer) => void;
}

export function listenSupervise(opts: {
  socketPath: string;
  onEvent?: (kind: string, detail: string) => void;
}): SuperviseLink {
  let sock: Socket | undefined;
  const waiting = new Map<string, Waiting>();
  const up = (): boolean => sock !== undefined && !sock.destroyed;
  const send = (m: SuperviseSidecarMessage): boolean => {
    if (!up() || sock === undefined) return false;
    sock.write(`${JSON.stringify(m)}\n`);
    return true;
  };

  const attach = (s: Socket): void => {
    if (sock !== undefined) sock.destroy();
    sock = s;
    send({ t: 'hello' });
    for (const w of waiting.values()) send({ t: 'propose', draft: w.draft });
    opts.onEvent?.('connected', opts.socketPath);
    s.on(
      'data',
      messageReader(superviseControllerMessage, {
        message: (m) => {
          const w = waiting.get(m.id);
          waiting.delete(m.id);
          w?.resolve({ status: m.status, notes: m.notes });
        },
        bad: (line) => opts.onEvent?.('bad-message', line.slice(0, 200)),
        tooLong: () => {
          opts.onEvent?.('bad-message', 'line too long');
          s.destroy();
        },
      }),
    );
    s.on('error', () => undefined);
    s.on('close', () => {
      if (sock !== s) return;
      sock = undefined;
      opts.onEvent?.('disconnected', opts.socketPath);
    });
  };
  rmSync(opts.socketPath, { force: true });
  const server = createServer(attach);
  server.on('error', (e) => opts.onEvent?.('error', e.message));
  server.listen(opts.socketPath, () => {
    chmodSync(opts.socketPath, 0o600);
  });

  return {
    submit(draft, timeoutMs, signal) {
      return new Promise<ToolAnswer>((resolve) => {
        const finish = (a: ToolAnswer): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', abort);
          waiting.delete(draft.id);
          resolve(a);
        };
        // The controller times a call out; this only ends one whose link never came back.
        const timer = setTimeout(() => {
          finish({
            status: 'timed-out',
            notes:
              "the operator's queue could not be reached (the bottle's controller is gone); continue without it",
          });
        }, timeoutMs + LINK_GRACE_MS);
        const abort = (): void => {
          // The agent hung up: nobody is left to answer.
          send({ t: 'withdraw', id: draft.id });
          finish({ status: 'timed-out', notes: 'the request was cancelled' });
        };
        if (signal.aborted) {
          finish({ status: 'timed-out', notes: 'the request was cancelled' });
          return;
        }
        waiting.set(draft.id, { draft, resolve: finish });
        signal.addEventListener('abort', abort, { once: true });
        send({ t: 'propose', draft });
      });
    },
    connected: up,
    close() {
      server.close();
      sock?.destroy();
    },
  };
}
