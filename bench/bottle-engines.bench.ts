// Bottles on each engine, for each product build, in one run:
//   warm start  `bot-bottle start <agent> --headless` (images built) until the
//               agent's first request reaches the fake upstream, against a bare
//               `run` of the same agent image whose `node -e` sends one request
//               to the same fake (the engine's own floor), in the same round;
//   admission   from inside a running bottle, N metered calls (/v1/messages,
//               admitted by the controller over its link) against N unmetered
//               calls to the same host (/v1/messages/count_tokens), alternating
//               on kept-alive tunnels: the difference is the admission round trip.
// Which builds and engines: see bench/engines.ts and bench/README.md.
// Run: npm run build && npm run bench (or this file alone, see README).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { expect, it } from 'vitest';
import {
  FAKE_HOST,
  startFakeLlm,
  type FakeLlm,
  type RecordedRequest,
} from '../test/fixtures/fake-llm.js';
import { BIN, bottleRepo } from '../test/helpers/bottle-repo.js';
import type { Fixture } from '../test/helpers/fixture.js';
import { testImage } from '../test/helpers/docker.js';
import {
  chooseEngines,
  median,
  parseBuilds,
  quantile,
  rotate,
  type Build,
  type Engine,
  type Skipped,
} from './engines.js';

const ROUNDS = Number(process.env.BENCH_DOCKER_RUNS ?? 5);
const CALLS = Number(process.env.BENCH_ADMISSION_CALLS ?? 30);
const AGENT = process.env.BOT_BOTTLE_BENCH_AGENT ?? 'claude';
const PROMPT = 'Say hi.';
const CALLS_SCRIPT = readFileSync(new URL('./in-bottle-calls.mjs', import.meta.url), 'utf8');

interface Proc {
  child: ChildProcess;
  /** Exit code, stdout alone, and stdout and stderr as they came. */
  done: Promise<{ code: number; stdout: string; out: string }>;
}

/** The argv that runs `file args` on `engine`: as its user, with exactly its environment. */
function wrap(
  engine: Engine,
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): [string, string[], NodeJS.ProcessEnv] {
  const full = { ...env, ...engine.env };
  if (engine.user === undefined) return [file, args, full];
  const pairs = Object.entries(full)
    .filter((kv): kv is [string, string] => kv[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return ['runuser', ['-u', engine.user, '--', 'env', '-i', ...pairs, file, ...args], {}];
}

function launch(
  engine: Engine,
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Proc {
  const [f, a, env] = wrap(engine, file, args, opts.env ?? process.env);
  const child = spawn(f, a, {
    cwd: opts.cwd,
    env: engine.user === undefined ? env : { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
    out += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
  const done = new Promise<{ code: number; stdout: string; out: string }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, out });
    });
  });
  return { child, done };
}

/** The engine CLI (docker or podman) with `args`; its stdout, or a throw naming the call. */
async function engineCli(engine: Engine, args: string[]): Promise<string> {
  const r = await launch(engine, engine.cli, args, { timeoutMs: 120_000 }).done;
  if (r.code !== 0) throw new Error(`${engine.cli} ${args.slice(0, 3).join(' ')}: ${r.out.trim()}`);
  return r.stdout.trim();
}

/** bot-bottle (build `b`) in the fixture repository, as a user of `engine` would run it. */
function bottleBottle(engine: Engine, b: Build, fx: Fixture, args: string[]): Proc {
  return launch(engine, process.execPath, [b.bin, ...args], {
    env: fx.env,
    cwd: fx.repo,
    timeoutMs: 300_000,
  });
}

/**
 * The first request after index `from` that `pred` accepts, or a throw when
 * `proc` exits without one (the fake's waiter polls, so a process that ends
 * right after its request is looked up once more).
 */
async function requestOf(
  fake: FakeLlm,
  from: number,
  pred: (path: string) => boolean,
  proc: Proc,
  what: string,
  ms = 180_000,
): Promise<RecordedRequest> {
  const match = (r: RecordedRequest): boolean => fake.requests.indexOf(r) >= from && pred(r.path);
  return Promise.race([
    fake.waitFor(match, ms),
    proc.done.then((r) => {
      const hit = fake.requests.find(match);
      if (hit !== undefined) return hit;
      // Its last line says why (bot-bottle's error, or the engine's).
      const why = r.out.trim().split('\n').pop() ?? '';
      throw new Error(`${what} exited (${r.code}) before its first request: ${why}`);
    }),
  ]);
}

const isMessages = (p: string): boolean => p.startsWith('/v1/messages');

let labels = 0;
const newLabel = (): string => `bn${process.pid % 10000}-${++labels}`;

/** A repository with the test bottle, its API hosts mapped to `engine.upstream`, trusted by build `b`. */
async function fixtureFor(engine: Engine, b: Build, fake: FakeLlm): Promise<Fixture> {
  const fx = bottleRepo(fake.port, { trusted: false, upstream: engine.upstream });
  if (engine.user !== undefined) execFileSync('chown', ['-R', engine.user, fx.root]);
  const t = await bottleBottle(engine, b, fx, ['trust']).done;
  if (t.code !== 0) throw new Error(`bot-bottle trust (${b.name}): ${t.out}`);
  return fx;
}

/** Whether build `b` offers `--backend podman`. */
function hasPodman(b: Build): boolean {
  const r = spawnSync(process.execPath, [b.bin, 'start', '--help'], { encoding: 'utf8' });
  return r.stdout.includes('"podman"');
}

/** The short commit of the checkout a build lives in, for the record. */
function commitOf(b: Build): string {
  try {
    return execFileSync('git', ['-C', dirname(b.bin), 'log', '-1', '--format=%h %s'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .trim()
      .slice(0, 90);
  } catch {
    return '(not a git checkout)';
  }
}

/** Copies images the local engine has and `engine` lacks (the warm case: built once, shared). */
async function seedImages(engine: Engine, images: string[]): Promise<void> {
  for (const image of images) {
    const have = await launch(engine, engine.cli, ['image', 'inspect', image], {}).done;
    if (have.code === 0) continue;
    const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [f, a, env] = wrap(engine, engine.cli, ['load'], process.env);
    const load = spawn(f, a, {
      env: engine.user === undefined ? env : { PATH: process.env.PATH },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let said = '';
    load.stderr.on('data', (c: Buffer) => (said += c.toString('utf8')));
    save.stdout.pipe(load.stdin);
    const code = await new Promise<number | null>((resolve) => load.on('close', resolve));
    if (code !== 0) {
      throw new Error(`copying ${image} to the ${engine.name} engine failed: ${said.trim()}`);
    }
  }
}

/** A bottle whose agent waits on a held first request: the one admission runs in. */
interface Held {
  proc: Proc;
  slug: string;
  agentImage: string;
  egressImage: string;
}

async function startHeld(engine: Engine, b: Build, fx: Fixture, fake: FakeLlm): Promise<Held> {
  const slug = newLabel();
  const from = fake.requests.length;
  const proc = bottleBottle(engine, b, fx, [
    'start',
    AGENT,
    ...engine.startArgs,
    '--headless',
    '--prompt',
    'HOLD',
    '--label',
    slug,
    // A budget makes admission reserve and settle in the ledger, as configured bottles do.
    '--budget',
    '100m',
  ]);
  await requestOf(fake, from, isMessages, proc, `start (${b.name}, held)`, 600_000);
  const image = (name: string): Promise<string> =>
    engineCli(engine, ['inspect', '--format', '{{.Config.Image}}', name]);
  return {
    proc,
    slug,
    agentImage: await image(`bot-bottle-${slug}`),
    egressImage: await image(`bot-bottle-${slug}-egress`),
  };
}

interface CallTimes {
  metered: number[];
  plain: number[];
  statuses: { metered: number[]; plain: number[] };
}

async function admissionRound(engine: Engine, held: Held): Promise<CallTimes> {
  const out = await engineCli(engine, [
    'exec',
    `bot-bottle-${held.slug}`,
    'node',
    '--input-type=module',
    '-e',
    CALLS_SCRIPT,
    'api.anthropic.com',
    String(CALLS),
    '/v1/messages',
    '/v1/messages/count_tokens',
  ]);
  const line = out.split('\n').find((l) => l.startsWith('{"metered"'));
  if (line === undefined) throw new Error(`the calls in the bottle printed no times: ${out}`);
  return JSON.parse(line) as CallTimes;
}

async function stopHeld(engine: Engine, b: Build, fx: Fixture, held: Held): Promise<void> {
  await bottleBottle(engine, b, fx, ['kill', held.slug]).done;
  await held.proc.done;
}

/** ms from spawning a bottle with a one-line prompt to its agent's first request at the fake. */
async function timedStart(
  engine: Engine,
  b: Build,
  fx: Fixture,
  fake: FakeLlm,
): Promise<{ ms: number; phases: Record<string, number> }> {
  const from = fake.requests.length;
  const t0 = Date.now();
  const proc = bottleBottle(engine, b, fx, [
    'start',
    AGENT,
    ...engine.startArgs,
    '--headless',
    '--prompt',
    PROMPT,
    '--label',
    newLabel(),
    '--json',
  ]);
  const first = await requestOf(fake, from, isMessages, proc, `start (${b.name})`);
  const r = await proc.done;
  if (r.code !== 0) throw new Error(`start (${b.name}) exited ${r.code}:\n${r.out.slice(-2000)}`);
  const json = r.stdout.slice(r.stdout.indexOf('{'), r.stdout.lastIndexOf('}') + 1);
  const record = JSON.parse(json) as { identity: string; timings: Record<string, number> };
  await bottleBottle(engine, b, fx, ['rm', record.identity]).done;
  const phases = Object.fromEntries(
    Object.entries(record.timings).map(([k, v]) => [k, v * 1000] as const),
  );
  return { ms: first.at - t0, phases };
}

/** ms from spawning a bare `run` of `image` to its first request at the fake. */
async function timedBare(
  engine: Engine,
  image: string,
  fake: FakeLlm,
  kind: 'node' | 'cli',
): Promise<number> {
  const token = randomBytes(4).toString('hex');
  const path = `/bench/bare-${token}`;
  const command =
    kind === 'node'
      ? [
          'node',
          '-e',
          `require('https').get({host:'${FAKE_HOST}',port:${fake.port},path:'${path}',rejectUnauthorized:false},` +
            `(r)=>{r.resume();r.on('end',()=>process.exit(0))}).on('error',(e)=>{console.error(e.message);process.exit(1)})`,
        ]
      : ['claude', '--dangerously-skip-permissions', '-p', PROMPT];
  const env =
    kind === 'node'
      ? []
      : [
          '-e',
          `ANTHROPIC_BASE_URL=${fake.url}`,
          '-e',
          'ANTHROPIC_API_KEY=x',
          '-e',
          'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
          '-e',
          'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1',
        ];
  const from = fake.requests.length;
  const t0 = Date.now();
  const proc = launch(engine, engine.cli, [
    'run',
    '--rm',
    '--add-host',
    `${FAKE_HOST}:${engine.upstream}`,
    ...env,
    image,
    ...command,
  ]);
  const pred = (p: string): boolean => (kind === 'node' ? p === path : isMessages(p));
  const first = await requestOf(fake, from, pred, proc, `bare run (${kind})`);
  await proc.done;
  return first.at - t0;
}

/** Measurements of one engine: a cell per build, or why it could not be measured. */
interface Cell {
  fx?: Fixture;
  error?: string;
  held?: Held;
  starts: number[];
  /** Each start over the bare run of its own round. */
  ratios: number[];
  phases: Record<string, number[]>;
  calls: { metered: number[]; plain: number[]; roundDiffs: number[] };
}

interface EngineRun {
  engine: Engine;
  version: string;
  cells: Map<string, Cell>;
  bare: number[];
  bareCli: number[];
  image?: string;
  /** Why this engine's warm starts stopped (its bare run failed). */
  error?: string;
}

const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
const range = (xs: number[], d = 0): string =>
  xs.length === 0 ? '' : `[${fmt(Math.min(...xs), d)}-${fmt(Math.max(...xs), d)}]`;
const failMessage = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).split('\n').slice(0, 6).join(' | ').slice(0, 400);

function report(runs: EngineRun[], builds: Build[], skipped: Skipped[]): string[] {
  const lines: string[] = [
    `bottle-engines (agent ${AGENT}, ${ROUNDS} rounds, ${CALLS} calls of each kind per round)`,
    ...builds.map((b) => `  build ${b.name}: ${b.bin} (${commitOf(b)})`),
    ...skipped.map((s) => `  engine ${s.name}: skipped: ${s.note}`),
  ];
  for (const run of runs) {
    const e = run.engine;
    lines.push(
      '',
      `${e.name}: ${e.cli} ${run.version}${e.env.DOCKER_HOST === undefined ? '' : ` at ${e.env.DOCKER_HOST}`}${e.user === undefined ? '' : ` as ${e.user}`}, image ${run.image ?? '-'}`,
      `  warm start to first request at the fake, median ms [min-max], ratio to the bare run [per-round min-max]`,
    );
    if (run.error !== undefined) lines.push(`    not measured: ${run.error}`);
    const mb = median(run.bare);
    lines.push(
      `    bare run, node -e one request   ${fmt(mb).padStart(6)} ${range(run.bare)}   1.00x`,
    );
    if (run.bareCli.length > 0) {
      const mc = median(run.bareCli);
      lines.push(
        `    bare run, claude -p             ${fmt(mc).padStart(6)} ${range(run.bareCli)}   ${fmt(mc / mb, 2)}x`,
      );
    }
    for (const b of builds) {
      const c = run.cells.get(b.name);
      if (c === undefined) continue;
      if (c.starts.length === 0) {
        lines.push(`    bot-bottle start (${b.name})  not measured: ${c.error ?? 'no runs'}`);
        continue;
      }
      lines.push(
        `    bot-bottle start (${b.name})`.padEnd(36) +
          `${fmt(median(c.starts)).padStart(6)} ${range(c.starts)}   ${fmt(median(c.starts) / mb, 2)}x ${range(c.ratios, 2)}`,
      );
      if (c.error !== undefined) lines.push(`      (some runs failed: ${c.error})`);
    }
    lines.push('  where the bottle time goes (median ms per phase of the whole session)');
    const phaseNames = [
      ...new Set(builds.flatMap((b) => Object.keys(run.cells.get(b.name)?.phases ?? {}))),
    ];
    lines.push(`    ${'phase'.padEnd(14)}${builds.map((b) => b.name.padStart(12)).join('')}`);
    for (const p of phaseNames) {
      lines.push(
        `    ${p.padEnd(14)}${builds.map((b) => fmt(median(run.cells.get(b.name)?.phases[p] ?? [])).padStart(12)).join('')}`,
      );
    }
    lines.push(
      `  admission: ms per call from inside the bottle, over all rounds; +p50 per round [min-max]`,
      `    ${'build'.padEnd(12)}${'unmetered p50/p95'.padStart(20)}${'metered p50/p95'.padStart(20)}${'+p50'.padStart(8)}${'ratio'.padStart(8)}  per round`,
    );
    for (const b of builds) {
      const c = run.cells.get(b.name);
      if (c === undefined) continue;
      if (c.calls.metered.length === 0) {
        const why = c.held === undefined && c.starts.length === 0 ? '(see above)' : c.error;
        lines.push(`    ${b.name.padEnd(12)}not measured ${why ?? '(no calls)'}`);
        continue;
      }
      const { metered: m, plain: p, roundDiffs } = c.calls;
      const pair = (xs: number[]): string =>
        `${fmt(median(xs), 2)} / ${fmt(quantile(xs, 0.95), 2)}`;
      lines.push(
        `    ${b.name.padEnd(12)}${pair(p).padStart(20)}${pair(m).padStart(20)}` +
          `${`+${fmt(median(m) - median(p), 2)}`.padStart(8)}${`${fmt(median(m) / median(p), 2)}x`.padStart(8)}  ${range(roundDiffs, 2)}`,
      );
    }
  }
  return lines;
}

function hostSourceAddress(ip: string): string | undefined {
  const r = spawnSync('ip', ['-4', 'route', 'get', ip], { encoding: 'utf8' });
  return / src ([0-9.]+)/.exec(r.stdout)?.[1];
}

/** The test bed's docker-in-docker engine (scripts/testbed-remote.sh), found as its tests find it. */
function testbedRemote(): string | undefined {
  const name = process.env.BOT_BOTTLE_DIND_NAME ?? 'bot-bottle-dind';
  const net = process.env.BOT_BOTTLE_DIND_NET ?? 'bot-bottle-dind';
  const r = spawnSync(
    'docker',
    [
      'inspect',
      '--format',
      `{{with index .NetworkSettings.Networks "${net}"}}{{.IPAddress}}{{end}}`,
      name,
    ],
    { encoding: 'utf8' },
  );
  const ip = r.status === 0 ? r.stdout.trim() : '';
  return /^[0-9.]+$/.test(ip) ? `tcp://${ip}:2375` : undefined;
}

function uidOf(user: string): number | undefined {
  const r = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

/** The engine's version when it answers within 15 s; undefined otherwise. */
async function engineVersion(engine: Engine): Promise<string | undefined> {
  // podman without a service has no server part.
  const field = engine.cli === 'podman' ? '{{.Client.Version}}' : '{{.Server.Version}}';
  const p = launch(engine, engine.cli, ['version', '--format', field], {
    timeoutMs: 15_000,
  });
  const r = await p.done;
  return r.code === 0 ? r.out.trim().split('\n').pop() : undefined;
}

it('bottles on each engine, for each build: warm start and admission', async () => {
  const builds = parseBuilds(process.env.BOT_BOTTLE_BENCH_BINS, BIN);
  const chosen = chooseEngines(process.env, {
    sourceAddressTo: hostSourceAddress,
    userExists: (u) => uidOf(u) !== undefined,
    uidOf,
    homeOf: (u) => {
      const r = spawnSync('getent', ['passwd', u], { encoding: 'utf8' });
      return r.status === 0 ? r.stdout.trim().split(':')[5] : undefined;
    },
    testbedRemote,
  });
  const skipped = [...chosen.skipped];
  const fake = await startFakeLlm();
  const runs: EngineRun[] = [];
  let reported = false;
  // The local engine first: its warm-up builds the images the other engines are given.
  const engines = [...chosen.engines].sort(
    (a, b) => Number(b.name === 'local') - Number(a.name === 'local'),
  );
  try {
    for (const engine of engines) {
      const version = await engineVersion(engine);
      if (version === undefined) {
        skipped.push({ name: engine.name, note: `${engine.cli} does not answer; not measured` });
        continue;
      }
      const run: EngineRun = { engine, version, cells: new Map(), bare: [], bareCli: [] };
      for (const b of builds) {
        const cell: Cell = {
          starts: [],
          ratios: [],
          phases: {},
          calls: { metered: [], plain: [], roundDiffs: [] },
        };
        run.cells.set(b.name, cell);
        if (engine.cli === 'podman' && !hasPodman(b)) {
          cell.error = 'this build has no --backend podman';
          continue;
        }
        try {
          cell.fx = await fixtureFor(engine, b, fake);
        } catch (e) {
          cell.error = failMessage(e);
        }
      }
      runs.push(run);
    }

    // Warm-up and admission: one held bottle per engine and build (its launch builds or finds
    // the images); rounds of calls in each, the builds' order rotating.
    const localImages = new Set<string>([testImage]);
    let localAgentImage: string | undefined;
    for (const run of runs) {
      if (run.engine.name !== 'local') {
        try {
          await seedImages(run.engine, [...localImages]);
        } catch (e) {
          run.error = failMessage(e);
          continue;
        }
        // The bare baseline runs even where no build can launch a bottle.
        if (localAgentImage !== undefined) run.image = localAgentImage;
      }
      for (const b of builds) {
        const cell = run.cells.get(b.name);
        if (cell?.fx === undefined) continue;
        try {
          cell.held = await startHeld(run.engine, b, cell.fx, fake);
          run.image ??= cell.held.agentImage;
          if (run.engine.name === 'local') {
            localAgentImage ??= cell.held.agentImage;
            localImages.add(cell.held.agentImage);
            localImages.add(cell.held.egressImage);
          }
        } catch (e) {
          cell.error = failMessage(e);
        }
      }
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const run of runs) {
        for (const b of rotate(builds, r)) {
          const cell = run.cells.get(b.name);
          if (cell?.held === undefined) continue;
          try {
            const t = await admissionRound(run.engine, cell.held);
            expect(
              t.statuses.metered.every((s) => s === 200),
              JSON.stringify(t.statuses),
            ).toBe(true);
            cell.calls.metered.push(...t.metered);
            cell.calls.plain.push(...t.plain);
            cell.calls.roundDiffs.push(median(t.metered) - median(t.plain));
          } catch (e) {
            cell.error = failMessage(e);
          }
        }
      }
    }
    for (const run of runs) {
      for (const b of builds) {
        const cell = run.cells.get(b.name);
        if (cell?.held !== undefined && cell.fx !== undefined) {
          await stopHeld(run.engine, b, cell.fx, cell.held);
        }
      }
    }

    // Warm start: round 0 is an untimed warm-up of the whole path; then each round has the
    // bare runs and every build once, the builds' order rotating.
    for (let r = 0; r <= ROUNDS; r++) {
      for (const run of runs) {
        if (run.image === undefined || run.error !== undefined) continue;
        let bare: number;
        let bareCli: number | undefined;
        try {
          bare = await timedBare(run.engine, run.image, fake, 'node');
          if (AGENT === 'claude') bareCli = await timedBare(run.engine, run.image, fake, 'cli');
        } catch (e) {
          run.error = `bare run: ${failMessage(e)}`;
          continue;
        }
        const starts = new Map<string, { ms: number; phases: Record<string, number> }>();
        for (const b of rotate(builds, r)) {
          const cell = run.cells.get(b.name);
          if (cell?.fx === undefined || cell.held === undefined) continue;
          try {
            starts.set(b.name, await timedStart(run.engine, b, cell.fx, fake));
          } catch (e) {
            cell.error = failMessage(e);
          }
        }
        if (r === 0) continue;
        run.bare.push(bare);
        if (bareCli !== undefined) run.bareCli.push(bareCli);
        for (const [name, s] of starts) {
          const cell = run.cells.get(name);
          if (cell === undefined) continue;
          cell.starts.push(s.ms);
          cell.ratios.push(s.ms / bare);
          for (const [k, v] of Object.entries(s.phases)) (cell.phases[k] ??= []).push(v);
        }
      }
    }
    reported = true;
    process.stdout.write(`${report(runs, builds, skipped).join('\n')}\n`);
    // The bench itself must work where it always can: every build on the local engine.
    for (const run of runs.filter((x) => x.engine.name === 'local')) {
      expect(run.error, 'local engine').toBeUndefined();
      for (const [name, cell] of run.cells) {
        expect(cell.error, `local engine, build ${name}`).toBeUndefined();
      }
    }
  } finally {
    // A run that broke off still shows what it measured.
    if (!reported) process.stdout.write(`${report(runs, builds, skipped).join('\n')}\n`);
    for (const run of runs) for (const c of run.cells.values()) c.fx?.cleanup();
    await fake.close();
  }
}, 3_600_000);
