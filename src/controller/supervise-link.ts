import { messageReader } from '../egress/link-protocol.js';
import {
  superviseSidecarMessage,
  type SuperviseControllerMessage,
} from '../supervise/link-protocol.js';
import type { ToolAnswer } from '../supervise/sidecar-link.js';
import { queueAndWait, type QueueWaitOptions } from '../supervise/wait.js';
import type { LinkStream } from './control-server.js';
import type { LinkServer } from './engine-link.js';

/**
 * The controller's end of the supervise link: each call the sidecar sends
 * is queued on the host (where `bot-bottle supervise` answers it) and its
 * answer sent back. A call is waited for once, however often a reconnecting
 * sidecar sends it again; an answer that finds the link down is kept and
 * given when the sidecar asks again.
 */

export interface SuperviseRelay extends LinkServer {
  close(): Promise<void>;
}

interface Call {
  abort: AbortController;
  answer?: ToolAnswer;
  done: Promise<void>;
}

export function superviseRelay(
  o: QueueWaitOptions & { onBad?: (what: string) => void },
): SuperviseRelay {
  const calls = new Map<string, Call>();
  let current: LinkStream | undefined;
  const deliver = (id: string, a: ToolAnswer): void => {
    const m: SuperviseControllerMessage = { t: 'answer', id, status: a.status, notes: a.notes };
    current?.output.write(`${JSON.stringify(m)}\n`);
  };
  const start = (draft: Parameters<typeof queueAndWait>[1]): Call => {
    const abort = new AbortController();
    const call: Call = { abort, done: Promise.resolve() };
    call.done = queueAndWait(o, draft, abort.signal).then(
      (a) => {
        call.answer = a;
        deliver(draft.id, a);
      },
      (e: unknown) => {
        o.onBad?.(
          `queueing proposal ${draft.id} failed: ${e instanceof Error ? e.message : String(e)}`,
        );
      },
    );
    return call;
  };
  return {
    attach(stream) {
      current = stream;
      stream.input.on(
        'data',
        messageReader(superviseSidecarMessage, {
          message: (m) => {
            if (m.t === 'hello') return;
            if (m.t === 'withdraw') {
              calls.get(m.id)?.abort.abort();
              return;
            }
            const known = calls.get(m.draft.id);
            if (known === undefined) calls.set(m.draft.id, start(m.draft));
            else if (known.answer !== undefined) deliver(m.draft.id, known.answer);
          },
          bad: () => o.onBad?.('ignored a malformed message from the supervise sidecar'),
          tooLong: () => {
            o.onBad?.('the supervise sidecar sent an oversized line; dropping its link');
            stream.destroy();
          },
        }),
      );
      stream.input.on('error', () => undefined);
      stream.output.on('error', () => undefined);
      return new Promise<void>((resolve) => {
        const end = (): void => {
          if (current === stream) current = undefined;
          resolve();
        };
        stream.input.on('end', end);
        stream.input.on('close', end);
      });
    },
    async close() {
      current?.destroy();
      for (const c of calls.values()) if (c.answer === undefined) c.abort.abort();
      await Promise.all([...calls.values()].map((c) => c.done));
    },
  };
}
