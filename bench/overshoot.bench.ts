import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startControlServer } from '../src/controller/control-server.js';
import { createCa, type CaMaterial } from '../src/egress/ca.js';
import { emptyPolicy } from '../src/egress/config.js';
import type { ControllerLink } from '../src/egress/controller-link.js';
import { createEgressProxy, type ProxyState } from '../src/egress/proxy.js';
import { buildState } from '../src/egress/state.js';
import { SqliteLedger } from '../src/ledger/sqlite.js';
import type { BottlePlan } from '../src/plan/schema.js';
import { FAKE_CA_PATH, startFakeLlm, type FakeLlm } from '../test/fixtures/fake-llm.js';
import { sidecarEnd } from '../test/helpers/link.js';
import { httpsVia } from '../test/helpers/via-proxy.js';

/**
 * How far budgeted sessions end past their budget, with output caps and
 * without, in the same run: each session is a scripted tool-calling
 * client (Claude Code's request shape: a system prompt, tools, a growing
 * conversation of tool results, max_tokens 32,000) talking through the real
 * egress proxy, whose controller admits every call against a per-launch
 * budget in a real SQLite ledger, to the fake upstream counting input as
 * o200k tokens and answering 20,000 output tokens or its cap, whichever is
 * less. A session ends at its first refusal (or after 40 calls). The same
 * seeded sessions (budget, prompt and tool-result sizes) run in each mode:
 * caps on the local input estimate, no caps, and caps on the count the
 * fake's count endpoint gives (`budget.count: provider`).
 *
 *     npm run build && npx vitest run --config bench/vitest.config.ts bench/overshoot.bench.ts
 *
 * `BENCH_SESSIONS` (default 100) sets the number of sessions per mode.
 */

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 100);
const HOST = 'api.fake-llm.test';
const OUTPUT = 20_000;

let fake: FakeLlm;
let ca: CaMaterial;
let proxy: Server;
let proxyPort = 0;
let state: ProxyState;
let admit: ControllerLink['admit'] | undefined;
let texts: string[] = [];

beforeAll(async () => {
  fake = await startFakeLlm({ usage: 'counted', output: OUTPUT, host: '127.0.0.1' });
  ca = await createCa('overshoot');
  state = buildState(
    { ...emptyPolicy('bench'), allow: [HOST], hosts: { [HOST]: `127.0.0.1:${fake.port}` } },
    {
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      upstreamCaPem: readFileSync(FAKE_CA_PATH, 'utf8'),
      values: {},
    },
    undefined,
  );
  proxy = createEgressProxy({
    state: () => state,
    log: () => undefined,
    admit: (r) => (admit === undefined ? Promise.reject(new Error('no link')) : admit(r)),
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as AddressInfo).port;
  // Tool results and prompts are this repository's own source: code, Markdown, JSON.
  const root = join(import.meta.dirname, '..');
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((n) => {
      const p = join(d, n);
      return statSync(p).isDirectory() ? walk(p) : /\.(ts|md|json)$/.test(n) ? [p] : [];
    });
  // Not the words that script the fake (a tool result with HOLD holds its answer open).
  texts = ['src', 'docs']
    .flatMap((d) => walk(join(root, d)))
    .map((f) => readFileSync(f, 'utf8'))
    .filter((t) => !/HOLD|FAKE-|STEP: |RUN: /.test(t));
});

afterAll(async () => {
  proxy.closeAllConnections();
  proxy.close();
  state.upstream.close();
  await fake.close();
});

function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

interface Session {
  budget: number;
  system: string;
  results: string[];
}

function session(i: number): Session {
  const r = rng(1000 + i);
  const pick = (): string => texts[Math.floor(r() * texts.length)] ?? '';
  return {
    budget: 40_000 + Math.floor(r() * 160_000),
    system: Array.from({ length: 2 + Math.floor(r() * 6) }, pick).join('\n'),
    results: Array.from({ length: 40 }, () => pick().slice(0, 500 + Math.floor(r() * 12_000))),
  };
}

const TOOLS = [
  {
    name: 'Bash',
    description: 'Run a shell command',
    input_schema: { type: 'object', properties: { command: { type: 'string' } } },
  },
];

/** One session through the proxy: calls until refused; returns its tokens used as the ledger counts them. */
type Mode = 'capped' | 'uncapped' | 'capped + count endpoint';

async function run(s: Session, i: number, mode: Mode, home: string): Promise<number> {
  const ledger = new SqliteLedger(join(home, 'bot-bottle.db'));
  const capping = mode !== 'uncapped';
  state.policy.count = mode === 'capped + count endpoint' ? 'provider' : 'estimate';
  const identity = `s${i}-${mode === 'uncapped' ? 'nocap' : mode === 'capped' ? 'cap' : 'count'}`;
  const plan = {
    slug: identity,
    agent: { name: 'bench', provider: 'claude' },
    bottles: [{ name: 'b', chain: [{ name: 'b' }] }],
    budget: {
      provider: 'claude',
      tokens: s.budget,
      scope: 'launch',
      from: '--budget',
      period: 'launch',
      capping: { enabled: capping, floor: 1024 },
    },
    cutoff: { policy: 'cutoff', source: 'default', from: null },
  } as unknown as BottlePlan;
  const control = startControlServer({
    env: { BOT_BOTTLE_HOME: home },
    ledger,
    plan,
    identity,
    startedAt: new Date(Date.now() - 1000).toISOString(),
    enforce: () => Promise.resolve(),
    log: () => undefined,
  });
  control.armed();
  const end = sidecarEnd(identity);
  await end.linkTo(control);
  admit = end.link.admit;
  const steps = Array.from({ length: 40 }, (_, k) => `STEP: RUN echo ${k}`).join('\n');
  const messages: unknown[] = [{ role: 'user', content: `Do these.\n${steps}` }];
  for (let call = 0; call < 40; call++) {
    const body = JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 32_000,
      stream: true,
      system: s.system,
      tools: TOOLS,
      messages,
    });
    const r = await httpsVia(proxyPort, `https://${HOST}/v1/messages`, ca.certPem, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    if (process.env.BENCH_TRACE !== undefined)
      console.log(identity, call, r.status, r.body.slice(0, 200));
    if (r.status !== 200) break;
    const id = `toolu_${call}`;
    messages.push(
      { role: 'assistant', content: [{ type: 'tool_use', id, name: 'Bash', input: {} }] },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: id, content: s.results[call] ?? '' }],
      },
    );
  }
  await end.close();
  await control.close();
  const used = (await ledger.totals({ identity })).tokens;
  await ledger.close();
  return used;
}

function stats(xs: number[]): {
  min: number;
  max: number;
  p99: number;
  p50: number;
  over: number;
} {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.max(0, Math.ceil(p * s.length) - 1)] ?? 0;
  return {
    min: s[0] ?? 0,
    max: s[s.length - 1] ?? 0,
    p99: q(0.99),
    p50: q(0.5),
    over: s.filter((x) => x > 0).length,
  };
}

it(`overshoot of ${SESSIONS} budgeted sessions, with and without output caps`, async () => {
  const out: Record<string, { overshoot: number[]; ratio: number[] }> = {};
  for (const mode of ['capped', 'uncapped', 'capped + count endpoint'] as const) {
    const home = mkdtempSync(join(tmpdir(), 'bb-overshoot-'));
    const overshoot: number[] = [];
    const ratio: number[] = [];
    try {
      for (let i = 0; i < SESSIONS; i++) {
        const s = session(i);
        const used = await run(s, i, mode, home);
        overshoot.push(used - s.budget);
        ratio.push(used / s.budget);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    out[mode] = { overshoot, ratio };
  }
  const rows = Object.entries(out).map(([mode, v]) => {
    const o = stats(v.overshoot);
    const r = stats(v.ratio);
    return {
      mode,
      sessions: v.overshoot.length,
      'over budget': o.over,
      'max (used - B)': o.max,
      'p99 (used - B)': o.p99,
      'p50 (used - B)': o.p50,
      'min (used - B)': o.min,
      'max used/B': r.max.toFixed(3),
      'p99 used/B': r.p99.toFixed(3),
      'p50 used/B': r.p50.toFixed(3),
    };
  });
  console.log(`overshoot (fake output ${OUTPUT} tokens per answer, max_tokens 32000)`);
  console.table(rows);
  const capped = stats(out.capped?.overshoot ?? []);
  const uncapped = stats(out.uncapped?.overshoot ?? []);
  const counted = stats(out['capped + count endpoint']?.overshoot ?? []);
  expect(capped.max).toBeLessThanOrEqual(0);
  expect(counted.max).toBeLessThanOrEqual(0);
  // The exact input leaves less of the budget unspent than the estimate.
  expect(counted.p50).toBeGreaterThan(capped.p50);
  expect(uncapped.max).toBeGreaterThan(capped.max);
});
