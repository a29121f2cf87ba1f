import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Ticket } from '../admission.js';
import { redactPath } from '../audit.js';
import { findingsVerdict } from '../decide/findings.js';
import { llmApi } from '../decide/llm.js';
import { meteringVerdict } from '../decide/metering.js';
import { requestVerdict } from '../decide/request.js';
import { decide, isRefusal, type Refuse } from '../decide/verdict.js';
import type { Target } from '../types.js';
import { relayWebSocket, type RelayOptions } from '../websocket.js';
import type { ProxyContext } from './context.js';
import { upstreamHeaders } from './headers.js';
import { loggedFindings, writeRawRefusal } from './refusals.js';

/** A WebSocket's meter (one per socket, several calls) and its admission, when metered. */
function wsMetering(
  ctx: ProxyContext,
  path: string,
  host: string,
): Pick<RelayOptions, 'meterFor' | 'admit' | 'api' | 'account'> {
  const mv = meteringVerdict({
    method: 'GET',
    path,
    host,
    bodyBytes: 0,
    measuring: ctx.opts.usage !== undefined,
    admitting: ctx.opts.admit !== undefined,
  });
  if (mv.kind === 'free') {
    return { meterFor: undefined, admit: undefined, api: undefined, account: undefined };
  }
  const api = mv.api;
  return {
    api,
    admit: ctx.opts.admit,
    meterFor: (ticket: Ticket) => ctx.meterFor(api, 'ws', undefined, ticket),
    account: (ticket: Ticket, estimate: number) =>
      ctx.account(api, host, 'websocket', estimate, ticket),
  };
}

/** A WebSocket upgrade inside a target: judged like a request, then relayed message by message. */
export function handleUpgrade(
  ctx: ProxyContext,
  req: IncomingMessage,
  sock: Socket,
  head: Buffer,
  t: Target,
): void {
  const started = Date.now();
  // The HTTP server hands the socket over without its error listener; a reset must not crash the proxy.
  sock.on('error', () => undefined);
  let path = req.url ?? '/';
  const refuse = (v: Refuse): void => {
    ctx.entry(
      'websocket',
      t,
      {
        method: 'GET',
        path: redactPath(path),
        rule: v.rule,
        verdict: 'refused',
        status: v.status,
        reason: v.why,
        ...loggedFindings(v),
      },
      started,
    );
    writeRawRefusal(sock, v, ctx.slug(), `websocket ${t.host}${redactPath(path)}`);
  };
  const pre = decide(
    'request',
    ctx.state,
    {
      target: t,
      servername: ctx.servernames.get(req.socket),
      method: 'GET',
      rawTarget: path,
      headers: req.headers,
    },
    requestVerdict,
  );
  if (isRefusal(pre)) {
    refuse(pre);
    return;
  }
  path = pre.target;
  const fv = decide('findings', ctx.state, pre.findings, findingsVerdict);
  if (isRefusal(fv)) {
    refuse(fv);
    return;
  }
  relayWebSocket({
    ...wsMetering(ctx, path, t.host),
    llm: llmApi('GET', path),
    redacted: ctx.opts.redacted,
    req,
    socket: sock,
    head,
    target: t,
    path,
    headers: upstreamHeaders(ctx.state(), req, t),
    state: ctx.state,
    log: (e) => {
      ctx.entry(
        'websocket',
        t,
        { method: 'GET', path: redactPath(path), rule: pre.rule, ...e },
        started,
      );
    },
    refuse,
  });
}
