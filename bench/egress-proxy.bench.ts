import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCa, LeafMinter, type CaMaterial } from '../src/egress/ca.js';
import { emptyPolicy } from '../src/egress/config.js';
import { tlsThrough } from '../test/helpers/via-proxy.js';
import { BENCH_HOST as HOST, startStubUpstream } from './stub.js';

/**
 * The egress proxy's cost, against the same upstream reached directly in
 * the same run. Three processes, as in a bottle: the client (this one), the
 * proxy (the real sidecar program from dist/sidecar, configured through its
 * control socket as at launch) and the upstream (bench/stub-upstream.mjs);
 * only the network differs (loopback here).
 */

const SIDECAR = join(import.meta.dirname, '..', 'dist', 'sidecar', 'egress.mjs');
const N = Number(process.env.BENCH_REQUESTS ?? 2000);
const DOWNLOAD = 100 * 1024 * 1024; // what the stub upstream serves at /download
const PROXY_PORT = 13000 + Math.floor(Math.random() * 2000);

let upstreamCa: CaMaterial;
let bottleCa: CaMaterial;
let upstreamPort = 0;
let sidecar: ChildProcess;
let runDir: string;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

let upstream: ChildProcess;
let floor: ChildProcess;
const FLOOR_PORT = PROXY_PORT + 1;

beforeAll(async () => {
  const stub = await startStubUpstream();
  upstream = stub.process;
  upstreamPort = stub.port;
  upstreamCa = stub.ca;
  bottleCa = await createCa('bench-bottle');

  const floorLeaf = await new LeafMinter(bottleCa).leaf(HOST);
  floor = spawn(process.execPath, [join(import.meta.dirname, 'minimal-proxy.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  floor.stdin?.end(
    JSON.stringify({
      cert: floorLeaf.certPem,
      key: floorLeaf.keyPem,
      ca: upstreamCa.certPem,
      upPort: upstreamPort,
      port: FLOOR_PORT,
    }),
  );
  await new Promise((r) => floor.stdout?.once('data', r));

  runDir = mkdtempSync(join(tmpdir(), 'bb-bench-egress-'));
  const env = {
    ...process.env,
    BOT_BOTTLE_RUN_DIR: runDir,
    BOT_BOTTLE_EGRESS_PORT: String(PROXY_PORT),
  };
  // The audit log goes to a file, as docker's log driver takes it in a bottle; a pipe
  // into this process would wake the benchmark's client on every request.
  const logFd = openSync(join(runDir, 'audit.log'), 'w');
  sidecar = spawn(process.execPath, [SIDECAR], { env, stdio: ['ignore', logFd, 'inherit'] });
  const payload = {
    policy: {
      ...emptyPolicy('bench'),
      allow: [HOST],
      hosts: { [HOST]: `127.0.0.1:${upstreamPort}` },
    },
    secrets: {
      caCertPem: bottleCa.certPem,
      caKeyPem: bottleCa.keyPem,
      upstreamCaPem: upstreamCa.certPem,
      values: {},
    },
  };
  const r = spawnSync(process.execPath, [SIDECAR, 'ctl', 'configure'], {
    env,
    input: JSON.stringify(payload),
    encoding: 'utf8',
  });
  expect(r.stdout).toContain('"ok":true');
});

afterAll(() => {
  sidecar.kill();
  upstream.kill();
  floor.kill();
  rmSync(runDir, { recursive: true, force: true });
});

/** Requests on one kept-alive connection, either direct or through a tunnel. */
function agentFor(tunnel: TLSSocket | undefined, ca: string): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  if (tunnel !== undefined) {
    (agent as unknown as { createConnection: () => TLSSocket }).createConnection = () => tunnel;
  }
  return agent;
}

function get(
  agent: Agent,
  port: number,
  path: string,
  onFirstByte?: () => void,
): Promise<{ bytes: number; firstByte: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', servername: HOST, port, path, agent, headers: { host: HOST } },
      (res) => {
        let bytes = 0;
        let firstByte = 0;
        res.on('data', (c: Buffer) => {
          if (bytes === 0) {
            firstByte = performance.now() - t0;
            onFirstByte?.();
          }
          bytes += c.length;
        });
        res.on('end', () => {
          resolve({ bytes, firstByte });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function latencies(agent: Agent, port: number, path: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < 50; i++) await get(agent, port, path); // warm-up
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await get(agent, port, path);
    out.push(performance.now() - t0);
  }
  return out;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN);
}

it('costs little next to a direct connection', async () => {
  const direct = agentFor(undefined, upstreamCa.certPem);
  const tunnel = await tlsThrough(PROXY_PORT, HOST, 443, bottleCa.certPem);
  const proxied = agentFor(tunnel, bottleCa.certPem);

  const d = await latencies(direct, upstreamPort, '/small', N);
  const p = await latencies(proxied, upstreamPort, '/small', N);
  const floorTunnel = await tlsThrough(FLOOR_PORT, HOST, 443, bottleCa.certPem);
  const m = await latencies(agentFor(floorTunnel, bottleCa.certPem), upstreamPort, '/small', N);
  floorTunnel.destroy();

  const dl = async (agent: Agent): Promise<number> => {
    const t0 = performance.now();
    const r = await get(agent, upstreamPort, '/download');
    expect(r.bytes).toBe(DOWNLOAD);
    return DOWNLOAD / 1024 / 1024 / ((performance.now() - t0) / 1000);
  };
  await dl(direct);
  const dMBs = await dl(direct);
  const pMBs = await dl(proxied);

  const ttfb = async (agent: Agent): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < 200; i++) out.push((await get(agent, upstreamPort, '/sse')).firstByte);
    return out;
  };
  const dT = await ttfb(direct);
  const pT = await ttfb(proxied);

  // 50 open connections held by the proxy, each with a request served on it.
  const pid = sidecar.pid ?? 0;
  const idle = rssKb(pid);
  const held: TLSSocket[] = [];
  for (let i = 0; i < 50; i++) {
    const t = await tlsThrough(PROXY_PORT, HOST, 443, bottleCa.certPem);
    await get(agentFor(t, bottleCa.certPem), upstreamPort, '/small');
    held.push(t);
  }
  await new Promise((r) => setTimeout(r, 500));
  const with50 = rssKb(pid);
  for (const t of held) t.destroy();
  tunnel.destroy();

  const f = (x: number): string => x.toFixed(3);
  const lines = [
    `small request on a kept-alive connection (${N} sequential):`,
    `  direct  p50 ${f(pct(d, 50))} ms  p99 ${f(pct(d, 99))} ms`,
    `  proxied p50 ${f(pct(p, 50))} ms  p99 ${f(pct(p, 99))} ms`,
    `  ratio   p50 ${(pct(p, 50) / pct(d, 50)).toFixed(2)}x  p99 ${(pct(p, 99) / pct(d, 99)).toFixed(2)}x (target <= 2.0)`,
    `  floor: a bare Node TLS-intercepting proxy (no checks) p50 ${f(pct(m, 50))} ms = ${(pct(m, 50) / pct(d, 50)).toFixed(2)}x direct`,
    `100 MB download: direct ${dMBs.toFixed(0)} MB/s, proxied ${pMBs.toFixed(0)} MB/s -> ${((100 * pMBs) / dMBs).toFixed(0)}% of direct (target >= 60%)`,
    `SSE time to first byte (200 streams): direct p50 ${f(pct(dT, 50))} ms, proxied p50 ${f(pct(pT, 50))} ms -> +${f(pct(pT, 50) - pct(dT, 50))} ms (target <= 2 ms)`,
    `proxy memory: ${(idle / 1024).toFixed(1)} MB RSS after the runs above, ${(with50 / 1024).toFixed(1)} MB with 50 open connections (+${((with50 - idle) / 1024).toFixed(1)} MB)`,
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
});
