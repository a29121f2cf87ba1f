import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createSecureContext, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { AuditEntry } from '../src/egress/audit.js';
import { createCa, LeafMinter } from '../src/egress/ca.js';
import { emptyPolicy, type EgressPolicyConfig } from '../src/egress/config.js';
import { createEgressProxy } from '../src/egress/proxy.js';
import { buildState } from '../src/egress/state.js';
import { tlsThrough } from '../test/helpers/via-proxy.js';

/**
 * The secret scanner and private-address guard against an independent
 * corpus (bench/corpus/agent-egress-bench). Each applicable case becomes a
 * real request through the intercepting proxy to a local stub upstream
 * that answers for every host. Every case host is allowed (exact, or by a
 * `*.domain` wildcard for sub-domains, as operators write them), so what is
 * measured is the scanner, not the allowlist; the one blocklist case gets
 * its host denied, as the corpus asks.
 *
 * Applicable: transport fetch_proxy / http_proxy / websocket, and no
 * `requires` beyond what the proxy does (header, request-body and
 * WebSocket-frame scanning, TLS interception). Response scanning (prompt
 * injection in what comes back) is not something this proxy does.
 */

const CASES = join(import.meta.dirname, 'corpus', 'agent-egress-bench', 'cases');
const SUPPORTED = new Set([
  'header_scanning',
  'request_body_scanning',
  'websocket_frame_scanning',
  'tls_interception',
]);

interface Frame {
  opcode: 'text' | 'binary' | 'continuation';
  payload: string;
  fin?: boolean;
  rsv1?: boolean;
  encoding?: string;
}
interface Case {
  id: string;
  category: string;
  transport: string;
  expected_verdict: 'block' | 'allow';
  requires: string[];
  payload: {
    method?: string;
    url: string;
    headers?: Record<string, string>;
    body?: string;
    content_type?: string;
    response_body?: string;
    frames?: Frame[];
  };
}

function loadCases(): Case[] {
  return readdirSync(CASES).flatMap((dir) =>
    readdirSync(join(CASES, dir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(CASES, dir, f), 'utf8')) as Case),
  );
}

function applicable(c: Case): boolean {
  return (
    ['fetch_proxy', 'http_proxy', 'websocket'].includes(c.transport) &&
    c.requires.every((r) => SUPPORTED.has(r))
  );
}

function allowPatternFor(host: string): string {
  const labels = host.split('.');
  return labels.length <= 2 ? host : `*.${labels.slice(-2).join('.')}`;
}

/** One masked client frame, as a browser or CLI would send it. */
function frame(f: Frame): Buffer {
  const op = { text: 1, binary: 2, continuation: 0 }[f.opcode];
  const payload =
    f.encoding === 'base64' ? Buffer.from(f.payload, 'base64') : Buffer.from(f.payload, 'utf8');
  const b0 = ((f.fin ?? true) ? 0x80 : 0) | (f.rsv1 === true ? 0x40 : 0) | op;
  const len = payload.length;
  const head =
    len < 126 ? Buffer.from([b0, 0x80 | len]) : Buffer.from([b0, 0x80 | 126, len >> 8, len & 0xff]);
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([head, mask, masked]);
}

it('scans the agent-egress-bench corpus', async () => {
  const cases = loadCases();
  const runnable = cases.filter(applicable);
  const stubCa = await createCa('corpus-stub');
  const stubMinter = new LeafMinter(stubCa);
  const received = new Set<string>();
  const wsFrames = new Map<string, number>();
  const onRequest = (
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ): void => {
    req.resume();
    req.on('end', () => {
      received.add(req.headers['x-case-id'] as string);
      const c = runnable.find((x) => x.id === req.headers['x-case-id']);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(c?.payload.response_body ?? 'ok');
    });
  };
  // One certificate per SNI from a stub CA the proxy trusts for upstreams.
  const leafFor = async (name: string): Promise<ReturnType<typeof createSecureContext>> => {
    const l = await stubMinter.leaf(name);
    return createSecureContext({ cert: l.certPem, key: l.keyPem });
  };
  const https = createHttpsServer(
    {
      SNICallback: (name, cb) => {
        leafFor(name).then(
          (ctx) => {
            cb(null, ctx);
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
  const listen = (s: Server): Promise<number> =>
    new Promise((r) => {
      s.listen(0, '127.0.0.1', () => {
        r((s.address() as AddressInfo).port);
      });
    });
  const [httpsPort, httpPort] = await Promise.all([listen(https as Server), listen(http)]);

  const hosts = new Set(
    runnable.map((c) => new URL(c.payload.url).hostname.replace(/^\[|\]$/g, '')),
  );
  const named = [...hosts].filter((h) => !/^[\d.:]+$/.test(h) && !/^0x/i.test(h));
  const policy: EgressPolicyConfig = {
    ...emptyPolicy('corpus'),
    allow: [
      ...new Set(named.flatMap((h) => [h.split('.').slice(-2).join('.'), allowPatternFor(h)])),
    ],
    deny: ['exfil-collector.example.net'],
    hosts: Object.fromEntries(
      named.flatMap((h) => [[h, `127.0.0.1:${httpsPort}`]] as [string, string][]),
    ),
  };
  const ca = await createCa('corpus');
  const log: AuditEntry[] = [];
  const state = buildState(policy, {
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    upstreamCaPem: stubCa.certPem,
    values: {},
  });
  // Plain-http cases go to the stub's http port: the host map is per host, not per scheme.
  const httpHosts = new Set(
    runnable
      .filter((c) => c.payload.url.startsWith('http:'))
      .map((c) => new URL(c.payload.url).hostname),
  );
  for (const h of httpHosts) {
    if (policy.hosts[h] !== undefined) policy.hosts[h] = `127.0.0.1:${httpPort}`;
  }
  const proxy = createEgressProxy({ state: () => state, log: (e) => log.push(e) });
  const proxyPort = await listen(proxy);

  const verdicts = new Map<string, 'block' | 'allow'>();
  for (const c of runnable) {
    const u = new URL(c.payload.url);
    const headers: Record<string, string> = { 'x-case-id': c.id, ...c.payload.headers };
    if (c.payload.body !== undefined)
      headers['content-type'] = c.payload.content_type ?? 'text/plain';
    let status = 0;
    if (c.transport === 'websocket') {
      const sock = await tlsThrough(proxyPort, u.hostname, 443, ca.certPem).catch(() => undefined);
      if (sock === undefined) {
        verdicts.set(c.id, 'block');
        continue;
      }
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
        verdicts.set(c.id, 'block');
        sock.destroy();
        continue;
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
      for (const f of c.payload.frames ?? []) sock.write(frame(f));
      const wasClosed = await closed;
      const delivered = wsFrames.get(c.id) ?? 0;
      const messages = (c.payload.frames ?? []).filter((f) => f.fin !== false).length;
      verdicts.set(c.id, wasClosed || delivered < messages ? 'block' : 'allow');
      sock.destroy();
      continue;
    }
    if (u.protocol === 'http:') {
      status = await new Promise<number>((resolve) => {
        const s: Socket = connect(proxyPort, '127.0.0.1', () => {
          const body = c.payload.body ?? '';
          s.write(
            `${c.payload.method ?? 'GET'} ${c.payload.url} HTTP/1.1\r\nHost: ${u.host}\r\n` +
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
        sock = await tlsThrough(
          proxyPort,
          u.hostname,
          u.port === '' ? 443 : Number(u.port),
          ca.certPem,
        );
      } catch (e) {
        status = Number(/^HTTP\/1\.1 (\d+)/.exec(String(e).replace(/^Error: /, ''))?.[1] ?? 403);
      }
      if (sock !== undefined) {
        const { requestOver } = await import('../test/helpers/via-proxy.js');
        const r = await requestOver(sock, {
          method: c.payload.method ?? 'GET',
          path: `${u.pathname}${u.search}`,
          headers: { host: u.host, ...headers },
          ...(c.payload.body === undefined ? {} : { body: c.payload.body }),
        });
        status = r.status;
        sock.destroy();
      }
    }
    verdicts.set(c.id, received.has(c.id) && status !== 403 ? 'allow' : 'block');
  }

  const byCategory = new Map<
    string,
    { blockCases: number; blocked: number; allowCases: number; falseBlocks: number }
  >();
  const misses: string[] = [];
  for (const c of runnable) {
    const row = byCategory.get(c.category) ?? {
      blockCases: 0,
      blocked: 0,
      allowCases: 0,
      falseBlocks: 0,
    };
    const v = verdicts.get(c.id);
    if (c.expected_verdict === 'block') {
      row.blockCases++;
      if (v === 'block') row.blocked++;
      else misses.push(`missed ${c.id}`);
    } else {
      row.allowCases++;
      if (v === 'block') {
        row.falseBlocks++;
        misses.push(`false block ${c.id}`);
      }
    }
    byCategory.set(c.category, row);
  }
  const total = [...byCategory.values()].reduce(
    (a, r) => ({
      blockCases: a.blockCases + r.blockCases,
      blocked: a.blocked + r.blocked,
      allowCases: a.allowCases + r.allowCases,
      falseBlocks: a.falseBlocks + r.falseBlocks,
    }),
    { blockCases: 0, blocked: 0, allowCases: 0, falseBlocks: 0 },
  );
  const pct = (n: number, d: number): string => (d === 0 ? '-' : `${((100 * n) / d).toFixed(1)}%`);
  const lines = [
    `corpus: ${cases.length} cases, ${runnable.length} applicable (sha256 of ids ${createHash(
      'sha256',
    )
      .update(runnable.map((c) => c.id).join())
      .digest('hex')
      .slice(0, 12)})`,
    '| category | block cases | blocked | detection | allow cases | wrongly blocked | false-positive rate |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...[...byCategory]
      .sort()
      .map(
        ([cat, r]) =>
          `| ${cat} | ${r.blockCases} | ${r.blocked} | ${pct(r.blocked, r.blockCases)} | ${r.allowCases} | ${r.falseBlocks} | ${pct(r.falseBlocks, r.allowCases)} |`,
      ),
    `| **all** | ${total.blockCases} | ${total.blocked} | ${pct(total.blocked, total.blockCases)} | ${total.allowCases} | ${total.falseBlocks} | ${pct(total.falseBlocks, total.allowCases)} |`,
    ...misses.map((m) => `- ${m}`),
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
  proxy.closeAllConnections();
  proxy.close();
  https.close();
  http.close();
  state.upstream.close();
  expect(total.blocked / total.blockCases).toBeGreaterThanOrEqual(0.95);
  expect(total.falseBlocks).toBe(0);
});
