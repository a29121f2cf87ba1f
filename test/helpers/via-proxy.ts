import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';

/**
 * A client that talks to a forward proxy the way agent CLIs do: CONNECT,
 * then TLS to the target inside the tunnel (trusting `ca`), then HTTP/1.1.
 */

export interface ProxiedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body's bytes as received (still in its content coding). */
  raw: Buffer;
  /** Times (ms since the request) at which body chunks arrived. */
  chunkTimes: number[];
  cert?: PeerCertificate;
}

export function connectTunnel(proxyPort: number, authority: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(proxyPort, '127.0.0.1', () => {
      s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    });
    let got = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      got = Buffer.concat([got, c]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      const head = got.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 200')) {
        s.on('data', (more: Buffer) => (got = Buffer.concat([got, more])));
        s.on('end', () => {
          reject(new Error(got.toString('utf8')));
        });
        return;
      }
      resolve(s);
    };
    s.on('data', onData);
    s.on('error', reject);
  });
}

export async function tlsThrough(
  proxyPort: number,
  host: string,
  port: number,
  ca: string,
  servername = host,
): Promise<TLSSocket> {
  const raw = await connectTunnel(proxyPort, `${host}:${port}`);
  return new Promise((resolve, reject) => {
    const t = tlsConnect({ socket: raw, servername, ca, ALPNProtocols: ['http/1.1'] }, () => {
      resolve(t);
    });
    t.on('error', reject);
  });
}

export function requestOver(
  socket: Socket,
  opts: { method?: string; path: string; headers: Record<string, string>; body?: string | Buffer },
): Promise<ProxiedResponse> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      createConnection: () => socket,
      method: opts.method ?? 'GET',
      path: opts.path,
      // Without an agent Node asks for `Connection: close`; tunnels here are reused.
      headers: { connection: 'keep-alive', ...opts.headers },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      const chunkTimes: number[] = [];
      res.on('data', (c: Buffer) => {
        chunkTimes.push(Date.now() - t0);
        chunks.push(c);
      });
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: raw.toString('utf8'),
          raw,
          chunkTimes,
          ...('getPeerCertificate' in socket
            ? { cert: (socket as TLSSocket).getPeerCertificate() }
            : {}),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** One HTTPS request through the proxy on a fresh tunnel. */
export async function httpsVia(
  proxyPort: number,
  url: string,
  ca: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<ProxiedResponse> {
  const u = new URL(url);
  const port = u.port === '' ? 443 : Number(u.port);
  let sock: Socket;
  try {
    sock = await tlsThrough(proxyPort, u.hostname, port, ca);
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
    if (status === 0) throw e;
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    return { status, headers: {}, body, raw: Buffer.from(body), chunkTimes: [] };
  }
  try {
    return await requestOver(sock, {
      ...opts,
      path: `${u.pathname}${u.search}`,
      headers: { host: u.host, ...opts.headers },
    });
  } finally {
    sock.destroy();
  }
}
