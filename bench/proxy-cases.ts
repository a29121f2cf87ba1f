import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createSecureContext, type TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { AuditEntry } from '../src/egress/audit.js';
import { createCa, LeafMinter } from '../src/egress/ca.js';
import { emptyPolicy, type EgressPolicyConfig } from '../src/egress/config.js';
import { createEgressProxy } from '../src/egress/proxy.js';
import { buildState } from '../src/egress/state.js';
import { requestOver, tlsThrough } from '../test/helpers/via-proxy.js';

/**
 * Sends request cases through the real intercepting proxy to a local stub
 * upstream that answers for every host, and says for each whether the
 * proxy let it through. Every case host is allowed (exact, or by a
 * `*.domain` wildcard for sub-domains, as operators write them), so what is
 * measured is the scanner and the private-address guard, not the allowlist.
 */

export interface WsFrame {
  opcode: 'text' | 'binary' | 'continuation';
  payload: string;
  fin?: boolean;
  rsv1?: boolean;
  encoding?: string;
}

export interface ProxyCase {
  id: string;
  transport: 'http' | 'websocket';
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  responseBody?: string;
  frames?: WsFrame[];
}

export type Verdict = 'block' | 'allow';

function allowPatternFor(host: string): string {
  const labels = host.split('.');
  return labels.length <= 2 ? host : `*.${labels.slice(-2).join('.')}`;
}

/** One masked client frame, as a browser or CLI would send it. */
function frame(f: WsFrame): Buffer {
  const op = { text: 1, binary: 2, continuation: 0 }[f.opcode];
  const payload =
    f.encoding === 'base64' ? Buffer.from(f.payload, 'base64') : Buffer.from(f.payload, 'utf8');
  const b0 = ((f.fin ?? true) ? 0x80 : 0) | (f.rsv1 === true ? 0x40 : 0) | op;
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([b0, 0x80 | len])
      : len < 65536
        ? Buffer.from([b0, 0x80 | 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([b0, 0x80 | 127, 0, 0, 0, 0]), u32(len)]);
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([head, mask, masked]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

const listen = (s: Server): Promise<number> =>
  new Promise((r) => {
    s.listen(0, '127.0.0.1', () => {
      r((s.address() as AddressInfo).port);
    });
  });

export async function runThroughProxy(
  cases: readonly ProxyCase[],
  deny: readonly string[] = [],
): Promise<Map<string, Verdict>> {
  const stubCa = await createCa('cases-stub');
  const stubMinter = new LeafMinter(stubCa);
  const received = new Set<string>();
  const wsFrames = new Map<string, number>();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    req.on('end', () => {
      received.add(req.headers['x-case-id'] as string);
      const c = cases.find((x) => x.id === req.headers['x-case-id']);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(c?.responseBody ?? 'ok');
    });
  };
  const https = createHttpsServer(
    {
      SNICallback: (name, cb) => {
        stubMinter.leaf(name).then(
          (l) => {
            cb(null, createSecureContext({ cert: l.certPem, key: l.keyPem }));
          },
          (e: unknown) => {
            cb(e as Error);
          },
        );
      },
    },
    onRequest,
  );
  const http = createHttpServer(onRequest);
  for (const srv of [https, http]) {
    const wss = new WebSocketServer({ server: srv as Server });
    wss.on('connection', (ws, req) => {
      const id = new URL(req.url ?? '/', 'http://x').searchParams.get('case') ?? '';
      ws.on('message', () => wsFrames.set(id, (wsFrames.get(id) ?? 0) + 1));
    });
  }
  const [httpsPort, httpPort] = await Promise.all([listen(https as Server), listen(http)]);

  const hosts = new Set(cases.map((c) => new URL(c.url).hostname.replace(/^\[|\]$/g, '')));
  const named = [...hosts].filter((h) => !/^[\d.:]+$/.test(h) && !/^0x/i.test(h));
  const policy: EgressPolicyConfig = {
    ...emptyPolicy('cases'),
    allow: [
      ...new Set(named.flatMap((h) => [h.split('.').slice(-2).join('.'), allowPatternFor(h)])),
    ],
    deny: [...deny],
    hosts: Object.fromEntries(
      named.flatMap((h) => [[h, `127.0.0.1:${httpsPort}`]] as [string, string][]),
    ),
  };
  // Plain-http cases go to the stub's http port: the host map is per host, not per scheme.
  for (const c of cases) {
    const h = new URL(c.url).hostname;
    if (c.url.startsWith('http:') && policy.hosts[h] !== undefined) {
      policy.hosts[h] = `127.0.0.1:${httpPort}`;
    }
  }
  const ca = await createCa('cases');
  const log: AuditEntry[] = [];
  const state = buildState(policy, {
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    upstreamCaPem: stubCa.certPem,
    values: {},
  });
  const proxy = createEgressProxy({ state: () => state, log: (e) => log.push(e) });
  const proxyPort = await listen(proxy);

  const verdicts = new Map<string, Verdict>();
  for (const c of cases) {
    const verdict =
      c.transport === 'websocket'
        ? await sendWebSocket(c, proxyPort, ca.certPem, wsFrames)
        : await sendHttp(c, proxyPort, ca.certPem, received);
    verdicts.set(c.id, verdict);
  }
  proxy.closeAllConnections();
  proxy.close();
  https.close();
  http.close();
  state.upstream.close();
  return verdicts;
}

async function sendWebSocket(
  c: ProxyCase,
  proxyPort: number,
  caPem: string,
  wsFrames: Map<string, number>,
): Promise<Verdict> {
  const u = new URL(c.url);
  const sock = await tlsThrough(proxyPort, u.hostname, 443, caPem).catch(() => undefined);
  if (sock === undefined) return 'block';
  const key = randomBytes(16).toString('base64');
  sock.write(
    `GET ${u.pathname}?case=${c.id} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const answer = await new Promise<string>((r) =>
    sock.once('data', (d: Buffer) => {
      r(d.toString('latin1'));
    }),
  );
  if (!answer.startsWith('HTTP/1.1 101')) {
    sock.destroy();
    return 'block';
  }
  const closed = new Promise<boolean>((r) => {
    sock.on('data', (d: Buffer) => {
      if ((d[0] ?? 0) === 0x88) r(true);
    });
    sock.on('close', () => {
      r(true);
    });
    setTimeout(() => {
      r(false);
    }, 500);
  });
  for (const f of c.frames ?? []) sock.write(frame(f));
  const wasClosed = await closed;
  const delivered = wsFrames.get(c.id) ?? 0;
  const messages = (c.frames ?? []).filter((f) => f.fin !== false).length;
  sock.destroy();
  return wasClosed || delivered < messages ? 'block' : 'allow';
}

async function sendHttp(
  c: ProxyCase,
  proxyPort: number,
  caPem: string,
  received: Set<string>,
): Promise<Verdict> {
  const u = new URL(c.url);
  const headers: Record<string, string> = { 'x-case-id': c.id, ...c.headers };
  let status = 0;
  if (u.protocol === 'http:') {
    status = await new Promise<number>((resolve) => {
      const s: Socket = connect(proxyPort, '127.0.0.1', () => {
        const body = c.body ?? '';
        s.write(
          `${c.method ?? 'GET'} ${c.url} HTTP/1.1\r\nHost: ${u.host}\r\n` +
            Object.entries(headers)
              .map(([k, v]) => `${k}: ${v}\r\n`)
              .join('') +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('close', () => {
        resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0));
      });
    });
  } else {
    let sock: TLSSocket | undefined;
    try {
      sock = await tlsThrough(proxyPort, u.hostname, u.port === '' ? 443 : Number(u.port), caPem);
    } catch (e) {
      status = Number(/^HTTP\/1\.1 (\d+)/.exec(String(e).replace(/^Error: /, ''))?.[1] ?? 403);
    }
    if (sock !== undefined) {
      const r = await requestOver(sock, {
        method: c.method ?? 'GET',
        path: `${u.pathname}${u.search}`,
        headers: { host: u.host, ...headers },
        ...(c.body === undefined ? {} : { body: c.body }),
      });
      status = r.status;
      sock.destroy();
    }
  }
  return received.has(c.id) && status !== 403 ? 'allow' : 'block';
}
