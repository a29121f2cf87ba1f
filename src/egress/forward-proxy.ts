import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { firstMatch } from './host-match.js';

/**
 * The bottle's egress proxy (this version: no TLS interception yet). It is
 * the agent's only way out, so it refuses by default: a CONNECT or an
 * absolute-form HTTP request goes through only when the host matches
 * `allow` and no `deny` entry. Everything else gets a 403 that names the
 * host and says how to ask for access.
 */

export interface EgressPolicy {
  allow: readonly string[];
  deny: readonly string[];
}

export interface EgressDecision {
  allowed: boolean;
  /** The pattern that decided, if one matched. */
  rule: string | undefined;
}

/** Deny wins over allow; no match is a refusal. */
export function decide(policy: EgressPolicy, host: string, port: number): EgressDecision {
  const denied = firstMatch(policy.deny, host, port);
  if (denied !== undefined) return { allowed: false, rule: denied };
  const allowed = firstMatch(policy.allow, host, port);
  return { allowed: allowed !== undefined, rule: allowed };
}

export interface EgressLogEntry {
  at: string;
  kind: 'connect' | 'http' | 'refused-request';
  host: string;
  port: number;
  allowed: boolean;
  rule: string | null;
  status: number;
  detail?: string;
}

export interface ForwardProxyOptions {
  policy: EgressPolicy;
  /** Bottle slug, for the refusal message. */
  slug: string;
  log?: (entry: EgressLogEntry) => void;
  connectTimeoutMs?: number;
}

export const HEALTH_PATH = '/__bot-bottle/health';

/** Split `host:port` (IPv6 in brackets) from a CONNECT target or Host header. */
export function splitAuthority(
  authority: string,
  defaultPort: number,
): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/]+))(?::(\d{1,5}))?$/.exec(authority);
  if (m === null) return undefined;
  const host = (m[1] ?? m[2] ?? '').toLowerCase().replace(/\.$/, '');
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (host === '' || port < 1 || port > 65535) return undefined;
  return { host, port };
}

export function refusalText(slug: string, host: string, port: number, rule?: string): string {
  const why =
    rule === undefined
      ? `${host} is not in this bottle's egress allowlist`
      : `${host} is blocked by the egress deny rule '${rule}'`;
  return (
    `bot-bottle egress proxy (bottle ${slug}): refused ${host}:${port}: ${why}.\n` +
    `To ask for access, the operator adds '${host}' to egress.allow of a bottle ` +
    `(.bot-bottle/bottles/<name>.md) and starts the bottle again.\n`
  );
}

function deny(sock: Socket, status: number, reason: string, body: string): void {
  if (!sock.writable) return;
  sock.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n` +
      `x-bot-bottle-egress: refused\r\n\r\n${body}`,
  );
}

export function createForwardProxy(opts: ForwardProxyOptions): Server {
  const log = opts.log ?? ((): void => undefined);
  const note = (
    kind: EgressLogEntry['kind'],
    target: { host: string; port: number },
    decision: EgressDecision | undefined,
    status: number,
    detail?: string,
  ): void => {
    log({
      at: new Date().toISOString(),
      kind,
      ...target,
      allowed: decision?.allowed ?? false,
      rule: decision?.rule ?? null,
      status,
      ...(detail === undefined ? {} : { detail }),
    });
  };
  const refuse = (res: ServerResponse, body: string): void => {
    res.writeHead(403, {
      'content-type': 'text/plain; charset=utf-8',
      'x-bot-bottle-egress': 'refused',
    });
    res.end(body);
  };
  const server = createServer();

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    client.on('error', () => undefined);
    const target = splitAuthority(req.url ?? '', 443);
    if (target === undefined) {
      note('connect', { host: req.url ?? '', port: 0 }, undefined, 400, 'malformed CONNECT target');
      deny(client, 400, 'Bad Request', 'bot-bottle egress proxy: CONNECT needs host:port\n');
      return;
    }
    const d = decide(opts.policy, target.host, target.port);
    if (!d.allowed) {
      note('connect', target, d, 403);
      deny(client, 403, 'Forbidden', refusalText(opts.slug, target.host, target.port, d.rule));
      return;
    }
    const upstream = connect({ host: target.host, port: target.port });
    upstream.setTimeout(opts.connectTimeoutMs ?? 15_000, () => {
      upstream.destroy(new Error('connect timeout'));
    });
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      note('connect', target, d, 200);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', (e: NodeJS.ErrnoException) => {
      if (client.writable && !upstream.readable) {
        note('connect', target, d, 502, e.code ?? e.message);
        deny(
          client,
          502,
          'Bad Gateway',
          `bot-bottle egress proxy: cannot reach ${target.host}:${target.port}: ${e.code ?? e.message}\n`,
        );
      } else {
        client.destroy();
      }
    });
    client.once('close', () => upstream.destroy());
  });

  server.on('request', (req: IncomingMessage, res) => {
    const url = req.url ?? '';
    if (url === HEALTH_PATH) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    let parsed: URL | undefined;
    try {
      parsed = /^http:\/\//i.test(url) ? new URL(url) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined) {
      const body =
        'bot-bottle egress proxy: only CONNECT and absolute http:// requests are forwarded; ' +
        'configure this address as HTTP(S)_PROXY\n';
      note(
        'refused-request',
        { host: '', port: 0 },
        undefined,
        403,
        `${req.method ?? ''} ${url.slice(0, 200)}`,
      );
      refuse(res, body);
      return;
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = parsed.port === '' ? 80 : Number(parsed.port);
    const d = decide(opts.policy, host, port);
    if (!d.allowed) {
      note('http', { host, port }, d, 403);
      refuse(res, refusalText(opts.slug, host, port, d.rule));
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const up = httpRequest(
      { host, port, method: req.method, path: `${parsed.pathname}${parsed.search}`, headers },
      (upRes) => {
        note('http', { host, port }, d, upRes.statusCode ?? 0);
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', (e: NodeJS.ErrnoException) => {
      note('http', { host, port }, d, 502, e.code ?? e.message);
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`bot-bottle egress proxy: cannot reach ${host}:${port}: ${e.code ?? e.message}\n`);
      } else {
        res.destroy();
      }
    });
    req.pipe(up);
  });

  // A malformed request line must not crash the proxy or hang the client.
  server.on('clientError', (_e, sock: Socket) => {
    deny(sock, 400, 'Bad Request', 'bot-bottle egress proxy: malformed request\n');
  });
  return server;
}

export function listenAddress(server: Server): number {
  return (server.address() as AddressInfo).port;
}
