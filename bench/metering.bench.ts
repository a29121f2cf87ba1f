import type { ChildProcess } from 'node:child_process';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlServer } from '../src/controller/control-server.js';
import type { Admit } from '../src/egress/admission.js';
import type { ControllerLink } from '../src/egress/controller-link.js';
import { sidecarEnd } from '../test/helpers/link.js';
import { SqliteLedger } from '../src/ledger/sqlite.js';
import type { BottlePlan } from '../src/plan/schema.js';
import { createCa, type CaMaterial } from '../src/egress/ca.js';
import { emptyPolicy } from '../src/egress/config.js';
import type { UsageRecord } from '../src/egress/proxy.js';
import { createEgressProxy } from '../src/egress/proxy.js';
import { buildState } from '../src/egress/state.js';
import { tlsThrough } from '../test/helpers/via-proxy.js';
import { BENCH_HOST as HOST, startStubUpstream } from './stub.js';

/**
 * What metering costs: the same proxy code with and without usage meters,
 * on a ~50 MB Anthropic-shaped SSE stream (POST /v1/messages) and on the
 * first byte of a short one, against the stub upstream in its own process.
 */

let upstream: ChildProcess;
let upstreamPort = 0;
let upCa: CaMaterial;
let ca: CaMaterial;

beforeAll(async () => {
  const stub = await startStubUpstream();
  upstream = stub.process;
  upstreamPort = stub.port;
  upCa = stub.ca;
  ca = await createCa('meter-bottle');
});

afterAll(() => {
  upstream.kill();
});

/** The controller side: a real control server on a unix socket writing a real SQLite ledger. */
async function controller(): Promise<{ link: ControllerLink; close: () => Promise<void> }> {
  const home = mkdtempSync(join(tmpdir(), 'bb-bench-'));
  const ledger = new SqliteLedger(join(home, 'bot-bottle.db'));
  const plan = {
    slug: 'meter',
    agent: { name: 'bench', provider: 'claude' },
    bottles: [{ name: 'b', chain: [{ name: 'b' }] }],
    budget: { provider: 'claude', tokens: 1e12, scope: 'global', from: 'bench', period: 'day' },
    cutoff: { policy: 'cutoff', source: 'default', from: null },
  } as unknown as BottlePlan;
  const control = startControlServer({
    env: { BOT_BOTTLE_HOME: home },
    ledger,
    plan,
    identity: 'meter-1',
    startedAt: new Date().toISOString(),
    enforce: () => Promise.resolve(),
    log: () => undefined,
  });
  control.armed();
  const end = sidecarEnd('meter');
  await end.linkTo(control);
  const link: ControllerLink = end.link;
  return {
    link,
    close: async () => {
      await end.close();
      await control.close();
      await ledger.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

async function proxyWith(
  metering: boolean,
  seen: UsageRecord[],
  admit?: Admit,
): Promise<{ port: number; close: () => void }> {
  const state = buildState(
    { ...emptyPolicy('meter'), allow: [HOST], hosts: { [HOST]: `127.0.0.1:${upstreamPort}` } },
    { caCertPem: ca.certPem, caKeyPem: ca.keyPem, upstreamCaPem: upCa.certPem, values: {} },
  );
  const proxy = createEgressProxy({
    state: () => state,
    log: () => undefined,
    ...(metering ? { usage: (u: UsageRecord) => seen.push(u) } : {}),
    ...(admit === undefined ? {} : { admit }),
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    port: (proxy.address() as AddressInfo).port,
    close: () => {
      proxy.closeAllConnections();
      proxy.close();
      state.upstream.close();
    },
  };
}

async function tunnel(port: number): Promise<Agent> {
  const t = await tlsThrough(port, HOST, 443, ca.certPem);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  (agent as unknown as { createConnection: () => unknown }).createConnection = () => t;
  return agent;
}

async function stream(port: number, path: string): Promise<{ mbps: number; firstByte: number }> {
  const agent = await tunnel(port);
  const r = await call(agent, path);
  agent.destroy();
  return r;
}

function call(agent: Agent, path: string): Promise<{ mbps: number; firstByte: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: 1,
        method: path === '/sse' ? 'GET' : 'POST',
        path,
        agent,
        headers: { host: HOST },
      },
      (res) => {
        let bytes = 0;
        let firstByte = 0;
        res.on('data', (c: Buffer) => {
          if (bytes === 0) firstByte = performance.now() - t0;
          bytes += c.length;
        });
        res.on('end', () => {
          resolve({ mbps: bytes / 1024 / 1024 / ((performance.now() - t0) / 1000), firstByte });
        });
      },
    );
    req.on('error', reject);
    req.end('{"model":"bench","stream":true}');
  });
}

it('meters without slowing the stream', async () => {
  const seen: UsageRecord[] = [];
  const ctl = await controller();
  const off = await proxyWith(false, []);
  const on = await proxyWith(true, seen);
  const gated = await proxyWith(true, [], ctl.link.admit);
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  const median = (xs: number[]): number =>
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const modes = { off, on, gated };
  const tput: Record<keyof typeof modes, number[]> = { off: [], on: [], gated: [] };
  // The order rotates each round, so no mode always runs first (warm caches, GC).
  const order = (i: number): (keyof typeof modes)[] => {
    const all = ['off', 'on', 'gated'] as const;
    return [...all.slice(i % 3), ...all.slice(0, i % 3)];
  };
  for (let i = 0; i < runs; i++) {
    for (const k of order(i)) tput[k].push((await stream(modes[k].port, '/v1/messages')).mbps);
  }
  expect(seen.length).toBe(runs);
  expect(seen[0]).toMatchObject({ inputTokens: 10, outputTokens: 12345, estimated: false });
  // First byte of a short metered call on a kept-alive tunnel (no handshake in the number).
  const fb: Record<keyof typeof modes, number[]> = { off: [], on: [], gated: [] };
  const tunnels = {
    off: await tunnel(off.port),
    on: await tunnel(on.port),
    gated: await tunnel(gated.port),
  };
  for (let i = 0; i < 200; i++) {
    for (const k of order(i))
      fb[k].push((await call(tunnels[k], '/v1/messages?short=1')).firstByte);
  }
  off.close();
  on.close();
  gated.close();
  await ctl.close();
  const t = { off: median(tput.off), on: median(tput.on), gated: median(tput.gated) };
  const f = { off: median(fb.off), on: median(fb.on), gated: median(fb.gated) };
  const slower = (x: number): string => `${((100 * (x - t.off)) / t.off).toFixed(1)}%`;
  const later = (x: number): string => {
    const d = x - f.off;
    return `${d >= 0 ? '+' : '-'}${Math.abs(d).toFixed(2)} ms (${((100 * d) / f.off).toFixed(1)}%)`;
  };
  process.stdout.write(
    `\nmetering, ~50 MB Anthropic SSE stream (median of ${runs}): off ${t.off.toFixed(0)} MB/s, ` +
      `metered ${t.on.toFixed(0)} MB/s -> ${slower(t.on)} (target: within 5%), ` +
      `metered + admitted by the controller ${t.gated.toFixed(0)} MB/s -> ${slower(t.gated)}\n` +
      `first byte of a short stream (median of 200): off ${f.off.toFixed(2)} ms, metered ${f.on.toFixed(2)} ms -> ${later(f.on)} (target: within 5%), ` +
      `metered + admitted ${f.gated.toFixed(2)} ms -> ${later(f.gated)}\n`,
  );
});
