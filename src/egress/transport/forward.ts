import {
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import {
  ABANDONED,
  NO_TICKET,
  type AdmissionRequest,
  type CallTicket,
  type Ticket,
} from '../admission.js';
import { redactPath, type AuditEntry } from '../audit.js';
import { bodyVerdict, problemVerdict } from '../decide/body.js';
import { scannerFor } from '../decide/cookies.js';
import { encodingVerdict } from '../decide/encoding.js';
import {
  decodeLlmBody,
  LLM_BODY_LIMIT,
  llmApi,
  llmBodyVerdict,
  llmHeadVerdict,
  shapeForLlm,
} from '../decide/llm.js';
import { admissionVerdict, cappedBody, meteringVerdict } from '../decide/metering.js';
import { parseBody, type ParsedBody } from '../cap.js';
import { requestVerdict } from '../decide/request.js';
import { unreachable } from '../decide/unreachable.js';
import { decide, isRefusal, mergeFlags, type Flag, type Refuse } from '../decide/verdict.js';
import type { Finding } from '../dlp.js';
import type { MeteredApi } from '../meter.js';
import type { Target } from '../types.js';
import { hasBody, readBody, readLlmBody, type ReadBody } from './body.js';
import type { BodyInspector } from './inspector.js';
import type { ProxyContext } from './context.js';
import { askCount, type InputSource } from './count.js';
import { responseHeaders, upstreamHeaders } from './headers.js';
import { cannotReachText, loggedFindings, refuseResponse, writeRefusal } from './refusals.js';

/** One request's audit fields, filled in as it goes. */
interface Exchange {
  ctx: ProxyContext;
  req: IncomingMessage;
  res: ServerResponse;
  t: Target;
  method: string;
  /** Path and query as sent upstream. */
  path: string;
  started: number;
  bytesUp: number;
  bytesDown: number;
  /** An LLM request sent with secrets replaced: what was replaced, by kind. */
  redactions?: Record<string, number>;
  /** An LLM request's decoded body, parsed (for its input estimate and output cap). */
  parsed?: ParsedBody;
  /** The body sent is the decoded one, re-serialized with the cap admission granted. */
  cap?: string;
  /** Where admission's input tokens came from, when the bottle asks the provider to count. */
  input?: InputSource;
}

function log(
  x: Exchange,
  extra: Pick<AuditEntry, 'rule' | 'verdict' | 'status'> & Partial<AuditEntry>,
): void {
  x.ctx.entry(
    x.t.scheme,
    x.t,
    {
      method: x.method,
      path: redactPath(x.path),
      bytesUp: x.bytesUp,
      bytesDown: x.bytesDown,
      ...(x.input === undefined ? {} : { input: x.input }),
      ...extra,
    },
    x.started,
  );
}

function refuse(x: Exchange, v: Refuse): void {
  log(x, {
    rule: v.rule,
    verdict: 'refused',
    status: v.shaped?.status ?? v.status,
    reason: v.why,
    ...loggedFindings(v),
  });
  x.req.resume();
  writeRefusal(
    x.res,
    v,
    x.ctx.slug(),
    `${x.method} ${x.t.scheme}://${x.t.host}:${x.t.port}${redactPath(x.path)}`,
  );
}

/**
 * An HTTP request inside a target (an intercepted tunnel or an absolute
 * `http://` request): the head is judged, the body read and scanned, a
 * metered call admitted, then the request is sent and the response piped.
 */
export function handleRequest(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  t: Target,
  rawTarget: string,
): void {
  const x: Exchange = {
    ctx,
    req,
    res,
    t,
    method: req.method ?? 'GET',
    path: rawTarget,
    started: Date.now(),
    bytesUp: 0,
    bytesDown: 0,
  };
  const head = decide(
    'request',
    ctx.state,
    {
      target: t,
      servername: ctx.servernames.get(req.socket),
      method: x.method,
      rawTarget,
      headers: req.headers,
    },
    requestVerdict,
  );
  if (isRefusal(head)) {
    refuse(x, head);
    return;
  }
  x.path = head.target;
  const api = llmApi(x.method, x.path);
  if (api !== undefined) {
    handleLlm(x, head.rule, head.findings, api);
    return;
  }
  const enc = hasBody(req)
    ? decide(
        'encoding',
        ctx.state,
        {
          contentEncoding: req.headers['content-encoding'],
          transferEncoding: req.headers['transfer-encoding'],
        },
        encodingVerdict,
      )
    : undefined;
  if (enc !== undefined && isRefusal(enc)) {
    refuse(x, enc);
    return;
  }
  const encodingFlag = enc?.kind === 'flag' ? enc : undefined;
  const judge = (b: ReadBody): ReturnType<typeof bodyVerdict> | Refuse =>
    decide(
      'body',
      ctx.state,
      {
        findings: [
          ...head.findings,
          ...(b.kind === 'whole' || b.kind === 'held' ? (b.inspector?.findings ?? []) : []),
        ],
        problem: b.kind === 'whole' || b.kind === 'held' ? b.inspector?.problem : undefined,
        encoding: encodingFlag,
      },
      bodyVerdict,
    );
  readBody(
    req,
    {
      scanner: () => scannerFor(ctx.state(), t.host),
      coding: enc?.kind === 'decode' ? enc.coding : undefined,
      stopsAt: (p) => isRefusal(decide('body', ctx.state, p, problemVerdict)),
    },
    (b) => {
      if (b.kind === 'gone') {
        x.bytesUp = 0;
        log(x, {
          rule: 'body-truncated',
          verdict: 'refused',
          status: 0,
          reason: `the agent closed the connection after ${b.bytes} bytes, before the body was complete; nothing was sent`,
        });
        return;
      }
      const bv = judge(b);
      if (isRefusal(bv)) {
        refuse(x, bv);
        return;
      }
      admitThenSend(x, head.rule, b, () => {
        const now = judge(b);
        return now.kind === 'flag' ? now : undefined;
      });
    },
  );
}

/**
 * A call to the bottle's LLM API: the body is held whole (up to the API's
 * own limit), judged by `egress.llm`, and sent redacted, unchanged, or
 * refused in the API's own error shape.
 */
function handleLlm(x: Exchange, rule: string, headFindings: Finding[], api: MeteredApi): void {
  const { ctx, req } = x;
  const hv = decide('llm-head', ctx.state, { api, findings: headFindings }, llmHeadVerdict);
  if (isRefusal(hv)) {
    refuse(x, shapeForLlm(api, hv));
    return;
  }
  readLlmBody(req, LLM_BODY_LIMIT, (b) => {
    if (b.kind === 'none') {
      admitThenSend(x, rule, { kind: 'none' }, () => (hv.kind === 'flag' ? hv : undefined));
      return;
    }
    const body = b.kind === 'whole' ? b.body : undefined;
    const encoding = req.headers['content-encoding'];
    const bv = decide(
      'llm-body',
      ctx.state,
      { api, host: x.t.host, body, encoding },
      llmBodyVerdict,
    );
    if (isRefusal(bv)) {
      refuse(x, shapeForLlm(api, bv));
      return;
    }
    const flag = mergeFlags(
      [hv, bv].filter((v): v is Flag => v.kind === 'flag'),
      ' ',
    );
    if (bv.kind === 'redact') x.redactions = bv.redactions;
    const sent = bv.kind === 'redact' ? bv.body : (body ?? Buffer.alloc(0));
    // Parsed only for admission (input estimate, output cap); the redacted body is already decoded.
    if (ctx.opts.admit !== undefined) {
      const decoded =
        bv.kind === 'redact' ? { ok: true as const, body: bv.body } : decodeLlmBody(sent, encoding);
      x.parsed = decoded.ok ? parseBody(decoded.body) : { ok: false, why: decoded.why };
    }
    admitThenSend(x, rule, { kind: 'whole', body: sent, inspector: undefined }, () => flag);
  });
}

function admitThenSend(x: Exchange, rule: string, b: ReadBody, flag: () => Flag | undefined): void {
  const { opts } = x.ctx;
  const bodyBytes =
    b.kind === 'whole'
      ? b.body.length
      : Number(x.req.headers['content-length'] ?? (b.kind === 'held' ? b.held.length : 0));
  const mv = meteringVerdict({
    method: x.method,
    path: x.path,
    host: x.t.host,
    bodyBytes,
    measuring: opts.usage !== undefined,
    admitting: opts.admit !== undefined,
    acceptEncoding: x.req.headers['accept-encoding'],
    parsed: x.parsed,
  });
  if (mv.kind === 'free') {
    send(x, rule, b, flag, undefined);
    return;
  }
  const metered = (ticket: Ticket): Metered => ({
    api: mv.api,
    acceptEncoding: mv.acceptEncoding,
    call: x.ctx.account(
      mv.api,
      x.t.host,
      'http',
      mv.kind === 'admit' ? mv.request.estimate : mv.estimate,
      ticket,
    ),
  });
  if (mv.kind === 'measure' || opts.admit === undefined) {
    send(x, rule, b, flag, metered(NO_TICKET));
    return;
  }
  const api = mv.api;
  const then = (av: ReturnType<typeof admissionVerdict>): void => {
    if (isRefusal(av)) {
      refuse(x, av);
      return;
    }
    const cb = cappedBody(api, x.parsed, av.cap);
    if (isRefusal(cb)) {
      // Never sent: its reservation is released.
      av.ticket.done();
      refuse(x, cb);
      return;
    }
    if (cb.kind === 'pass') {
      send(x, rule, b, flag, metered(av.ticket));
      return;
    }
    x.cap = cb.change;
    send(x, rule, { kind: 'whole', body: cb.body, inspector: undefined }, flag, metered(av.ticket));
  };
  const admit = opts.admit;
  const asked = mv.request;
  void countedAsk(x, asked)
    .catch(() => asked)
    .then((ask) => {
      // The agent may hang up while its input is counted: then nothing is admitted or sent.
      if (x.input !== undefined && (x.res.destroyed || x.req.socket.destroyed)) {
        log(x, {
          rule,
          verdict: 'refused',
          status: 0,
          reason: 'the agent closed the connection while its input was counted; nothing was sent',
        });
        return;
      }
      return admit(ask).then(
        (r) => {
          then(admissionVerdict(api, r));
        },
        (e: unknown) => {
          then(admissionVerdict(api, { error: e }));
        },
      );
    });
}

/**
 * The admission question with the provider's count as its input tokens,
 * when the bottle's budget says `count: provider` and the body was parsed;
 * otherwise (or when the count fails) unchanged: the local estimate.
 */
async function countedAsk(x: Exchange, ask: AdmissionRequest): Promise<AdmissionRequest> {
  const state = x.ctx.state();
  const capping = ask.capping;
  if (state.policy.count !== 'provider' || capping === undefined || x.parsed?.ok !== true) {
    return ask;
  }
  const input = await askCount(state, x.req, x.t, {
    api: ask.api,
    path: x.path,
    json: x.parsed.json,
    estimate: capping.input,
  });
  x.input = input;
  return { ...ask, capping: { ...capping, input: input.tokens } };
}

/** A metered call on its way: its API, the codings offered upstream and its accounting. */
interface Metered {
  api: MeteredApi;
  acceptEncoding: string;
  call: CallTicket;
}

function send(
  x: Exchange,
  rule: string,
  b: ReadBody,
  flag: () => Flag | undefined,
  metered: Metered | undefined,
): void {
  const { ctx, req, res, t } = x;
  const ticket: Ticket = metered?.call ?? NO_TICKET;
  const state = ctx.state();
  const headers = upstreamHeaders(state, req, t);
  // Offered only what the meter reads, so no answer's usage goes unseen.
  if (metered !== undefined) headers['accept-encoding'] = metered.acceptEncoding;
  if (b.kind === 'whole') {
    headers['content-length'] = b.body.length;
    delete headers['transfer-encoding'];
  }
  // The redacted or capped body is the decoded one.
  if (x.redactions !== undefined || x.cap !== undefined) delete headers['content-encoding'];
  if (x.redactions !== undefined) ctx.opts.redacted?.(x.redactions);
  const cut = { value: false };
  let answered = false;
  const up = httpRequest({
    agent: state.upstream.agent(t.host, t.port, t.scheme === 'https'),
    host: t.host,
    port: t.port,
    method: x.method,
    path: x.path,
    headers,
    setHost: false,
  });
  up.on('response', (upRes) => {
    answered = true;
    relayResponse(x, rule, upRes, metered, flag);
  });
  up.on('error', (e: Error) => {
    // After an answer, the meter settles the call when the response ends.
    if (!answered) ticket.done();
    // Cut off by the streaming scan: the refusal is already logged and sent.
    if (cut.value) return;
    const u = unreachable(e);
    if (u.refuse !== undefined) {
      refuse(x, u.refuse);
      return;
    }
    const code = u.code ?? u.why;
    log(x, { rule, verdict: 'allowed', status: 502, reason: `upstream: ${code}` });
    refuseResponse(res, 502, cannotReachText(t.host, t.port, code));
  });
  res.once('close', () => {
    if (res.writableFinished) return;
    // The agent hung up before any answer, after its whole request left:
    // the upstream may spend tokens on it anyway, so it is not released free.
    if (!answered && up.writableFinished) ticket.answered(ABANDONED);
    up.destroy();
  });
  if (b.kind === 'whole') {
    x.bytesUp = b.body.length;
    up.end(b.body);
  } else if (b.kind === 'held') {
    streamRest(x, up, b.held, b.inspector, cut);
  } else {
    up.end();
  }
}

/**
 * The rest of a body too large to hold: each chunk decoded and scanned
 * before it is written. In `enforce` a finding, a decoder error or the
 * decode limit cuts the upload; a body that ends early (the agent went
 * away, or a compressed stream stops mid-way) aborts the upstream request,
 * so the upstream never sees it complete.
 */
function streamRest(
  x: Exchange,
  up: ClientRequest,
  held: Buffer,
  inspector: BodyInspector,
  cut: { value: boolean },
): void {
  const { ctx, req } = x;
  x.bytesUp = held.length;
  up.write(held);
  const cutIfRefused = (): boolean => {
    if (cut.value) return true;
    const v = decide(
      'body',
      ctx.state,
      { findings: inspector.findings, problem: inspector.problem, encoding: undefined },
      bodyVerdict,
    );
    if (!isRefusal(v)) return false;
    cut.value = true;
    inspector.close();
    up.destroy();
    refuse(x, { ...v, why: `${v.why}; the upload was cut off` });
    return true;
  };
  // The newest chunk waits for the next one (or for the decoder's end): with a declared
  // length, the upstream would otherwise have the whole body before a truncated
  // compressed stream is known to be one.
  let last: Buffer | undefined;
  req.on('data', (c: Buffer) => {
    if (cut.value) return;
    req.pause();
    inspector.write(c, () => {
      if (cutIfRefused()) return;
      const ready = last;
      last = c;
      if (ready === undefined) {
        req.resume();
        return;
      }
      x.bytesUp += ready.length;
      if (up.write(ready)) req.resume();
      else up.once('drain', () => req.resume());
    });
  });
  req.on('end', () => {
    inspector.end(() => {
      if (cutIfRefused()) return;
      if (last !== undefined) x.bytesUp += last.length;
      up.end(last);
    });
  });
  req.on('close', () => {
    if (req.complete || cut.value) return;
    cut.value = true;
    inspector.close();
    up.destroy();
    log(x, {
      rule: 'body-truncated',
      verdict: 'refused',
      status: 0,
      reason:
        'the agent closed the connection before the body was complete; the upload was aborted',
    });
  });
  req.resume();
}

/** The upstream's answer, piped to the agent; metered answers are read after each chunk left. */
function relayResponse(
  x: Exchange,
  rule: string,
  upRes: IncomingMessage,
  metered: Metered | undefined,
  flag: () => Flag | undefined,
): void {
  const { ctx, res } = x;
  const ticket: Ticket = metered?.call ?? NO_TICKET;
  ticket.answered(upRes.statusCode ?? 502);
  // Before the agent can read them: a cookie is the site's from its first byte on.
  ctx.state().cookies.observeResponse(x.t.host, upRes.headers['set-cookie']);
  res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, responseHeaders(upRes.headers));
  const meter =
    metered === undefined
      ? undefined
      : ctx.meterFor(
          metered.api,
          /text\/event-stream/i.test(upRes.headers['content-type'] ?? '') ? 'sse' : 'json',
          upRes.headers['content-encoding'],
          ticket,
        );
  // The audit line waits for the meter: it says whether the call went unread.
  let metering: () => void = () => undefined;
  const meterDone = new Promise<void>((resolve) => {
    metering = resolve;
  });
  if (meter === undefined)
    res.once('close', () => {
      ticket.done();
    });
  upRes.on('data', (c: Buffer) => {
    x.bytesDown += c.length;
  });
  if (meter !== undefined) {
    // Once: a stream can both end and close; its usage is read one time.
    let ending: Promise<void> | undefined;
    const end = (): void => {
      ending ??= meter.end().then(() => {
        ticket.done();
        metering();
      });
    };
    upRes.once('end', () => setImmediate(end));
    upRes.once('close', () => {
      if (!upRes.complete) setImmediate(end);
    });
  }
  upRes.pipe(res);
  // Registered after pipe's listener, so each chunk is on its way to the agent
  // before the meter reads it.
  if (meter !== undefined) {
    upRes.on('data', (c: Buffer) => {
      // After this I/O turn, so the write to the agent reaches the socket first.
      setImmediate(() => {
        meter.write(c);
      });
    });
  }
  res.once('close', () => {
    const write = (): void => {
      const f = flag();
      const redactions = x.redactions;
      log(x, {
        rule,
        verdict: redactions !== undefined ? 'redacted' : f === undefined ? 'allowed' : 'flagged',
        status: upRes.statusCode ?? 0,
        ...(f === undefined ? {} : { reason: f.why }),
        ...(redactions === undefined ? {} : { redactions }),
        ...(x.cap === undefined ? {} : { cap: x.cap }),
        ...(metered?.call.charged() === undefined ? {} : { unmetered: true }),
      });
    };
    if (meter === undefined) write();
    else void meterDone.then(write);
    if (!upRes.complete) upRes.destroy();
  });
}
