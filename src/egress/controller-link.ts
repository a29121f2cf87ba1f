import type { Admit, Refusal, Ticket } from './admission.js';
import { listenLatest, type LatestLink, type LinkEvent } from './latest-link.js';
import {
  controllerMessageSchema,
  type ControllerMessage,
  type SidecarMessage,
} from './link-protocol.js';
import type { Usage } from './meter.js';

/**
 * The sidecar's end of the controller link. The sidecar listens on a unix
 * socket in its own tmpfs; the controller reaches it through the engine
 * (`exec` of the sidecar's `link` relay, whose stdio it holds), so no host
 * path is shared and any engine works. The newest connection is the link.
 * While there is none every admission is refused at once (metered calls
 * fail closed); usage read meanwhile is queued and sent when it is back.
 */

export interface ControllerLink {
  admit: Admit;
  /** Reports secrets redacted from one LLM request (queued while the link is down). */
  redacted(counts: Readonly<Record<string, number>>): void;
  connected(): boolean;
  close(): void;
}

const ADMIT_TIMEOUT_MS = 10_000;
const QUEUE_LIMIT = 10_000;

export function listenController(opts: {
  socketPath: string;
  slug: string;
  onEvent?: (kind: LinkEvent, detail: string) => void;
}): ControllerLink {
  let nextId = 1;
  const pending = new Map<number, (m: ControllerMessage | undefined) => void>();
  const queued: SidecarMessage[] = [];
  const dropPending = (): void => {
    for (const resolve of pending.values()) resolve(undefined);
    pending.clear();
  };
  // A new relay replaces the old one (the controller reconnected); the
  // old one's admissions die with it, as a dropped connection's would.
  const link: LatestLink<SidecarMessage> = listenLatest({
    socketPath: opts.socketPath,
    schema: controllerMessageSchema,
    onMessage: (m) => {
      const resolve = pending.get(m.id);
      pending.delete(m.id);
      resolve?.(m);
    },
    onAttach: () => {
      dropPending();
      link.send({ t: 'hello', slug: opts.slug });
      for (const m of queued.splice(0)) link.send(m);
    },
    onDetach: dropPending,
    ...(opts.onEvent === undefined ? {} : { onEvent: opts.onEvent }),
  });
  const up = (): boolean => link.up();
  const send = (m: SidecarMessage): boolean => link.send(m);
  const sendOrQueue = (m: SidecarMessage): void => {
    if (send(m)) return;
    // A reservation dies with the connection that made it; only usage is worth keeping.
    if ((m.t === 'usage' || m.t === 'redacted') && queued.length < QUEUE_LIMIT) queued.push(m);
  };

  const unavailable: Refusal = {
    kind: 'unavailable',
    message:
      "the bottle's controller (the bot-bottle process that launched it; in a cluster, the proxy pod's controller container) is not reachable, " +
      'so metered API calls are refused until it is back',
  };

  const admit: Admit = (req) => {
    if (!up()) return Promise.resolve({ ok: false, refusal: unavailable });
    const id = nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve({ ok: false, refusal: unavailable });
      }, ADMIT_TIMEOUT_MS);
      pending.set(id, (m) => {
        clearTimeout(timer);
        if (m === undefined) {
          resolve({ ok: false, refusal: unavailable });
        } else if (m.ok) {
          let settled = false;
          let status: number | undefined;
          const ticket: Ticket = {
            answered(s: number) {
              status ??= s;
            },
            usage(u: Usage) {
              if (settled) {
                // A second usage on one call (never expected): count it, hold nothing.
                sendOrQueue({ t: 'usage', id: null, usage: u });
                return;
              }
              settled = true;
              sendOrQueue({ t: 'usage', id, usage: u });
            },
            done() {
              if (settled) return;
              settled = true;
              send({ t: 'release', id, ...(status === undefined ? {} : { status }) });
            },
          };
          resolve({ ok: true, ticket, cap: m.cap ?? null });
        } else {
          resolve({
            ok: false,
            refusal: {
              kind: m.kind,
              message: m.message,
              ...(m.retryAfter === undefined ? {} : { retryAfter: m.retryAfter }),
            },
          });
        }
      });
      const c = req.capping;
      const asked: SidecarMessage = {
        t: 'admit',
        id,
        api: req.api,
        host: req.host,
        estimate: req.estimate,
        ...(c === undefined ? {} : { input: c.input, cap: c.cap, minCap: c.minCap }),
      };
      if (!send(asked)) {
        pending.delete(id);
        clearTimeout(timer);
        resolve({ ok: false, refusal: unavailable });
      }
    });
  };

  return {
    admit,
    redacted(counts) {
      if (Object.keys(counts).length > 0) sendOrQueue({ t: 'redacted', counts: { ...counts } });
    },
    connected: up,
    close() {
      link.close();
      dropPending();
    },
  };
}
