import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import type { AuditEntry } from './audit.js';
import { bodyVerdict } from './decide/body.js';
import { scannerFor } from './decide/cookies.js';
import { unreachable } from './decide/unreachable.js';
import { decide, type Flag, type Refuse } from './decide/verdict.js';
import { endsWithTokenFragment } from './dlp.js';
import { scanAll } from './transport/inspector.js';
import { messageTexts } from './transport/message.js';
import type { Meter, MeteredApi } from './meter.js';
import {
  admissionFailure,
  estimateTokens,
  NO_TICKET,
  shapedWsRefusal,
  wsErrorEvent,
  type Admit,
  type CallTicket,
  type Ticket,
} from './admission.js';
import { cannotReachText, rawResponse } from './transport/refusals.js';
import type { ProxyState, Target } from './types.js';
import { llmBodyVerdict, llmRefuse, shapeForLlm } from './decide/llm.js';
import { applyCap, capAsk, parseBody, uncappableWhy } from './cap.js';

/**
 * WebSocket through the proxy (Codex speaks the Responses API over one).
 * The proxy is an endpoint on both sides: it opens the upstream socket with
 * the route's credentials, then accepts the agent's, and relays message by
 * message, so each message the agent sends is scanned before it leaves and
 * each one coming back can be read (metering) without touching its bytes.
 */

export interface RelayOptions {
  req: IncomingMessage;
  socket: Socket;
  head: Buffer;
  target: Target;
  path: string;
  headers: OutgoingHttpHeaders;
  state: () => ProxyState;
  log: (e: Pick<AuditEntry, 'verdict' | 'status'> & Partial<AuditEntry>) => void;
  /** Refuses the upgrade before it is answered (logged, and written on the socket). */
  refuse: (v: Refuse) => void;
  /** A meter over the upstream's messages (metered APIs only); its usage goes to the ticket. */
  meterFor: ((ticket: Ticket) => Meter) | undefined;
  /** Admission for each call the agent starts on the socket (`response.create`). */
  admit: Admit | undefined;
  api: MeteredApi | undefined;
  /** Accounting for one call on the socket (usage log; charged its estimate if left unread). */
  account: ((ticket: Ticket, estimate: number) => CallTicket) | undefined;
  /** The LLM API this socket calls (metered or not): its messages follow `egress.llm`. */
  llm?: MeteredApi | undefined;
  /** Secrets redacted from one message, by kind. */
  redacted?: ((counts: Readonly<Record<string, number>>) => void) | undefined;
}

/** A message that starts a metered call on a Responses WebSocket. */
const STARTS_CALL = /"type"\s*:\s*"response\.create"/;

/** Handshake headers the ws client sets itself. */
const WS_OWN = new Set([
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'host',
]);

/** Close codes that may be sent on the wire (1005/1006/1015 are reserved for reporting). */
function sendable(code: number): number {
  return (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) ||
    (code >= 3000 && code <= 4999)
    ? code
    : 1000;
}

/**
 * One agent message, judged like a body: its text and any compressed
 * payload in it are scanned whole; what cannot be read is refused in
 * `enforce`. Frames compressed by the agent (permessage-deflate) never get
 * here: the agent side does not negotiate the extension, so `ws` closes a
 * socket that sends one (1002).
 */
function judgeMessage(
  state: () => ProxyState,
  host: string,
  buf: Buffer,
  isBinary: boolean,
): { kind: 'pass' } | Flag | Refuse {
  return decide('websocket message', state, { buf, isBinary }, (s, m) => {
    const read = messageTexts(m.buf, m.isBinary);
    const scanner = scannerFor(s, host);
    const findings = read.texts.flatMap((t) => scanAll(() => scanner, t, 'websocket message'));
    if (endsWithTokenFragment(read.texts[0] ?? '')) {
      findings.push({ kind: 'split-token', where: 'websocket message' });
    }
    const v = bodyVerdict(s, {
      findings,
      problem: read.problem,
      encoding: undefined,
      subject: 'the websocket message',
    });
    if (v.kind === 'pass' || read.problem !== undefined) return v;
    const kinds = [...new Set(findings.map((f) => f.kind))].join(',');
    return { ...v, why: `websocket message carries what looks like a secret (${kinds})` };
  });
}

/** A close reason fits in 123 bytes. */
function closeReason(v: Refuse): string {
  const what = v.rule.startsWith('dlp ') ? v.rule.slice(4) : v.rule;
  return `bot-bottle egress: blocked (${what})`.slice(0, 123);
}

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export function relayWebSocket(o: RelayOptions): void {
  const { target: t } = o;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers)) {
    if (v === undefined || WS_OWN.has(k)) continue;
    headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  const protocols = (o.req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const scheme = t.scheme === 'https' ? 'wss' : 'ws';
  const state = o.state();
  const upstream = new WebSocket(`${scheme}://${t.host}:${t.port}${o.path}`, protocols, {
    headers,
    perMessageDeflate: true,
    // Sockets come from the proxy's own dialler: same address check, same trust store.
    createConnection: ((_opts: unknown, cb: (err: Error | null, s?: Duplex) => void) => {
      state.upstream.dial(t.host, t.port, t.scheme === 'https').then(
        (s) => {
          cb(null, s);
        },
        (e: unknown) => {
          cb(e instanceof Error ? e : new Error(String(e)));
        },
      );
      return undefined;
    }) as unknown as never,
  });
  let opened = false;
  // The upgrade's answer may set cookies too (kept from the agent, but still the site's).
  upstream.on('upgrade', (res) => {
    state.cookies.observeResponse(t.host, res.headers['set-cookie']);
  });
  answerFailedUpgrade(o, upstream, () => opened);

  upstream.on('open', () => {
    opened = true;
    const wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      handleProtocols: () => (upstream.protocol === '' ? false : upstream.protocol),
    });
    wss.handleUpgrade(o.req, o.socket, o.head, (client) => {
      relayMessages(o, upstream, client);
    });
  });
}

/** The upstream would not take the upgrade: its answer (or why it could not be reached) goes to the agent. */
function answerFailedUpgrade(o: RelayOptions, upstream: WebSocket, opened: () => boolean): void {
  const t = o.target;
  upstream.on('unexpected-response', (_req, res) => {
    o.state().cookies.observeResponse(t.host, res.headers['set-cookie']);
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const body = Buffer.concat(chunks);
      o.log({
        verdict: 'allowed',
        status: res.statusCode ?? 0,
        reason: 'upstream refused the upgrade',
      });
      // Head and body in one write and one end: a second end() loses the body.
      rawResponse(
        o.socket,
        res.statusCode ?? 502,
        res.statusMessage ?? '',
        body,
        res.headers['content-type'] ?? 'text/plain',
        false,
      );
    });
  });
  upstream.on('error', (e: Error) => {
    if (opened()) return;
    const u = unreachable(e);
    if (u.refuse !== undefined) {
      o.refuse(u.refuse);
      return;
    }
    o.log({ verdict: 'allowed', status: 502, reason: `upstream: ${u.why}` });
    rawResponse(o.socket, 502, 'Bad Gateway', cannotReachText(t.host, t.port, u.why));
  });
}

/** A `response.create` admitted (with the granted cap written in), or refused with the event that answers it. */
type CallAnswer =
  | { ok: true; ticket: Ticket; out: Buffer; estimate: number; cap?: string }
  | { ok: false; rule: string; why: string; event: string };

async function admitCall(
  admit: Admit,
  api: MeteredApi,
  host: string,
  buf: Buffer,
): Promise<CallAnswer> {
  const estimate = estimateTokens(buf.length);
  const parsed = parseBody(buf);
  const capping = parsed.ok ? capAsk(api, parsed.json, true) : undefined;
  const r = await admit({ api, host, estimate, capping }).catch((e: unknown) => ({
    ok: false as const,
    refusal: admissionFailure(e),
  }));
  if (!r.ok) {
    return {
      ok: false,
      rule: `budget-${r.refusal.kind}`,
      why: r.refusal.message,
      event: shapedWsRefusal(r.refusal),
    };
  }
  if (r.cap === null || r.cap === undefined)
    return { ok: true, ticket: r.ticket, out: buf, estimate };
  if (!parsed.ok) {
    // A cap is in force and cannot be written in: never sent, its reservation released.
    r.ticket.done();
    const why = uncappableWhy(parsed.why);
    const shaped = llmRefuse(api, 'budget-uncappable', why).shaped;
    return {
      ok: false,
      rule: 'budget-uncappable',
      why,
      event: wsErrorEvent(shaped ?? { status: 400, headers: {}, body: '{}' }),
    };
  }
  const c = applyCap(api, parsed.json, r.cap, true);
  return { ok: true, ticket: r.ticket, out: c.body, estimate, cap: c.change };
}

/** Both sides open: each agent message judged, then relayed (admitted first when it starts a metered call). */
function relayMessages(o: RelayOptions, upstream: WebSocket, client: WebSocket): void {
  const t = o.target;
  let bytesUp = 0;
  let bytesDown = 0;
  let verdict: AuditEntry['verdict'] = 'allowed';
  let reason: string | undefined;
  // Calls in flight on this socket, oldest first: usage comes back in order.
  // A call sent on the open socket counts as answered: closing it unread charges it.
  const open: Ticket[] = [];
  const accounted: CallTicket[] = [];
  const startCall = (ticket: Ticket, estimate: number): Ticket => {
    const call = o.account?.(ticket, estimate);
    if (call !== undefined) accounted.push(call);
    (call ?? ticket).answered(101);
    return call ?? ticket;
  };
  const callTicket: Ticket = {
    answered: () => undefined,
    usage(u) {
      // Usage no call is waiting for (never expected) is still logged and counted.
      const t = open.shift() ?? startCall(NO_TICKET, 0);
      t.usage(u);
      t.done();
    },
    done() {
      for (const t of open.splice(0)) t.done();
    },
  };
  const meter = o.meterFor?.(callTicket);
  // Admission is asynchronous; later messages wait for it so order is kept.
  let queue: Promise<void> = Promise.resolve();
  const relay = (buf: Buffer, isBinary: boolean): void => {
    const admit = o.admit;
    const api = o.api;
    // Decoded only for a metered socket: other sockets' messages (a whole conversation) are not copied.
    const startsCall = (): boolean => !isBinary && STARTS_CALL.test(buf.toString('utf8'));
    // Not an admitted API: nothing is ever waited for, so nothing to keep in order.
    if (admit === undefined || api === undefined) {
      if (api !== undefined && startsCall()) {
        open.push(startCall(NO_TICKET, estimateTokens(buf.length)));
      }
      upstream.send(buf, { binary: isBinary });
      return;
    }
    if (!startsCall()) {
      queue = queue.then(() => {
        if (upstream.readyState === WebSocket.OPEN) upstream.send(buf, { binary: isBinary });
      });
      return;
    }
    queue = queue.then(async () => {
      const a = await admitCall(admit, api, t.host, buf);
      if (!a.ok) {
        verdict = 'refused';
        reason = a.why;
        o.log({ rule: a.rule, verdict: 'refused', status: 101, reason: a.why });
        // The call is answered on the socket, as the API reports its own errors.
        if (client.readyState === WebSocket.OPEN) client.send(a.event);
        return;
      }
      if (upstream.readyState !== WebSocket.OPEN) {
        a.ticket.done();
        return;
      }
      if (a.cap !== undefined) {
        o.log({ rule: 'budget-cap', verdict: 'allowed', status: 101, cap: a.cap });
      }
      open.push(startCall(a.ticket, a.estimate));
      upstream.send(a.out, { binary: isBinary });
    });
  };
  const redactions: Record<string, number> = {};
  /** A message to the LLM API: redacted, refused on the socket, or passed (egress.llm). */
  const llmMessage = (api: MeteredApi, buf: Buffer): Buffer | undefined => {
    const v = decide(
      'llm-ws',
      o.state,
      { api, host: o.target.host, body: buf, encoding: undefined },
      llmBodyVerdict,
    );
    if (v.kind === 'pass') return buf;
    if (v.kind === 'flag') {
      if (verdict !== 'refused') verdict = 'flagged';
      reason = v.why;
      return buf;
    }
    if (v.kind === 'redact') {
      for (const [k, n] of Object.entries(v.redactions)) redactions[k] = (redactions[k] ?? 0) + n;
      o.redacted?.(v.redactions);
      if (verdict === 'allowed') verdict = 'redacted';
      return v.body;
    }
    verdict = 'refused';
    reason = v.why;
    o.log({ rule: v.rule, verdict: 'refused', status: 101, reason: v.why });
    // The call is answered on the socket as an API error; the socket and the session go on.
    if (client.readyState === WebSocket.OPEN) {
      const e = shapeForLlm(api, v);
      // shapeForLlm always shapes; without a shape the event still carries the status.
      client.send(wsErrorEvent(e.shaped ?? { status: e.status, headers: {}, body: '{}' }));
    }
    return undefined;
  };
  client.on('message', (data: RawData, isBinary: boolean) => {
    const buf = asBuffer(data);
    bytesUp += buf.length;
    if (o.llm !== undefined && !isBinary) {
      const out = llmMessage(o.llm, buf);
      if (out !== undefined) relay(out, isBinary);
      return;
    }
    const v = judgeMessage(o.state, o.target.host, buf, isBinary);
    if (v.kind === 'refuse') {
      verdict = 'refused';
      reason = v.why;
      client.close(1008, closeReason(v));
      upstream.close(1000);
      return;
    }
    if (v.kind === 'flag') {
      verdict = 'flagged';
      reason = v.why;
    }
    relay(buf, isBinary);
  });
  upstream.on('message', (data: RawData, isBinary: boolean) => {
    const buf = asBuffer(data);
    bytesDown += buf.length;
    client.send(buf, { binary: isBinary });
    if (!isBinary) meter?.write(buf);
  });
  const finish = (): void => {
    o.log({
      verdict,
      status: 101,
      bytesUp,
      bytesDown,
      ...(reason === undefined ? {} : { reason }),
      ...(accounted.some((c) => c.charged() !== undefined) ? { unmetered: true } : {}),
      ...(Object.keys(redactions).length === 0 ? {} : { redactions }),
    });
  };
  client.once('close', (code: number) => {
    if (upstream.readyState === WebSocket.OPEN) upstream.close(sendable(code));
    // Logged once every call on the socket is settled: the line says if any went unread.
    void (meter?.end() ?? Promise.resolve()).then(() => {
      callTicket.done();
      finish();
    });
  });
  upstream.once('close', (code: number) => {
    if (client.readyState === WebSocket.OPEN) client.close(sendable(code));
  });
  client.on('error', () => {
    upstream.terminate();
  });
  upstream.on('error', () => {
    client.terminate();
  });
}
