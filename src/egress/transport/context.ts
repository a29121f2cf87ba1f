import type { AuditEntry } from '../audit.js';
import type { Ticket } from '../admission.js';
import { createMeter, type Meter, type MeteredApi } from '../meter.js';
import type { ProxyOptions, ProxyState, Target } from '../types.js';

/** What every transport module shares: the options, the audit log, meters and the TLS name seen. */
export interface ProxyContext {
  opts: ProxyOptions;
  state: () => ProxyState;
  /** One audit line; `started` gives its duration. */
  entry: (
    kind: AuditEntry['kind'],
    t: { host: string; port: number },
    extra: Partial<AuditEntry> & Pick<AuditEntry, 'rule' | 'verdict' | 'status'>,
    started: number,
  ) => void;
  meterFor: (
    api: MeteredApi,
    host: string,
    format: 'sse' | 'json' | 'ws',
    encoding: string | undefined,
    ticket: Ticket,
  ) => Meter;
  /** TLS server names sent by the agent, per intercepted connection. */
  servernames: WeakMap<object, string>;
}

export function createContext(opts: ProxyOptions): ProxyContext {
  const slug = (): string => {
    try {
      return opts.state().policy.slug;
    } catch {
      return '';
    }
  };
  return {
    opts,
    state: opts.state,
    servernames: new WeakMap(),
    entry(kind, t, extra, started) {
      opts.log({
        at: new Date().toISOString(),
        slug: slug(),
        kind,
        method: 'CONNECT',
        host: t.host,
        port: t.port,
        path: '',
        bytesUp: 0,
        bytesDown: 0,
        ...extra,
        ms: Date.now() - started,
      });
    },
    // What a meter reads goes to the usage log and to the call's ticket (the controller).
    meterFor(api, host, format, encoding, ticket) {
      return createMeter(api, format, encoding, (u) => {
        opts.usage?.({
          ...u,
          at: new Date().toISOString(),
          slug: slug(),
          host,
          transport: format === 'ws' ? 'websocket' : 'http',
        });
        ticket.usage(u);
      });
    },
  };
}

export type { Target };
