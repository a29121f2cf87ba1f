import { listenLatest, type LatestLink, type LinkEvent } from '../egress/latest-link.js';
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
  onEvent?: (kind: LinkEvent, detail: string) => void;
}): SuperviseLink {
  const waiting = new Map<string, Waiting>();
  const link: LatestLink<SuperviseSidecarMessage> = listenLatest({
    socketPath: opts.socketPath,
    schema: superviseControllerMessage,
    onMessage: (m) => {
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      w?.resolve({ status: m.status, notes: m.notes });
    },
    // Every call still waiting is asked again: the controller knows it by id.
    onAttach: () => {
      link.send({ t: 'hello' });
      for (const w of waiting.values()) link.send({ t: 'propose', draft: w.draft });
    },
    onDetach: () => undefined,
    ...(opts.onEvent === undefined ? {} : { onEvent: opts.onEvent }),
  });
  const send = (m: SuperviseSidecarMessage): boolean => link.send(m);

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
    connected: () => link.up(),
    close() {
      link.close();
    },
  };
}
