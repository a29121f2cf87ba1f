import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { randomBytes, X509Certificate } from 'node:crypto';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { AuditEntry } from '../../src/egress/audit.js';
import { createCa, type CaMaterial } from '../../src/egress/ca.js';
import {
  emptyPolicy,
  type EgressPolicyConfig,
  type EgressSecrets,
} from '../../src/egress/config.js';
import { BODY_HOLD_LIMIT, createEgressProxy, type ProxyState } from '../../src/egress/proxy.js';
import { DECODED_BODY_LIMIT } from '../../src/egress/types.js';
import { buildState } from '../../src/egress/state.js';
import { FAKE_CA_PATH } from '../fixtures/fake-llm.js';
import { connectTunnel, httpsVia, requestOver, tlsThrough } from '../helpers/via-proxy.js';

const TLS = `${import.meta.dirname}/../fixtures/tls/`;
/** Polls until `cond` holds (events on other sockets land in their own time). */
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

const REAL_KEY = 'sk-ant-api03-REAL-KEY-0123456789abcdefghijklmnopqrstuv';

/**
 * The intercepting proxy on real sockets: a TLS origin with the fixture
 * certificate (reached through the host map), a per-test CA, and a client
 * that does CONNECT + TLS like the agent CLIs.
 */
describe('intercepting egress proxy', () => {
  const log: AuditEntry[] = [];
  const redactedCounts: Record<string, number>[] = [];
  const seen: { url: string; headers: Record<string, unknown>; body: string; bytes: Buffer }[] = [];
  const arrived: string[] = [];
  const cutShort: string[] = [];
  let ca: CaMaterial;
  let origin: ReturnType<typeof createHttpsServer>;
  let wss: WebSocketServer;
  let proxy: Server;
  let proxyPort = 0;
  let originPort = 0;
  let state: ProxyState & { secrets: EgressSecrets };
  let secrets: EgressSecrets;

  const policy = (over: Partial<EgressPolicyConfig> = {}): EgressPolicyConfig => ({
    ...emptyPolicy('demo'),
    allow: [
      'api.fake-llm.test',
      'other.fake-llm.test',
      'pass.fake-llm.test',
      'evil.example.test',
      'mixed.example.test',
      '*.wild.test',
    ],
    deny: ['blocked.wild.test'],
    passthrough: ['pass.fake-llm.test'],
    routes: [{ host: 'api.fake-llm.test', headers: [{ name: 'x-api-key', secret: 'anthropic' }] }],
    hosts: {
      'api.fake-llm.test': `127.0.0.1:${originPort}`,
      'other.fake-llm.test': `127.0.0.1:${originPort}`,
      'pass.fake-llm.test': `127.0.0.1:${originPort}`,
    },
    ...over,
  });
  const apply = (p: EgressPolicyConfig): void => {
    state = buildState(p, secrets, state);
  };

  beforeAll(async () => {
    ca = await createCa('demo');
    origin = createHttpsServer(
      { cert: readFileSync(`${TLS}upstream.crt`), key: readFileSync(`${TLS}upstream.key`) },
      (req, res) => {
        const chunks: Buffer[] = [];
        arrived.push(req.url ?? '');
        req.on('close', () => {
          if (!req.complete) cutShort.push(req.url ?? '');
        });
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen.push({
            url: req.url ?? '',
            headers: req.headers,
            body: Buffer.concat(chunks).toString(),
            bytes: Buffer.concat(chunks),
          });
          if (req.url === '/sse') {
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            res.write('data: first\n\n');
            setTimeout(() => res.end('data: second\n\n'), 400);
            return;
          }
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(`origin ${req.method ?? ''} ${req.url ?? ''}`);
        });
      },
    );
    wss = new WebSocketServer({ noServer: true });
    origin.on('upgrade', (req, sock, head) => {
      if (req.url === '/refuse-upgrade') {
        const body = `upstream says no: ${'x'.repeat(20_000)} end`;
        sock.end(
          `HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\n` +
            `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        );
        return;
      }
      wss.handleUpgrade(req, sock, head, (ws) => wss.emit('connection', ws, req));
    });
    wss.on('connection', (ws, req) => {
      ws.send(`hello key=${String(req.headers['x-api-key'])}`);
      ws.on('message', (m: Buffer) => {
        ws.send(`echo ${m.toString()}`);
      });
    });
    const listen = (s: {
      listen: (p: number, h: string, cb: () => void) => unknown;
      address: () => unknown;
    }): Promise<number> =>
      new Promise((resolve) => {
        s.listen(0, '127.0.0.1', () => {
          resolve((s.address() as AddressInfo).port);
        });
      });
    originPort = await listen(origin);
    secrets = {
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      upstreamCaPem: readFileSync(FAKE_CA_PATH, 'utf8'),
      values: { anthropic: REAL_KEY },
    };
    state = buildState(policy(), secrets, undefined, {
      lookup: (host) => {
        if (host === 'evil.example.test')
          return Promise.resolve([{ address: '10.0.0.5', family: 4 }]);
        if (host === 'mixed.example.test')
          return Promise.resolve([
            { address: '93.184.216.34', family: 4 },
            { address: '127.0.0.1', family: 4 },
          ]);
        return Promise.reject(Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
      },
    });
    proxy = createEgressProxy({
      state: () => state,
      log: (e) => log.push(e),
      redacted: (c) => redactedCounts.push({ ...c }),
    });
    proxyPort = await listen(proxy);
  });
  afterAll(() => {
    proxy.closeAllConnections();
    proxy.close();
    origin.closeAllConnections();
    origin.close();
    state.upstream.close();
  });
  beforeEach(() => {
    apply(policy());
    log.length = 0;
    seen.length = 0;
    redactedCounts.length = 0;
    arrived.length = 0;
    cutShort.length = 0;
  });

  const url = (host: string, path = '/'): string => `https://${host}${path}`;

  it('terminates TLS with a leaf from the bottle CA and injects the route credential', async () => {
    const r = await httpsVia(proxyPort, url('api.fake-llm.test', '/v1/messages'), ca.certPem, {
      method: 'POST',
      headers: { 'x-api-key': 'placeholder', 'content-type': 'application/json' },
      body: '{"hello":"world"}',
    });
    expect(r.body).toBe('origin POST /v1/messages');
    expect(r.status).toBe(200);
    expect(seen[0]?.headers['x-api-key']).toBe(REAL_KEY);
    expect(seen[0]?.body).toBe('{"hello":"world"}');
    const leaf = new X509Certificate(r.cert?.raw ?? Buffer.alloc(0));
    expect(leaf.subjectAltName).toBe('DNS:api.fake-llm.test');
    expect(leaf.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    const e = log.find((l) => l.kind === 'https');
    expect(e).toMatchObject({
      verdict: 'allowed',
      status: 200,
      host: 'api.fake-llm.test',
      method: 'POST',
    });
    expect(e?.bytesUp).toBe(17);
  });

  it('streams an SSE response chunk by chunk', async () => {
    const r = await httpsVia(proxyPort, url('api.fake-llm.test', '/sse'), ca.certPem);
    expect(r.body).toBe('data: first\n\ndata: second\n\n');
    expect(r.chunkTimes.length).toBeGreaterThanOrEqual(2);
    // The first event arrived while the origin was still holding the second.
    expect((r.chunkTimes.at(-1) ?? 0) - (r.chunkTimes[0] ?? 0)).toBeGreaterThan(250);
  });

  it('keeps one tunnel alive across requests', async () => {
    const sock = await tlsThrough(proxyPort, 'api.fake-llm.test', 443, ca.certPem);
    const agentLike = { host: 'api.fake-llm.test', connection: 'keep-alive' };
    const a = await requestOver(sock, { path: '/one', headers: agentLike });
    const b = await requestOver(sock, { path: '/two', headers: agentLike });
    sock.destroy();
    expect([a.body, b.body]).toEqual(['origin GET /one', 'origin GET /two']);
  });

  it('refuses a host outside the allowlist with a body that says how to ask', async () => {
    const r = await httpsVia(proxyPort, url('nope.example.org'), ca.certPem);
    expect(r.status).toBe(403);
    expect(r.body).toContain('refused nope.example.org:443');
    expect(r.body).toContain('rule: no-allow-match');
    expect(r.body).toContain("supervise tool 'egress-block'");
    expect(log.at(-1)).toMatchObject({
      kind: 'connect',
      verdict: 'refused',
      rule: 'no-allow-match',
    });
  });

  it('lets deny win over a wildcard allow', async () => {
    expect((await httpsVia(proxyPort, url('blocked.wild.test'), ca.certPem)).body).toContain(
      'rule: deny blocked.wild.test',
    );
  });

  it('refuses a Host header that differs from the CONNECT host', async () => {
    const sock = await tlsThrough(proxyPort, 'other.fake-llm.test', 443, ca.certPem);
    const r = await requestOver(sock, { path: '/', headers: { host: 'api.fake-llm.test' } });
    sock.destroy();
    expect(r.status).toBe(403);
    expect(r.body).toContain('rule: host-mismatch');
    expect(seen).toHaveLength(0);
  });

  it('refuses when the TLS server name differs from the CONNECT host', async () => {
    const sock = await tlsThrough(
      proxyPort,
      'other.fake-llm.test',
      443,
      ca.certPem,
      'api.fake-llm.test',
    ).catch((e: unknown) => e);
    // The leaf names the CONNECT host, so a client checking names fails; one that does not is refused.
    expect(sock).toBeInstanceOf(Error);
    const raw = await connectTunnel(proxyPort, 'other.fake-llm.test:443');
    const { connect: tlsConnect } = await import('node:tls');
    const t = tlsConnect({
      socket: raw,
      servername: 'api.fake-llm.test',
      rejectUnauthorized: false,
    });
    await new Promise((r) => t.once('secureConnect', r));
    const r = await requestOver(t, { path: '/', headers: { host: 'other.fake-llm.test' } });
    t.destroy();
    expect(r.status).toBe(403);
    expect(r.body).toContain('rule: sni-mismatch');
    expect(seen).toHaveLength(0);
  });

  it('refuses a known secret format in the URL and names the pattern, not the value', async () => {
    const r = await httpsVia(
      proxyPort,
      url('other.fake-llm.test', '/x?k=AKIAIOSFODNN7EXAMPLE'),
      ca.certPem,
    );
    expect(r.status).toBe(403);
    expect(r.body).toContain('aws-access-key-id');
    expect(r.body).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(JSON.stringify(log)).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(seen).toHaveLength(0);
  });

  it("blocks the bottle's own credential going to another allowed host, in any encoding", async () => {
    const forms = [
      REAL_KEY,
      Buffer.from(`x${REAL_KEY}y`).toString('base64'),
      Buffer.from(REAL_KEY).toString('hex'),
      encodeURIComponent(REAL_KEY),
    ];
    for (const f of forms) {
      const r = await httpsVia(proxyPort, url('other.fake-llm.test', '/upload'), ca.certPem, {
        method: 'POST',
        body: `{"note":"${f}"}`,
      });
      expect(r.status, f).toBe(403);
      expect(r.body).toContain('bottle-secret');
    }
    expect(seen).toHaveLength(0);
  });

  it('in audit mode forwards what it would block and logs it as flagged', async () => {
    apply(policy({ mode: 'audit' }));
    const r = await httpsVia(
      proxyPort,
      url('other.fake-llm.test', '/x?k=AKIAIOSFODNN7EXAMPLE'),
      ca.certPem,
    );
    expect(r.status).toBe(200);
    expect(log.at(-1)).toMatchObject({ verdict: 'flagged', rule: 'allow other.fake-llm.test' });
    expect(log.at(-1)?.path).toBe('/x?k=');
  });

  it('refuses names that resolve to private addresses, and literal addresses in any notation', async () => {
    const evil = await httpsVia(proxyPort, url('evil.example.test'), ca.certPem);
    expect(evil.status).toBe(403);
    expect(evil.body).toContain('10.0.0.5, a private address');
    const mixed = await httpsVia(proxyPort, url('mixed.example.test'), ca.certPem);
    expect(mixed.body).toContain('127.0.0.1, a loopback address');
    for (const lit of [
      '127.0.0.1',
      '2130706433',
      '0x7f.1',
      '0177.0.0.1',
      '[::ffff:127.0.0.1]',
      '169.254.169.254',
      '[::1]',
    ]) {
      const r = await connectTunnel(proxyPort, `${lit}:443`).then(
        () => 'tunnel opened',
        (e: unknown) => String(e),
      );
      expect(r, lit).toMatch(/403 Forbidden[\s\S]*private-address/);
    }
  });

  it('applies method and path rules to an allowed host', async () => {
    apply(
      policy({ rules: [{ host: 'other.fake-llm.test', methods: ['GET'], paths: ['/repos/ok/'] }] }),
    );
    expect(
      (await httpsVia(proxyPort, url('other.fake-llm.test', '/repos/ok/x'), ca.certPem)).status,
    ).toBe(200);
    const post = await httpsVia(proxyPort, url('other.fake-llm.test', '/repos/ok/x'), ca.certPem, {
      method: 'POST',
      body: 'a',
    });
    expect(post.status).toBe(403);
    expect(post.body).toContain('matches none of the method/path rules');
    expect(
      (await httpsVia(proxyPort, url('other.fake-llm.test', '/repos/other'), ca.certPem)).status,
    ).toBe(403);
  });

  it('normalises dot segments before the rules and sends upstream the path it judged', async () => {
    apply(policy({ rules: [{ host: 'other.fake-llm.test', paths: ['/repos/ok/'] }] }));
    const sock = await tlsThrough(proxyPort, 'other.fake-llm.test', 443, ca.certPem);
    const h = { host: 'other.fake-llm.test' };
    const escape = await requestOver(sock, { path: '/repos/ok/../../admin', headers: h });
    expect(escape.status).toBe(403);
    expect(escape.body).toContain('GET /admin matches none of the method/path rules');
    const inside = await requestOver(sock, { path: '/repos/ok/./a/../b?n=/../x', headers: h });
    expect(inside.body).toBe('origin GET /repos/ok/b?n=/../x');
    for (const p of [
      '/repos/ok/%2e%2e/%2e%2e/admin',
      '/repos/ok/..%2f..%2fadmin',
      '/repos/ok/..\\..\\admin',
      '/repos/ok/%252e%252e/admin',
    ]) {
      const r = await requestOver(sock, { path: p, headers: h });
      expect(r.status, p).toBe(400);
      expect(r.body, p).toContain('rule: path-encoding');
      expect(r.body, p).toMatch(/the path contains (an encoded|a double-encoded|a backslash)/);
    }
    // Absolute form inside a tunnel would let the upstream pick another virtual host.
    const abs = await requestOver(sock, { path: 'https://elsewhere.test/repos/ok/', headers: h });
    expect(abs.status).toBe(400);
    expect(abs.body).toContain('origin form');
    sock.destroy();
    expect(seen.map((s) => s.url)).toEqual(['/repos/ok/b?n=/../x']);
    expect(log.find((l) => l.status === 400)?.reason).toContain("encoded '.'");
    apply(policy());
    const free = await httpsVia(proxyPort, url('other.fake-llm.test', '/a/b/../c/%41'), ca.certPem);
    expect(free.body).toBe('origin GET /a/c/%41');
  });

  it('applies a new policy to an open tunnel without dropping it', async () => {
    const sock = await tlsThrough(proxyPort, 'other.fake-llm.test', 443, ca.certPem);
    const h = { host: 'other.fake-llm.test' };
    expect((await requestOver(sock, { path: '/a', headers: h })).body).toBe('origin GET /a');
    apply(policy({ deny: ['other.fake-llm.test'], revision: 2 }));
    const r = await requestOver(sock, { path: '/b', headers: h });
    expect(r.status).toBe(403);
    expect(r.body).toContain('rule: deny other.fake-llm.test');
    apply(policy({ revision: 3 }));
    expect((await requestOver(sock, { path: '/c', headers: h })).status).toBe(200);
    sock.destroy();
  });

  it('tunnels passthrough hosts without interception', async () => {
    const t = await tlsThrough(
      proxyPort,
      'pass.fake-llm.test',
      443,
      readFileSync(FAKE_CA_PATH, 'utf8'),
    );
    expect(t.getPeerCertificate().issuer.CN).toContain('test fixture CA');
    const r = await requestOver(t, {
      path: '/p',
      headers: { host: 'pass.fake-llm.test', 'x-api-key': 'placeholder' },
    });
    t.destroy();
    expect(r.body).toBe('origin GET /p');
    expect(seen[0]?.headers['x-api-key']).toBe('placeholder');
  });

  it('relays a WebSocket through the interception with the credential injected', async () => {
    const sock = await tlsThrough(proxyPort, 'api.fake-llm.test', 443, ca.certPem);
    // Not an LLM API path: a finding closes the socket (LLM sockets redact, below).
    const ws = new WebSocket('wss://api.fake-llm.test/socket', {
      createConnection: () => sock,
      headers: { 'x-api-key': 'placeholder' },
    });
    const got: string[] = [];
    const closed = new Promise<number>((resolve) =>
      ws.on('close', (code: number) => {
        resolve(code);
      }),
    );
    ws.on('message', (m: Buffer) => {
      got.push(m.toString());
      if (got.length === 1) ws.send('ping');
      else if (got.length === 2) ws.send(`leak ${REAL_KEY}`);
    });
    expect(await closed).toBe(1008);
    expect(got).toEqual([`hello key=${REAL_KEY}`, 'echo ping']);
    await waitFor(() => log.some((l) => l.kind === 'websocket'));
    expect(log.find((l) => l.kind === 'websocket')).toMatchObject({
      verdict: 'refused',
      status: 101,
    });
  });

  it("passes the upstream's refusal of a WebSocket upgrade whole, and keeps serving", async () => {
    const sock = await tlsThrough(proxyPort, 'api.fake-llm.test', 443, ca.certPem);
    const ws = new WebSocket('wss://api.fake-llm.test/refuse-upgrade', {
      createConnection: () => sock,
    });
    const got = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      ws.on('open', () => {
        reject(new Error('upgrade was accepted'));
      });
    });
    expect(got.status).toBe(401);
    expect(got.body).toBe(`upstream says no: ${'x'.repeat(20_000)} end`);
    expect((await httpsVia(proxyPort, url('api.fake-llm.test', '/after'), ca.certPem)).status).toBe(
      200,
    );
  });

  it('accepts a host written with a trailing dot in CONNECT, TLS server name and Host', async () => {
    const sock = await tlsThrough(proxyPort, 'other.fake-llm.test.', 443, ca.certPem);
    const r = await requestOver(sock, { path: '/dot', headers: { host: 'other.fake-llm.test.' } });
    sock.destroy();
    expect(r.status).toBe(200);
    expect(r.body).toBe('origin GET /dot');
  });

  it('streams a body larger than it holds, scanning as it goes', async () => {
    const big = Buffer.alloc(9 * 1024 * 1024, 97);
    const ok = await httpsVia(proxyPort, url('other.fake-llm.test', '/upload'), ca.certPem, {
      method: 'POST',
      body: big,
    });
    expect(ok.status).toBe(200);
    expect(seen[0]?.body.length).toBe(big.length);
    seen.length = 0;
    const leaky = Buffer.concat([
      big,
      Buffer.from(' AKIAIOSFODNN7EXAMPLE '),
      Buffer.alloc(1024 * 1024, 98),
    ]);
    const cut = await httpsVia(proxyPort, url('other.fake-llm.test', '/upload'), ca.certPem, {
      method: 'POST',
      body: leaky,
    }).catch((e: unknown) => ({ status: 0, body: String(e) }));
    expect([0, 403]).toContain(cut.status);
    expect(seen.find((r) => r.body.length === leaky.length)).toBeUndefined();
    expect(log.at(-1)).toMatchObject({ verdict: 'refused', rule: 'dlp aws-access-key-id' });
    expect(log.at(-1)?.reason).toContain('the upload was cut off');
  });

  it('answers garbage and non-proxy requests with a clear error, and keeps serving', async () => {
    const rawSend = (text: string): Promise<string> =>
      new Promise((resolve) => {
        const s = connect(proxyPort, '127.0.0.1', () => s.write(text));
        let got = '';
        s.on('data', (c: Buffer) => (got += c.toString()));
        s.on('close', () => {
          resolve(got);
        });
      });
    expect(await rawSend('\x00\x01garbage\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await rawSend('CONNECT a:b:c HTTP/1.1\r\n\r\n')).toContain('CONNECT needs host:port');
    expect(await rawSend('GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).toContain(
      'only CONNECT and absolute',
    );
    const r = await httpsVia(proxyPort, url('api.fake-llm.test', '/after'), ca.certPem);
    expect(r.status).toBe(200);
  });

  describe('LLM API routes (egress.llm)', () => {
    const AWS = 'AKIAIOSFODNN7EXAMPLE';
    const STRIPE = 'sk_live_51HqLyjWDarjtT1zdp7dc4eC39HqLyjWD';
    const messages = (text: string): string =>
      JSON.stringify({
        model: 'claude-sonnet-4-5',
        max_tokens: 64,
        messages: [{ role: 'user', content: [{ type: 'text', text }] }],
      });
    const post = (
      path: string,
      body: string | Buffer,
      headers: Record<string, string> = {},
      host = 'api.fake-llm.test',
    ): ReturnType<typeof httpsVia> =>
      httpsVia(proxyPort, url(host, path), ca.certPem, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const anthropicError = (
      body: string,
    ): { type: string; error: { type: string; message: string } } =>
      JSON.parse(body) as { type: string; error: { type: string; message: string } };

    it('redacts secrets in the body, sends the call on and counts them (default redact)', async () => {
      const r = await post('/v1/messages?beta=true', messages(`keys: ${AWS} and ${STRIPE}`));
      expect(r.status).toBe(200);
      expect(seen).toHaveLength(1);
      const sent = seen[0]?.body ?? '';
      expect(sent).not.toContain(AWS);
      expect(sent).not.toContain(STRIPE);
      const text = (JSON.parse(sent) as { messages: { content: { text: string }[] }[] }).messages[0]
        ?.content[0]?.text;
      expect(text).toBe('keys: [REDACTED aws-access-key-id] and [REDACTED stripe-key]');
      expect(Number(seen[0]?.headers['content-length'])).toBe(Buffer.byteLength(sent));
      expect(seen[0]?.headers['x-api-key']).toBe(REAL_KEY);
      const e = log.find((l) => l.kind === 'https');
      expect(e).toMatchObject({
        verdict: 'redacted',
        status: 200,
        redactions: { 'aws-access-key-id': 1, 'stripe-key': 1 },
      });
      expect(JSON.stringify(log)).not.toContain(AWS);
      expect(redactedCounts).toEqual([{ 'aws-access-key-id': 1, 'stripe-key': 1 }]);
    });

    it("redacts the bottle's own route credential sent in the conversation", async () => {
      const r = await post('/v1/messages', messages(`my key is ${REAL_KEY}`));
      expect(r.status).toBe(200);
      expect(seen[0]?.body).not.toContain(REAL_KEY);
      expect(seen[0]?.body).toContain('[REDACTED bottle-secret]');
    });

    it('decodes a gzip body, redacts it and sends it on uncompressed', async () => {
      const r = await post('/v1/chat/completions', gzipSync(Buffer.from(messages(`id ${AWS}`))), {
        'content-encoding': 'gzip',
      });
      expect(r.status).toBe(200);
      expect(seen[0]?.headers['content-encoding']).toBeUndefined();
      expect(seen[0]?.body).toContain('[REDACTED aws-access-key-id]');
      expect(seen[0]?.body).not.toContain(AWS);
    });

    it('forwards a clean body byte for byte, with its own encoding', async () => {
      const gz = gzipSync(Buffer.from(messages('hello')));
      const r = await post('/v1/messages', gz, { 'content-encoding': 'gzip' });
      expect(r.status).toBe(200);
      expect(seen[0]?.headers['content-encoding']).toBe('gzip');
      expect(log.at(-1)?.verdict).toBe('allowed');
      expect(redactedCounts).toEqual([]);
    });

    it("refuses in the API's own 400 shape where it must (refuse mode), never a 403", async () => {
      apply(policy({ llm: 'refuse' }));
      const r = await post('/v1/messages', messages(`key ${AWS}`));
      expect(r.status).toBe(400);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-should-retry']).toBe('false');
      const e = anthropicError(r.body);
      expect(e.type).toBe('error');
      expect(e.error.type).toBe('invalid_request_error');
      expect(e.error.message).toContain('aws-access-key-id');
      expect(e.error.message).toContain('egress.llm: refuse');
      expect(e.error.message).not.toContain(AWS);
      expect(seen).toHaveLength(0);
      const o = await post('/v1/chat/completions', messages(`key ${STRIPE}`));
      expect(o.status).toBe(400);
      expect(JSON.parse(o.body)).toMatchObject({
        error: { type: 'invalid_request_error', code: 'secret_in_request' },
      });
      expect(seen).toHaveLength(0);
    });

    it('in audit mode forwards the body unchanged and logs the findings', async () => {
      apply(policy({ llm: 'audit' }));
      const r = await post('/v1/messages', messages(`key ${AWS}`));
      expect(r.status).toBe(200);
      expect(seen[0]?.body).toContain(AWS);
      expect(log.at(-1)).toMatchObject({ verdict: 'flagged' });
      expect(log.at(-1)?.reason).toContain('aws-access-key-id');
      expect(redactedCounts).toEqual([]);
    });

    it('refuses (API shape) a secret split across JSON strings, which it cannot redact honestly', async () => {
      const body = JSON.stringify({
        model: 'm',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: AWS.slice(0, 10) },
              { type: 'text', text: AWS.slice(10) },
            ],
          },
        ],
      });
      const r = await post('/v1/messages', body);
      expect(r.status).toBe(400);
      expect(anthropicError(r.body).error.message).toContain('cannot be redacted in place');
      expect(seen).toHaveLength(0);
    });

    it('refuses (API shape) a secret in the URL or a header, and bodies it cannot read', async () => {
      const inUrl = await post(`/v1/messages?k=${AWS}`, messages('hi'));
      expect(inUrl.status).toBe(400);
      expect(anthropicError(inUrl.body).error.message).toContain('URL or headers');
      const inHeader = await post('/v1/messages', messages('hi'), { 'x-note': STRIPE });
      expect(inHeader.status).toBe(400);
      const unknown = await post('/v1/messages', messages(AWS), { 'content-encoding': 'zstd' });
      expect(unknown.status).toBe(400);
      expect(anthropicError(unknown.body).error.message).toContain("content-encoding 'zstd'");
      const stacked = await post('/v1/messages', gzipSync(gzipSync(Buffer.from(messages(AWS)))), {
        'content-encoding': 'gzip, gzip',
      });
      expect(stacked.status).toBe(400);
      const broken = await post('/v1/messages', Buffer.from('not gzip at all'), {
        'content-encoding': 'gzip',
      });
      expect(broken.status).toBe(400);
      expect(anthropicError(broken.body).error.message).toContain('does not decode as gzip');
      expect(seen).toHaveLength(0);
    });

    it('holds LLM bodies up to 32 MiB and refuses larger ones in the API shape (413)', async () => {
      const image = Buffer.alloc(12 * 1024 * 1024, 3).toString('base64');
      const big = JSON.stringify({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', source: { data: image } },
              { type: 'text', text: `late ${AWS}` },
            ],
          },
        ],
      });
      expect(big.length).toBeGreaterThan(16 * 1024 * 1024);
      const ok = await post('/v1/messages', big);
      expect(ok.status).toBe(200);
      expect(seen[0]?.body.length).toBe(
        big.length + '[REDACTED aws-access-key-id]'.length - AWS.length,
      );
      expect(seen[0]?.body).not.toContain(AWS);
      seen.length = 0;
      const huge = Buffer.alloc(33 * 1024 * 1024, 0x61);
      const r = await post('/v1/messages', huge).catch((e: unknown) => ({
        status: 0,
        body: String(e),
        headers: {},
      }));
      expect(r.status).toBe(413);
      expect(anthropicError(r.body).error.type).toBe('request_too_large');
      expect(seen).toHaveLength(0);
    });

    it('redacts messages on a Responses WebSocket and answers what it must refuse on the socket', async () => {
      const sock = await tlsThrough(proxyPort, 'api.fake-llm.test', 443, ca.certPem);
      const ws = new WebSocket('wss://api.fake-llm.test/v1/responses', {
        createConnection: () => sock,
      });
      const got: string[] = [];
      const next = (): Promise<string> =>
        new Promise((resolve) =>
          ws.once('message', (m: Buffer) => {
            resolve(m.toString());
          }),
        );
      got.push(await next());
      ws.send(JSON.stringify({ type: 'response.create', input: `key ${AWS}` }));
      got.push(await next());
      const split = JSON.stringify({
        type: 'response.create',
        input: [{ text: AWS.slice(0, 10) }, { text: AWS.slice(10) }],
      });
      ws.send(split);
      got.push(await next());
      ws.send('{"type":"response.create","input":"still open"}');
      got.push(await next());
      ws.close();
      expect(got[1]).toBe(
        'echo {"type":"response.create","input":"key [REDACTED aws-access-key-id]"}',
      );
      const err = JSON.parse(got[2] ?? '') as {
        type: string;
        status: number;
        error: { type: string };
      };
      expect(err).toMatchObject({
        type: 'error',
        status: 400,
        error: { type: 'invalid_request_error' },
      });
      expect(got[3]).toBe('echo {"type":"response.create","input":"still open"}');
      expect(JSON.stringify(got)).not.toContain(AWS);
      expect(redactedCounts).toEqual([{ 'aws-access-key-id': 1 }]);
      await new Promise((r) => setTimeout(r, 50));
      expect(log.filter((l) => l.kind === 'websocket').at(-1)).toMatchObject({
        verdict: 'refused',
        redactions: { 'aws-access-key-id': 1 },
      });
    });

    it('keeps refusing with 403 on other hosts and on paths that are not LLM calls', async () => {
      const other = await post('/upload', messages(`key ${AWS}`), {}, 'other.fake-llm.test');
      expect(other.status).toBe(403);
      expect(other.body).toContain('aws-access-key-id');
      const files = await post('/v1/files', messages(`key ${AWS}`));
      expect(files.status).toBe(403);
      expect(seen).toHaveLength(0);
    });
  });

  describe('request bodies in any encoding', () => {
    const KEY = 'AKIAIOSFODNN7EXAMPLE';
    const post = (body: Buffer, headers: Record<string, string>, path = '/upload') =>
      httpsVia(proxyPort, url('other.fake-llm.test', path), ca.certPem, {
        method: 'POST',
        headers,
        body,
      }).catch((e: unknown) => ({ status: 0, body: String(e), headers: {}, chunkTimes: [] }));
    const secret = Buffer.from(`{"note":"key ${KEY} here"}`);

    it('decodes gzip, x-gzip, deflate (zlib and raw) and br before scanning', async () => {
      const forms: [string, Buffer][] = [
        ['gzip', gzipSync(secret)],
        ['x-gzip', gzipSync(secret)],
        ['deflate', deflateSync(secret)],
        ['deflate', deflateRawSync(secret)],
        ['br', brotliCompressSync(secret)],
        ['identity', secret],
        ['GZIP', gzipSync(secret)],
      ];
      for (const [coding, body] of forms) {
        const r = await post(body, { 'content-encoding': coding });
        expect(r.status, coding).toBe(403);
        expect(r.body, coding).toContain('aws-access-key-id in body');
      }
      expect(seen).toHaveLength(0);
      const clean = gzipSync(Buffer.from('{"note":"nothing here"}'));
      const ok = await post(clean, { 'content-encoding': 'gzip' });
      expect(ok.status).toBe(200);
      // Upstream gets the body as the agent encoded it.
      expect(seen[0]?.bytes.equals(clean)).toBe(true);
      expect(seen[0]?.headers['content-encoding']).toBe('gzip');
    });

    it('refuses stacked, unknown and transfer codings with 415 naming them', async () => {
      const cases: [Record<string, string>, string][] = [
        [
          { 'content-encoding': 'gzip, gzip' },
          'encoded more than once (content-encoding: gzip, gzip)',
        ],
        [{ 'content-encoding': 'gzip,br' }, 'encoded more than once (content-encoding: gzip, br)'],
        [{ 'content-encoding': 'zstd' }, "content-encoding 'zstd' cannot be decoded"],
        [{ 'content-encoding': 'compress' }, "content-encoding 'compress' cannot be decoded"],
        [{ 'content-encoding': 'x-made-up' }, "content-encoding 'x-made-up' cannot be decoded"],
        [{ 'transfer-encoding': 'gzip, chunked' }, "transfer-coding 'gzip'"],
      ];
      for (const [headers, why] of cases) {
        const r = await post(gzipSync(gzipSync(secret)), headers);
        expect(r.status, why).toBe(415);
        expect(r.body, why).toContain(why);
      }
      expect(seen).toHaveLength(0);
    });

    it('refuses a body that does not decode, or ends mid-stream, with 400', async () => {
      const broken = Buffer.from(gzipSync(secret));
      broken.fill(0x41, 12, 30);
      const bad = await post(broken, { 'content-encoding': 'gzip' });
      expect(bad.status).toBe(400);
      expect(bad.body).toContain('does not decode as gzip');
      const short = await post(gzipSync(secret).subarray(0, 20), { 'content-encoding': 'gzip' });
      expect(short.status).toBe(400);
      expect(short.body).toContain('unexpected end of file');
      // deflate and br decoders stop at their stream's end; what follows would go unscanned.
      for (const [coding, body] of [
        ['deflate', deflateSync('clean')],
        ['br', brotliCompressSync('clean')],
      ] as const) {
        const trailing = await post(Buffer.concat([body, Buffer.from(` ${KEY} `)]), {
          'content-encoding': coding,
        });
        expect(trailing.status, coding).toBe(400);
        expect(trailing.body, coding).toContain('bytes after the end of the compressed stream');
      }
      const notBr = await post(Buffer.from('plain text, not brotli'), { 'content-encoding': 'br' });
      expect(notBr.status).toBe(400);
      expect(notBr.body).toContain('does not decode as br');
      expect(seen).toHaveLength(0);
    });

    it('refuses a compression bomb with 413 instead of scanning part of it', async () => {
      const bomb = gzipSync(
        Buffer.concat([Buffer.alloc(DECODED_BODY_LIMIT + 1024), Buffer.from(` ${KEY} `)]),
      );
      expect(bomb.length).toBeLessThan(BODY_HOLD_LIMIT);
      const r = await post(bomb, { 'content-encoding': 'gzip' });
      expect(r.status).toBe(413);
      expect(r.body).toContain('decodes to more than 64 MiB');
      expect(seen).toHaveLength(0);
      expect(log.at(-1)).toMatchObject({ verdict: 'refused', rule: 'body-decoded-size' });
    });

    it('decodes and scans an encoded body too large to hold as it streams, and cuts it', async () => {
      const noise = randomBytes(BODY_HOLD_LIMIT + 1024 * 1024);
      const clean = gzipSync(noise, { level: 1 });
      expect(clean.length).toBeGreaterThan(BODY_HOLD_LIMIT);
      const ok = await post(clean, { 'content-encoding': 'gzip' });
      expect(ok.status).toBe(200);
      expect(seen[0]?.bytes.length).toBe(clean.length);
      seen.length = 0;
      const leaky = gzipSync(
        Buffer.concat([noise, Buffer.from(` ${KEY} `), randomBytes(1024 * 1024)]),
        { level: 1 },
      );
      const cut = await post(leaky, { 'content-encoding': 'gzip' });
      expect([0, 403]).toContain(cut.status);
      await waitFor(() => log.some((l) => l.rule === 'dlp aws-access-key-id'));
      expect(seen).toHaveLength(0);
      expect(log.find((l) => l.rule === 'dlp aws-access-key-id')?.reason).toContain(
        'aws-access-key-id in body (streamed)',
      );
    });

    it('cuts a streamed body whose compressed stream ends before the body does', async () => {
      const body = Buffer.concat([
        deflateRawSync('clean'),
        Buffer.alloc(BODY_HOLD_LIMIT + 1024 * 1024, 97),
        Buffer.from(` ${KEY} `),
      ]);
      const r = await post(body, { 'content-encoding': 'deflate' });
      expect(r.status).toBe(400);
      expect(r.body).toContain('bytes after the end of the compressed stream');
      expect(arrived).toEqual([]);
    });

    it('aborts the upstream request when a streamed compressed body ends incomplete', async () => {
      const whole = gzipSync(randomBytes(BODY_HOLD_LIMIT + 1024 * 1024), { level: 1 });
      const r = await post(whole.subarray(0, whole.length - 100), { 'content-encoding': 'gzip' });
      expect([0, 400]).toContain(r.status);
      await waitFor(() => cutShort.length > 0);
      expect(seen).toHaveLength(0);
      expect(log.find((l) => l.rule === 'body-encoding undecodable')?.reason).toContain(
        '(unexpected end of file), so it cannot be scanned; the upload was cut off',
      );
    });

    it('aborts the upstream request when the agent goes away mid-body', async () => {
      const sock = await tlsThrough(proxyPort, 'other.fake-llm.test', 443, ca.certPem);
      const size = BODY_HOLD_LIMIT + 4 * 1024 * 1024;
      const part = Buffer.alloc(BODY_HOLD_LIMIT + 1024 * 1024, 97);
      sock.write(
        `POST /partial HTTP/1.1\r\nhost: other.fake-llm.test\r\ncontent-length: ${size}\r\n\r\n`,
      );
      sock.write(part);
      await waitFor(() => arrived.includes('/partial'));
      sock.destroy();
      await waitFor(() => cutShort.includes('/partial'));
      expect(seen).toHaveLength(0);
      await waitFor(() => log.some((l) => l.rule === 'body-truncated'));
      // A held body is never sent at all.
      const held = await tlsThrough(proxyPort, 'other.fake-llm.test', 443, ca.certPem);
      held.write(
        'POST /held HTTP/1.1\r\nhost: other.fake-llm.test\r\ncontent-length: 1000\r\n\r\nabc',
      );
      await new Promise((r) => setImmediate(r));
      held.destroy();
      await waitFor(() => log.filter((l) => l.rule === 'body-truncated').length === 2);
      expect(arrived).not.toContain('/held');
    });

    it('forwards in audit mode what it cannot read, logged with the reason', async () => {
      apply(policy({ mode: 'audit' }));
      const stacked = await post(gzipSync(gzipSync(secret)), { 'content-encoding': 'gzip, gzip' });
      expect(stacked.status).toBe(200);
      expect(log.at(-1)).toMatchObject({ verdict: 'flagged' });
      expect(log.at(-1)?.reason).toContain('encoded more than once');
      const bomb = gzipSync(Buffer.alloc(DECODED_BODY_LIMIT + 1024));
      expect((await post(bomb, { 'content-encoding': 'gzip' })).status).toBe(200);
      expect(log.at(-1)?.reason).toContain('decodes to more than 64 MiB');
      expect((await post(gzipSync(secret), { 'content-encoding': 'gzip' })).status).toBe(200);
      expect(log.at(-1)?.reason).toContain('aws-access-key-id in body');
      expect(seen).toHaveLength(3);
    });
  });

  describe('WebSocket messages the scanner cannot read', () => {
    const KEY = 'AKIAIOSFODNN7EXAMPLE';
    const open = async (): Promise<{
      ws: WebSocket;
      got: string[];
      closed: Promise<{ code: number; reason: string }>;
    }> => {
      const sock = await tlsThrough(proxyPort, 'api.fake-llm.test', 443, ca.certPem);
      // Not an LLM route: text messages there are redacted instead (egress.llm).
      const ws = new WebSocket('wss://api.fake-llm.test/v1/stream', {
        createConnection: () => sock,
      });
      const got: string[] = [];
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        ws.on('close', (code: number, reason: Buffer) => {
          resolve({ code, reason: reason.toString() });
        }),
      );
      ws.on('error', () => undefined);
      await new Promise<void>((resolve) =>
        ws.on('message', (m: Buffer) => {
          got.push(m.toString('latin1'));
          if (got.length === 1) resolve();
        }),
      );
      return { ws, got, closed };
    };
    const lastWs = (): AuditEntry | undefined => log.filter((l) => l.kind === 'websocket').at(-1);

    it('decodes compressed payloads and refuses the secrets in them', async () => {
      const plain = Buffer.from(`{"input":"${KEY}"}`);
      for (const payload of [gzipSync(plain), deflateSync(plain)]) {
        const { ws, got, closed } = await open();
        ws.send(payload, { binary: true });
        const c = await closed;
        expect(c.code).toBe(1008);
        expect(c.reason).toContain('aws-access-key-id');
        expect(got).toHaveLength(1);
      }
    });

    it('refuses a compressed payload that does not decode, or decodes past the limit', async () => {
      const junk = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), randomBytes(64)]);
      const a = await open();
      a.ws.send(junk, { binary: true });
      expect((await a.closed).code).toBe(1008);
      await waitFor(() => lastWs() !== undefined);
      expect(lastWs()?.reason).toContain('the websocket message does not decode as gzip');
      const b = await open();
      b.ws.send(gzipSync(Buffer.alloc(DECODED_BODY_LIMIT + 1)), { binary: true });
      expect((await b.closed).code).toBe(1008);
      await waitFor(() => lastWs()?.reason?.includes('64 MiB') === true);
      expect(lastWs()?.reason).toContain('decodes to more than 64 MiB');
    });

    it('passes binary that is not compressed, and scans a message past the scanner window', async () => {
      const { ws, got, closed } = await open();
      const bin = Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x42]);
      ws.send(bin, { binary: true });
      await new Promise<void>((resolve) =>
        ws.on('message', () => {
          resolve();
        }),
      );
      expect(got[1]).toBe(Buffer.from(`echo ${bin.toString()}`).toString('latin1'));
      ws.send(`${'a'.repeat(BODY_HOLD_LIMIT + 10)} ${KEY} `);
      expect((await closed).code).toBe(1008);
      expect(got).toHaveLength(2);
    });

    it('closes a socket whose agent sends a frame compressed without negotiating it', async () => {
      const { ws, got, closed } = await open();
      const payload = Buffer.from(`leak ${KEY}`);
      const mask = randomBytes(4);
      const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] ?? 0)));
      // FIN + RSV1 (permessage-deflate) + text; masked, as a client must.
      const frame = Buffer.concat([Buffer.from([0xc1, 0x80 | payload.length]), mask, masked]);
      (ws as unknown as { _socket: { write: (b: Buffer) => void } })._socket.write(frame);
      // 1002: protocol error, sent by the proxy; the frame never reached the upstream.
      expect((await closed).code).toBe(1002);
      expect(got).toHaveLength(1);
    });
  });
});
