import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createForwardProxy,
  decide,
  HEALTH_PATH,
  splitAuthority,
  type EgressLogEntry,
} from '../../src/egress/forward-proxy.js';

/** Real sockets on loopback: the proxy, an echo server and an HTTP origin. */
describe('egress forward proxy', () => {
  const log: EgressLogEntry[] = [];
  let proxy: Server;
  let echo: ReturnType<typeof createTcpServer>;
  let origin: Server;
  let proxyPort = 0;
  let echoPort = 0;
  let originPort = 0;

  beforeAll(async () => {
    echo = createTcpServer((s) => s.pipe(s));
    origin = createHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`origin saw ${req.method ?? ''} ${req.url ?? ''}`);
    });
    proxy = createForwardProxy({
      policy: { allow: ['localhost', '*.example.test'], deny: ['blocked.example.test'] },
      slug: 'demo',
      log: (e) => log.push(e),
    });
    const listen = (s: Server | ReturnType<typeof createTcpServer>): Promise<number> =>
      new Promise((resolve) => {
        s.listen(0, '127.0.0.1', () => {
          resolve((s.address() as AddressInfo).port);
        });
      });
    [echoPort, originPort, proxyPort] = await Promise.all([
      listen(echo),
      listen(origin),
      listen(proxy),
    ]);
  });
  afterAll(() => {
    proxy.close();
    echo.close();
    origin.close();
  });

  /** Send raw bytes to the proxy; resolve with everything it answers. */
  const raw = (text: string, then?: string): Promise<string> =>
    new Promise((resolve) => {
      const s = connect(proxyPort, '127.0.0.1', () => s.write(text));
      let got = '';
      let sent = false;
      s.on('data', (c: Buffer) => {
        got += c.toString('utf8');
        if (then !== undefined && !sent && got.includes('\r\n\r\n')) {
          sent = true;
          s.write(then);
        }
        if (then !== undefined && got.includes(then)) s.end();
      });
      s.on('close', () => {
        resolve(got);
      });
      setTimeout(() => s.destroy(), 3000).unref();
    });

  it('tunnels CONNECT to an allowed host', async () => {
    const got = await raw(
      `CONNECT localhost:${echoPort} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
      'ping-through',
    );
    expect(got).toMatch(/^HTTP\/1\.1 200/);
    expect(got).toContain('ping-through');
    expect(log).toContainEqual(
      expect.objectContaining({ kind: 'connect', host: 'localhost', allowed: true, status: 200 }),
    );
  });

  it('refuses CONNECT to a host outside the allowlist with a 403 that says how to ask', async () => {
    const got = await raw('CONNECT evil.invalid:443 HTTP/1.1\r\nHost: evil.invalid\r\n\r\n');
    expect(got).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(got).toContain(
      "refused evil.invalid:443: evil.invalid is not in this bottle's egress allowlist",
    );
    expect(got).toContain("adds 'evil.invalid' to egress.allow");
  });

  it('lets deny win over a wildcard allow', async () => {
    const got = await raw('CONNECT blocked.example.test:443 HTTP/1.1\r\n\r\n');
    expect(got).toMatch(/^HTTP\/1\.1 403/);
    expect(got).toContain("blocked by the egress deny rule 'blocked.example.test'");
    expect(decide({ allow: ['*.example.test'], deny: [] }, 'a.example.test', 443).allowed).toBe(
      true,
    );
  });

  it('refuses CONNECT to a raw IP address that is not allowlisted', async () => {
    const got = await raw(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\n\r\n`);
    expect(got).toMatch(/^HTTP\/1\.1 403/);
  });

  it('forwards absolute-form HTTP to an allowed host and refuses others', async () => {
    const ok = await raw(
      `GET http://localhost:${originPort}/path?q=1 HTTP/1.1\r\nHost: localhost:${originPort}\r\nConnection: close\r\n\r\n`,
    );
    expect(ok).toMatch(/^HTTP\/1\.1 200/);
    expect(ok).toContain('origin saw GET /path?q=1');
    const denied = await raw(
      'GET http://evil.invalid/ HTTP/1.1\r\nHost: evil.invalid\r\nConnection: close\r\n\r\n',
    );
    expect(denied).toMatch(/^HTTP\/1\.1 403/);
    expect(denied).toContain('evil.invalid');
  });

  it('refuses requests that are not proxy requests, and malformed ones', async () => {
    const origin = await raw('GET /etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(origin).toMatch(/^HTTP\/1\.1 403/);
    expect(origin).toContain('only CONNECT and absolute http:// requests are forwarded');
    const garbage = await raw('\x16\x03\x01 not http at all\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);
    const badTarget = await raw('CONNECT no-port-here:99999 HTTP/1.1\r\n\r\n');
    expect(badTarget).toMatch(/^HTTP\/1\.1 400/);
  });

  it('answers its health path', async () => {
    const got = await raw(`GET ${HEALTH_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(got).toMatch(/^HTTP\/1\.1 200/);
  });

  it('parses CONNECT authorities', () => {
    expect(splitAuthority('Example.COM:8443', 443)).toEqual({ host: 'example.com', port: 8443 });
    expect(splitAuthority('[::1]:22', 443)).toEqual({ host: '::1', port: 22 });
    expect(splitAuthority('a b:1', 443)).toBeUndefined();
    expect(splitAuthority('host:0', 443)).toBeUndefined();
  });
});
