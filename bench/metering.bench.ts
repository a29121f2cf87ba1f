import type { ChildProcess } from 'node:child_process';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
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

async function proxyWith(
  metering: boolean,
  seen: UsageRecord[],
): Promise<{ port: number; close: () => void }> {
  const state = buildState(
    { ...emptyPolicy('meter'), allow: [HOST], hosts: { [HOST]: `127.0.0.1:${upstreamPort}` } },
    { caCertPem: ca.certPem, caKeyPem: ca.keyPem, upstreamCaPem: upCa.certPem, values: {} },
  );
  const proxy = createEgressProxy({
    state: () => state,
    log: () => undefined,
    ...(metering ? { usage: (u: UsageRecord) => seen.push(u) } : {}),
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
  const off = await proxyWith(false, []);
  const on = await proxyWith(true, seen);
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  const median = (xs: number[]): number =>
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const tput = { off: [] as number[], on: [] as number[] };
  for (let i = 0; i < runs; i++) {
    tput.off.push((await stream(off.port, '/v1/messages')).mbps);
    tput.on.push((await stream(on.port, '/v1/messages')).mbps);
  }
  expect(seen.length).toBe(runs);
  expect(seen[0]).toMatchObject({ inputTokens: 10, outputTokens: 12345, estimated: false });
  // First byte of a short metered call on a kept-alive tunnel (no handshake in the number).
  const fb = { off: [] as number[], on: [] as number[] };
  const offT = await tunnel(off.port);
  const onT = await tunnel(on.port);
  for (let i = 0; i < 200; i++) {
    fb.off.push((await call(offT, '/v1/messages?short=1')).firstByte);
    fb.on.push((await call(onT, '/v1/messages?short=1')).firstByte);
  }
  off.close();
  on.close();
  const tOff = median(tput.off);
  const tOn = median(tput.on);
  const fOff = median(fb.off);
  const fOn = median(fb.on);
  process.stdout.write(
    `\nmetering, ~50 MB Anthropic SSE stream (median of ${runs}): off ${tOff.toFixed(0)} MB/s, on ${tOn.toFixed(0)} MB/s -> ${((100 * (tOff - tOn)) / tOff).toFixed(1)}% slower (target < 5%)\n` +
      `first byte of a short stream (median of 200): off ${fOff.toFixed(2)} ms, on ${fOn.toFixed(2)} ms -> ${((100 * (fOn - fOff)) / fOff).toFixed(1)}% (target < 5%)\n`,
  );
});
