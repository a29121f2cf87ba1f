import type { AuditEntry } from '../audit.js';
import { accountCall, type CallTicket, type Ticket } from '../admission.js';
import { createMeter, type Meter, type MeteredApi } from '../meter.js';
import type { ProxyOptions, ProxyState, Target, UsageRecord } from '../types.js';

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
  /** A meter whose usage goes to the ticket (an accounted call: see `account`). */
  meterFor: (
    api: MeteredApi,
    format: 'sse' | 'json' | 'ws',
    encoding: string | undefined,
    ticket: Ticket,
  ) => Meter;
  /**
   * One metered call's accounting around its ticket: its usage goes to the
   * usage log, and an answered call whose usage cannot be read is charged
   * its estimate.
   */
  account: (
    api: MeteredApi,
    host: string,
    transport: UsageRecord['transport'],
    estimate: number,
    ticket: Ticket,
  ) => CallTicket;
  /** TLS server names sent by the agent, per intercepted connection. */
  servernames: WeakMap<object, string>;
  /** The bottle's slug, or '' when no policy can be read (a refusal still goes out). */
  slug: () => string;
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
    slug,
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
    meterFor(api, format, encoding, ticket) {
      return createMeter(api, format, encoding, (u) => {
        ticket.usage(u);
      });
    },
    account(api, host, transport, estimate, ticket) {
      return accountCall(ticket, {
        api,
        estimate,
        report: (u) => {
          opts.usage?.({ ...u, at: new Date().toISOString(), slug: slug(), host, transport });
        },
      });
    },
  };
}

export type { Target };
