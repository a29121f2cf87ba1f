import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { refusalText } from '../policy.js';
import type { Refuse } from '../decide/verdict.js';

/**
 * Writers for refusals. Each ends its socket or response exactly once, and
 * writes nothing when the other side is gone or a response already began
 * (then the only honest signal left is to cut the connection).
 */

/** A whole HTTP response on a raw socket (CONNECT answers, WebSocket upgrades). */
export function rawResponse(
  sock: Socket,
  status: number,
  reason: string,
  body: string | Buffer,
  contentType = 'text/plain; charset=utf-8',
  refused = true,
): void {
  if (!sock.writable) return;
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const head =
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${contentType}\r\n` +
    `content-length: ${b.length}\r\nconnection: close\r\n` +
    (refused ? 'x-bot-bottle-egress: refused\r\n' : '') +
    '\r\n';
  sock.end(Buffer.concat([Buffer.from(head, 'latin1'), b]));
}

export function rawRefusal(sock: Socket, status: number, reason: string, body: string): void {
  rawResponse(sock, status, reason, body);
}

/** A verdict's refusal on a raw socket (CONNECT answers, WebSocket upgrades). */
export function writeRawRefusal(sock: Socket, v: Refuse, slug: string, what: string): void {
  rawRefusal(sock, v.status, reasonPhrase(v.status), refusalText(slug, what, v.rule, v.why));
}

/** The body of a 502 for an upstream that could not be reached. */
export function cannotReachText(host: string, port: number, why: string): string {
  return `bot-bottle egress proxy: cannot reach ${host}:${port}: ${why}\n`;
}

/** A verdict's findings as the audit log names them (kinds and places, never values). */
export function loggedFindings(v: Refuse): { findings?: string[] } {
  return v.findings === undefined
    ? {}
    : { findings: v.findings.map((f) => `${f.kind}@${f.where}`) };
}

/** A plain-text refusal as an HTTP response. */
export function refuseResponse(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'x-bot-bottle-egress': 'refused',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** A verdict's refusal: the API's own error shape when it has one, else the text. */
export function writeRefusal(res: ServerResponse, v: Refuse, slug: string, what: string): void {
  if (v.shaped === undefined) {
    refuseResponse(res, v.status, refusalText(slug, what, v.rule, v.why));
    return;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const e = v.shaped;
  res.writeHead(e.status, { ...e.headers, 'content-length': Buffer.byteLength(e.body) });
  res.end(e.body);
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Refused';
}
