import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { redactPath } from './audit.js';
import { createConnectHandler } from './transport/connect.js';
import { createContext } from './transport/context.js';
import { handleRequest } from './transport/forward.js';
import { rawRefusal, refuseResponse } from './transport/refusals.js';
import { handleUpgrade } from './transport/upgrade.js';
import { HEALTH_PATH, type ProxyOptions, type Target } from './types.js';

/**
 * The bottle's egress proxy: the agent's only way out. Plain `http://`
 * requests arrive in absolute form; `https://` arrives as CONNECT, which is
 * answered and then terminated here with a leaf certificate from the
 * bottle's CA, so every request inside can be judged, scanned and given its
 * credentials. What is let through is decided by the pure functions in
 * `decide/`; the modules in `transport/` only move bytes and ask.
 */

export { splitAuthority } from './decide/host.js';
export { BODY_HOLD_LIMIT, HEALTH_PATH } from './types.js';
export type { ProxyOptions, ProxyState, Target, UsageRecord } from './types.js';

export function createEgressProxy(opts: ProxyOptions): Server {
  const ctx = createContext(opts);
  const server = createServer({ keepAliveTimeout: 65_000 });

  server.on('connect', createConnectHandler(ctx));

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (url === HEALTH_PATH) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    const t = absoluteTarget(url);
    if (t === undefined) {
      ctx.entry(
        'http',
        { host: '', port: 0 },
        {
          method: req.method ?? '',
          path: redactPath(url.slice(0, 200)),
          rule: 'not-a-proxy-request',
          verdict: 'refused',
          status: 403,
        },
        Date.now(),
      );
      refuseResponse(
        res,
        403,
        'bot-bottle egress proxy: only CONNECT and absolute http:// requests are forwarded; ' +
          'configure this address as HTTP(S)_PROXY\n',
      );
      return;
    }
    handleRequest(ctx, req, res, t.target, t.path);
  });

  server.on('upgrade', (req: IncomingMessage, sock: Socket, head: Buffer) => {
    sock.on('error', () => undefined);
    const t = absoluteTarget(req.url ?? '');
    if (t === undefined) {
      rawRefusal(
        sock,
        400,
        'Bad Request',
        'bot-bottle egress proxy: a WebSocket through the proxy needs an absolute ws:// URL or CONNECT\n',
      );
      return;
    }
    req.url = t.path;
    handleUpgrade(ctx, req, sock, head, t.target);
  });

  // A malformed request line must not crash the proxy or hang the client.
  server.on('clientError', (_e, sock: Socket) => {
    rawRefusal(sock, 400, 'Bad Request', 'bot-bottle egress proxy: malformed request\n');
  });
  return server;
}

/** An absolute-form `http://` (or `ws://`) request target. */
function absoluteTarget(url: string): { target: Target; path: string } | undefined {
  if (!/^(?:http|ws):\/\//i.test(url)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  // The WHATWG parser already canonicalises IPv4 in any notation (0x7f.1 -> 127.0.0.1).
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return {
    target: { scheme: 'http', host, port: parsed.port === '' ? 80 : Number(parsed.port) },
    path: `${parsed.pathname}${parsed.search}`,
  };
}
