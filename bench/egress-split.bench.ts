import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCa, type CaMaterial } from '../src/egress/ca.js';
import { tlsThrough } from '../test/helpers/via-proxy.js';
import { startSidecar, type RunningSidecar } from './sidecar.js';
import { BENCH_HOST as HOST, startStubUpstream, type StubUpstream } from './stub.js';

/**
 * Kept-alive small-request latency through the egress sidecar of a
 * baseline git ref against the current build, in one run on one machine:
 * the baseline's bundle is built from `git archive` of the ref into a
 * temporary directory with the project's own build (`npm run build`), both
 * sidecars serve the same stub upstream, and the two are measured in
 * alternating rounds so drift of the machine hits both alike.
 *
 * BENCH_BASELINE_REF: the ref to compare with (default: the commit before
 * the decision core was split out of the proxy). BENCH_REQUESTS: requests
 * per round (default 500); BENCH_ROUNDS: rounds (default 8).
 */

const ROOT = join(import.meta.dirname, '..');
const CURRENT = join(ROOT, 'dist', 'sidecar', 'egress.mjs');
const N = Number(process.env.BENCH_REQUESTS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const PORT = 15000 + Math.floor(Math.random() * 2000);

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
}

function baselineRef(): string {
  const env = process.env.BENCH_BASELINE_REF;
  if (env !== undefined && env !== '') return env;
  const split = git(['log', '--format=%H', '--grep=^Egress decision core:', '-n', '1']);
  if (split === '') throw new Error('no split commit found; set BENCH_BASELINE_REF');
  return `${split}^`;
}

/** The baseline's sidecar bundle, built from a clean export of the ref. */
function buildBaseline(ref: string, dir: string): string {
  execFileSync('sh', ['-c', 'git archive --format=tar "$1" | tar -x -C "$2"', 'sh', ref, dir], {
    cwd: ROOT,
  });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync('npm', ['run', 'build'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  const bundle = join(dir, 'dist', 'sidecar', 'egress.mjs');
  if (!existsSync(bundle)) throw new Error(`the build of ${ref} made no ${bundle}`);
  return bundle;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

let stub: StubUpstream;
let bottleCa: CaMaterial;
let baseDir: string;
let ref: string;
let commit: string;
const sidecars: RunningSidecar[] = [];

beforeAll(async () => {
  ref = baselineRef();
  commit = git(['rev-parse', '--short', ref]);
  baseDir = mkdtempSync(join(tmpdir(), 'bb-bench-baseline-'));
  const baseline = buildBaseline(ref, baseDir);
  stub = await startStubUpstream();
  bottleCa = await createCa('bench-bottle');
  sidecars.push(await startSidecar(baseline, PORT, stub.port, bottleCa, stub.ca));
  sidecars.push(await startSidecar(CURRENT, PORT + 1, stub.port, bottleCa, stub.ca));
}, 600_000);

afterAll(() => {
  for (const s of sidecars) s.stop();
  stub.process.kill();
  rmSync(baseDir, { recursive: true, force: true });
});

function agentOver(tunnel: TLSSocket): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: bottleCa.certPem });
  (agent as unknown as { createConnection: () => TLSSocket }).createConnection = () => tunnel;
  return agent;
}

function get(agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: HOST,
        port: stub.port,
        path: '/small',
        agent,
        headers: { host: HOST },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function round(agent: Agent, n: number, into: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await get(agent);
    into.push(performance.now() - t0);
  }
}

it('keeps small-request latency of the baseline build', async () => {
  const [base, cur] = sidecars as [RunningSidecar, RunningSidecar];
  const tunnels = await Promise.all([
    tlsThrough(base.port, HOST, 443, bottleCa.certPem),
    tlsThrough(cur.port, HOST, 443, bottleCa.certPem),
  ]);
  const agents = tunnels.map(agentOver) as [Agent, Agent];
  for (const a of agents) await round(a, 100, []); // warm-up
  const b: number[] = [];
  const c: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternating which goes first, so neither always follows the other.
    if (r % 2 === 0) {
      await round(agents[0], N, b);
      await round(agents[1], N, c);
    } else {
      await round(agents[1], N, c);
      await round(agents[0], N, b);
    }
  }
  for (const t of tunnels) t.destroy();
  expect(b).toHaveLength(N * ROUNDS);
  const f = (x: number): string => x.toFixed(3);
  const lines = [
    `small request on a kept-alive tunnel, ${ROUNDS} alternating rounds of ${N}:`,
    `  baseline ${commit} (${ref.length > 20 ? `${ref.slice(0, 12)}…` : ref})`,
    `           p50 ${f(pct(b, 50))} ms  p99 ${f(pct(b, 99))} ms`,
    `  current (this build)\n           p50 ${f(pct(c, 50))} ms  p99 ${f(pct(c, 99))} ms`,
    `  ratio current/baseline  p50 ${(pct(c, 50) / pct(b, 50)).toFixed(3)}x  p99 ${(pct(c, 99) / pct(b, 99)).toFixed(3)}x`,
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
});
