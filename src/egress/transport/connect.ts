import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { hostVerdict, splitAuthority } from '../decide/host.js';
import { unreachable } from '../decide/unreachable.js';
import { decide, isRefusal, type Refuse } from '../decide/verdict.js';
import type { Target } from '../types.js';
import type { ProxyContext } from './context.js';
import { handleRequest } from './forward.js';
import { cannotReachText, rawRefusal, writeRawRefusal } from './refusals.js';
import { handleUpgrade } from './upgrade.js';

/**
 * CONNECT: the host is judged before the tunnel opens. Passthrough hosts
 * are tunnelled as bytes; every other host is terminated here with a leaf
 * certificate from the bottle's CA, one TLS server per host and port, so
 * each request inside reaches `handleRequest` like a plain one.
 */
export function createConnectHandler(
  ctx: ProxyContext,
): (req: IncomingMessage, client: Socket, head: Buffer) => void {
  const tlsServerFor = createTlsServers(ctx);

  return (req, client, head) => {
    const started = Date.now();
    client.on('error', () => undefined);
    const target = splitAuthority(req.url ?? '', 443);
    if (target === undefined) {
      ctx.entry(
        'connect',
        { host: (req.url ?? '').slice(0, 200), port: 0 },
        { rule: 'malformed', verdict: 'refused', status: 400 },
        started,
      );
      rawRefusal(client, 400, 'Bad Request', 'bot-bottle egress proxy: CONNECT needs host:port\n');
      return;
    }
    const refuse = (v: Refuse, kind: 'connect' | 'tunnel' = 'connect'): void => {
      ctx.entry(
        kind,
        target,
        { rule: v.rule, verdict: 'refused', status: v.status, reason: v.why },
        started,
      );
      writeRawRefusal(client, v, ctx.slug(), `${target.host}:${target.port}`);
    };
    const v = decide('host', ctx.state, target, hostVerdict);
    if (isRefusal(v)) {
      refuse(v);
      return;
    }
    const state = ctx.state();
    const cannotReach = (kind: 'connect' | 'tunnel', e: unknown): void => {
      const u = unreachable(e);
      if (u.refuse !== undefined) {
        refuse(u.refuse, kind);
        return;
      }
      ctx.entry(
        kind,
        target,
        {
          rule: v.rule,
          verdict: 'refused',
          status: 502,
          reason: kind === 'connect' ? `cannot reach: ${u.why}` : u.why,
        },
        started,
      );
      rawRefusal(client, 502, 'Bad Gateway', cannotReachText(target.host, target.port, u.why));
    };
    if (v.passthrough) {
      state.upstream.dial(target.host, target.port, false).then(
        (up) => {
          let up0 = 0;
          let down0 = 0;
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length > 0) up.write(head);
          client.on('data', (c: Buffer) => (up0 += c.length));
          up.on('data', (c: Buffer) => (down0 += c.length));
          up.pipe(client);
          client.pipe(up);
          up.on('error', () => client.destroy());
          client.once('close', () => {
            up.destroy();
            ctx.entry(
              'tunnel',
              target,
              { rule: v.rule, verdict: 'allowed', status: 200, bytesUp: up0, bytesDown: down0 },
              started,
            );
          });
        },
        (e: unknown) => {
          cannotReach('tunnel', e);
        },
      );
      return;
    }
    client.pause();
    client.setNoDelay(true);
    // Resolve and check now, so a name leading to a private address is refused
    // before the tunnel opens; the dial for each request checks again.
    Promise.all([
      state.upstream.destination(target.host, target.port),
      tlsServerFor(target.host, target.port),
    ]).then(
      ([, tlsServer]) => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) client.unshift(head);
        tlsServer.emit('connection', client);
        client.resume();
      },
      (e: unknown) => {
        cannotReach('connect', e);
      },
    );
  };
}

/**
 * One TLS server per intercepted host and port, with a leaf from the
 * bottle's CA (made again when the leaf is renewed); each request and
 * upgrade inside goes to the transport like a plain one.
 */
function createTlsServers(ctx: ProxyContext): (host: string, port: number) => Promise<HttpsServer> {
  const tlsServers = new Map<string, { server: HttpsServer; notAfter: number }>();

  return async (host: string, port: number): Promise<HttpsServer> => {
    const key = `${host}:${port}`;
    const leaf = await ctx.state().minter.leaf(host);
    const cached = tlsServers.get(key);
    if (cached?.notAfter === leaf.notAfter.getTime()) return cached.server;
    const t: Target = { scheme: 'https', host, port };
    const server = createHttpsServer({
      key: leaf.keyPem,
      cert: leaf.certPem,
      ALPNProtocols: ['http/1.1'],
      keepAliveTimeout: 65_000,
    });
    server.on('secureConnection', (s: TLSSocket) => {
      if (typeof s.servername === 'string') ctx.servernames.set(s, s.servername);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      handleRequest(ctx, req, res, t, req.url ?? '/');
    });
    server.on('upgrade', (req: IncomingMessage, s: Socket, head: Buffer) => {
      handleUpgrade(ctx, req, s, head, t);
    });
    server.on('tlsClientError', (e: Error) => {
      ctx.entry(
        'connect',
        t,
        {
          rule: 'tls',
          verdict: 'refused',
          status: 0,
          reason: `TLS handshake with the agent failed: ${e.message}`,
        },
        Date.now(),
      );
    });
    tlsServers.set(key, { server, notAfter: leaf.notAfter.getTime() });
    return server;
  };
}
