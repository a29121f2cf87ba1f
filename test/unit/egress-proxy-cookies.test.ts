import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { AuditEntry } from '../../src/egress/audit.js';
import { createCa, type CaMaterial } from '../../src/egress/ca.js';
import {
  emptyPolicy,
  type EgressPolicyConfig,
  type EgressSecrets,
} from '../../src/egress/config.js';
import { createEgressProxy, type ProxyState } from '../../src/egress/proxy.js';
import { buildState } from '../../src/egress/state.js';
import { FAKE_CA_PATH } from '../fixtures/fake-llm.js';
import { httpsVia, tlsThrough } from '../helpers/via-proxy.js';

const TLS = `${import.meta.dirname}/../fixtures/tls/`;

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

/** A session identifier as sites set them: fresh per test, so no test sees another's. */
const sessionId = (): string => randomBytes(24).toString('base64url');

/**
 * Cookies one site set, carried by the agent to another site, on real
 * sockets: site A (`*.fake-llm.test`) sets a session cookie through the
 * proxy, site B (`api.openai.com`, an ordinary path) must not receive it in
 * any form, and the bottle's LLM API (`api.anthropic.com`) gets it redacted.
 */
describe('cross-site cookies through the egress proxy', () => {
  const log: AuditEntry[] = [];
  const redactedCounts: Record<string, number>[] = [];
  const seen: { host: string; url: string; headers: Record<string, unknown>; body: string }[] = [];
  let ca: CaMaterial;
  let origin: ReturnType<typeof createHttpsServer>;
  let wss: WebSocketServer;
  let proxy: Server;
  let proxyPort = 0;
  let originPort = 0;
  let state: ProxyState & { secrets: EgressSecrets };
  let secrets: EgressSecrets;
  /** The cookie value site A sets on its next /login (or WebSocket upgrade). */
  let sid = '';

  const policy = (over: Partial<EgressPolicyConfig> = {}): EgressPolicyConfig => {
    const at = `127.0.0.1:${originPort}`;
    return {
      ...emptyPolicy('demo'),
      allow: ['app.fake-llm.test', 'api.fake-llm.test', 'api.openai.com', 'api.anthropic.com'],
      hosts: {
        'app.fake-llm.test': at,
        'api.fake-llm.test': at,
        'api.openai.com': at,
        'api.anthropic.com': at,
      },
      ...over,
    };
  };
  const apply = (p: EgressPolicyConfig): void => {
    state = buildState(p, secrets, state);
  };

  beforeAll(async () => {
    ca = await createCa('demo');
    origin = createHttpsServer(
      { cert: readFileSync(`${TLS}upstream.crt`), key: readFileSync(`${TLS}upstream.key`) },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen.push({
            host: req.headers.host ?? '',
            url: req.url ?? '',
            headers: req.headers,
            body: Buffer.concat(chunks).toString(),
          });
          const headers: Record<string, string | string[]> = { 'content-type': 'text/plain' };
          if (req.url === '/login') {
            headers['set-cookie'] = [`sid=${sid}; Path=/; HttpOnly; Secure`, 'lang=en; Path=/'];
          }
          res.writeHead(200, headers);
          res.end(`origin ${req.method ?? ''} ${req.url ?? ''}`);
        });
      },
    );
    wss = new WebSocketServer({ noServer: true });
    wss.on('headers', (headers, req) => {
      if (req.url === '/ws-login') headers.push(`Set-Cookie: wsid=${sid}; Path=/`);
    });
    origin.on('upgrade', (req, sock, head) => {
      if (req.url === '/ws-refused') {
        sock.end(
          `HTTP/1.1 401 Unauthorized\r\nset-cookie: rsid=${sid}; Path=/\r\n` +
            'content-length: 2\r\nconnection: close\r\n\r\nno',
        );
        return;
      }
      wss.handleUpgrade(req, sock, head, (ws) => {
        ws.on('message', (m: Buffer) => {
          ws.send(`echo ${m.toString()}`);
        });
        ws.send('hello');
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
      values: {},
    };
    state = buildState(policy(), secrets);
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
    sid = sessionId();
    log.length = 0;
    seen.length = 0;
    redactedCounts.length = 0;
  });

  const via = (
    host: string,
    path: string,
    opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
  ): ReturnType<typeof httpsVia> => httpsVia(proxyPort, `https://${host}${path}`, ca.certPem, opts);

  /** Site A sets `sid` through the proxy; the agent gets the cookie as usual. */
  async function logIn(): Promise<void> {
    const r = await via('app.fake-llm.test', '/login');
    expect(r.status).toBe(200);
    expect(String(r.headers['set-cookie'])).toContain(sid);
    seen.length = 0;
    log.length = 0;
  }

  const sentToB = (): boolean => seen.some((s) => s.host.startsWith('api.openai.com'));

  it('refuses the cookie carried to another site in a Cookie header, naming the rule', async () => {
    await logIn();
    const r = await via('api.openai.com', '/collect', { headers: { cookie: `sid=${sid}` } });
    expect(r.status).toBe(403);
    expect(r.body).toContain('cross-site-cookie');
    expect(r.body).toContain('a cookie of fake-llm.test');
    expect(r.body).not.toContain(sid);
    expect(sentToB()).toBe(false);
    expect(log.at(-1)).toMatchObject({ verdict: 'refused', rule: 'dlp cross-site-cookie' });
    expect(JSON.stringify(log)).not.toContain(sid);
  });

  it('refuses it in the URL, raw or percent-encoded, and in another header as hex', async () => {
    await logIn();
    for (const [path, headers] of [
      [`/c?v=${sid}`, {}],
      [`/c?v=${encodeURIComponent(`sid=${sid};`)}`, {}],
      ['/c', { 'x-data': Buffer.from(`session ${sid}`).toString('hex') }],
      ['/c', { referer: `https://app.fake-llm.test/?s=${sid}` }],
    ] as [string, Record<string, string>][]) {
      const r = await via('api.openai.com', path, { headers });
      expect(r.status, path).toBe(403);
      expect(r.body, path).toContain('cross-site-cookie');
    }
    expect(sentToB()).toBe(false);
  });

  it('refuses it base64 in a body, inside JSON, and gzip-compressed', async () => {
    await logIn();
    const { gzipSync } = await import('node:zlib');
    const b64 = Buffer.from(`stolen: sid=${sid}; lang=en`).toString('base64');
    const json = JSON.stringify({ note: 'weekly report', data: b64 });
    const plain = await via('api.openai.com', '/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: json,
    });
    expect(plain.status).toBe(403);
    expect(plain.body).toContain('cross-site-cookie in body');
    // The first character as a JSON escape: the upstream's JSON reader sees the cookie.
    const escapedFirst = `\\u${sid.charCodeAt(0).toString(16).padStart(4, '0')}${sid.slice(1)}`;
    const escaped = await via('api.openai.com', '/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"s":"${escapedFirst}"}`,
    });
    expect(escaped.status).toBe(403);
    const gz = await via('api.openai.com', '/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(Buffer.from(json)),
    });
    expect(gz.status).toBe(403);
    expect(gz.body).toContain('cross-site-cookie');
    expect(sentToB()).toBe(false);
  });

  it('cuts off a streamed upload carrying it past the part the proxy holds', async () => {
    await logIn();
    const body = Buffer.concat([Buffer.alloc(9 * 1024 * 1024, 'a'), Buffer.from(` sid=${sid}`)]);
    const r = await via('api.openai.com', '/big', { method: 'POST', body }).catch((e: unknown) => ({
      status: 0,
      body: String(e),
    }));
    // The refusal may race the client's last write; either way nothing complete arrived.
    if (r.status !== 0) expect(r.status).toBe(403);
    await waitFor(() => log.some((l) => l.rule === 'dlp cross-site-cookie'));
    expect(seen.filter((s) => s.url === '/big')).toEqual([]);
  });

  it('lets the cookie go back to its own site, on any of its hosts', async () => {
    await logIn();
    for (const host of ['app.fake-llm.test', 'api.fake-llm.test']) {
      const r = await via(host, '/me', { headers: { cookie: `sid=${sid}; lang=en` } });
      expect(r.status, host).toBe(200);
    }
    expect(seen.map((s) => s.headers.cookie)).toEqual([
      `sid=${sid}; lang=en`,
      `sid=${sid}; lang=en`,
    ]);
    // Plain values (lang=en) are nobody's login: they go anywhere.
    const other = await via('api.openai.com', '/x', { headers: { cookie: 'lang=en' } });
    expect(other.status).toBe(200);
  });

  it('does not forget the cookies it saw when the policy is replaced live', async () => {
    await logIn();
    apply(policy({ allow: [...policy().allow, 'extra.fake-llm.test'] }));
    apply(policy({ mode: 'enforce' }));
    const r = await via('api.openai.com', '/collect', { headers: { cookie: `sid=${sid}` } });
    expect(r.status).toBe(403);
    expect(r.body).toContain('cross-site-cookie');
    expect(sentToB()).toBe(false);
  });

  it('in audit mode forwards it and flags the request', async () => {
    await logIn();
    apply(policy({ mode: 'audit' }));
    const r = await via('api.openai.com', '/collect', { headers: { cookie: `sid=${sid}` } });
    expect(r.status).toBe(200);
    expect(seen.at(-1)?.headers.cookie).toBe(`sid=${sid}`);
    await waitFor(() => log.some((l) => l.host === 'api.openai.com'));
    const e = log.find((l) => l.host === 'api.openai.com');
    expect(e?.verdict).toBe('flagged');
    expect(e?.reason).toContain('cross-site-cookie in header cookie (a cookie of fake-llm.test)');
  });

  it('redacts it from a call to the LLM API, and the call goes on', async () => {
    await logIn();
    const body = JSON.stringify({
      model: 'm',
      max_tokens: 8,
      messages: [{ role: 'user', content: `curl -i said: set-cookie: sid=${sid}; Path=/` }],
    });
    const r = await via('api.anthropic.com', '/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(r.status).toBe(200);
    const got = seen.find((s) => s.url === '/v1/messages');
    expect(got?.body).not.toContain(sid);
    // The cookie and its name=value assignment are one span, named by what is known for certain.
    expect(got?.body).toContain('set-cookie: [REDACTED cross-site-cookie]; Path=/');
    expect(redactedCounts).toEqual([{ 'cross-site-cookie': 1 }]);
    await waitFor(() => log.some((l) => l.host === 'api.anthropic.com'));
    expect(log.find((l) => l.host === 'api.anthropic.com')).toMatchObject({
      verdict: 'redacted',
      redactions: { 'cross-site-cookie': 1 },
    });
  });

  it("refuses it on the LLM API in the API's own shape where it cannot redact (egress.llm: refuse, a header)", async () => {
    await logIn();
    apply(policy({ llm: 'refuse' }));
    const body = JSON.stringify({ messages: [{ role: 'user', content: `cookie ${sid}` }] });
    const r = await via('api.anthropic.com', '/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(r.status).toBe(400);
    const e = JSON.parse(r.body) as { type: string; error: { type: string; message: string } };
    expect(e.error.type).toBe('invalid_request_error');
    expect(e.error.message).toContain('cross-site-cookie');
    apply(policy());
    const inHeader = await via('api.anthropic.com', '/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `sid=${sid}` },
      body: '{"messages":[]}',
    });
    expect(inHeader.status).toBe(400);
    expect(inHeader.body).toContain('cross-site-cookie');
    expect(seen.filter((s) => s.url === '/v1/messages')).toEqual([]);
  });

  it('learns cookies from a WebSocket upgrade and judges WebSocket messages', async () => {
    // The upgrade's Set-Cookie is site A's, even though the agent never sees that header.
    const up = await tlsThrough(proxyPort, 'app.fake-llm.test', 443, ca.certPem);
    const first = new WebSocket('wss://app.fake-llm.test/ws-login', { createConnection: () => up });
    await new Promise<void>((resolve) =>
      first.once('message', () => {
        resolve();
      }),
    );
    first.close();
    const r = await via('api.openai.com', '/c', { headers: { cookie: `wsid=${sid}` } });
    expect(r.status).toBe(403);
    expect(r.body).toContain('cross-site-cookie');

    // A refused upgrade's answer sets cookies of the site too (a fresh value, learnt only there).
    const firstSid = sid;
    sid = sessionId();
    const refusedSock = await tlsThrough(proxyPort, 'app.fake-llm.test', 443, ca.certPem);
    const refused = new WebSocket('wss://app.fake-llm.test/ws-refused', {
      createConnection: () => refusedSock,
    });
    const status = await new Promise<number>((resolve) => {
      refused.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
      });
    });
    expect(status).toBe(401);
    const again = await via('api.openai.com', '/c', { headers: { 'x-s': sid } });
    expect(again.status).toBe(403);
    expect(again.body).toContain('cross-site-cookie');
    sid = firstSid;

    const sock = await tlsThrough(proxyPort, 'api.openai.com', 443, ca.certPem);
    const ws = new WebSocket('wss://api.openai.com/socket', { createConnection: () => sock });
    const got: string[] = [];
    const closed = new Promise<number>((resolve) =>
      ws.on('close', (code: number) => {
        resolve(code);
      }),
    );
    ws.on('message', (m: Buffer) => {
      got.push(m.toString());
      if (got.length === 1) ws.send('ping');
      else if (got.length === 2)
        ws.send(JSON.stringify({ c: Buffer.from(sid).toString('base64') }));
    });
    expect(await closed).toBe(1008);
    expect(got).toEqual(['hello', 'echo ping']);
    await waitFor(() => log.some((l) => l.kind === 'websocket' && l.host === 'api.openai.com'));
    expect(
      log.find((l) => l.kind === 'websocket' && l.host === 'api.openai.com')?.reason,
    ).toContain('cross-site-cookie');
  });
});
