// bot-bottle benchmarks. Run: npm run bench (after npm run build).
//
// Each benchmark prints a ratio against a baseline measured in the same run,
// so numbers stay comparable across machines:
//   cli-dry-run   `bot-bottle start <agent> --dry-run --json` on a composed,
//                 extended config  vs  `node -e 0` (bare Node startup)
//   plan-build    loadConfig + buildPlan in-process for a 200-bottle config
//                 vs  reading the same files with readFileSync only
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 25);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeIt(fn, runs = RUNS) {
  fn(); // warm-up
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

function write(base, rel, text) {
  const p = join(base, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
}

function fixture(bottles) {
  const root = mkdtempSync(join(tmpdir(), 'bb-bench-'));
  const repo = join(root, 'repo');
  const home = join(root, 'home');
  write(home, 'settings.yml', 'budget:\n  claude: 5000000\ncutoff: freeze\n');
  write(
    home,
    'bottles/base.md',
    '---\nenv:\n  A: "?"\n  B: env:HOME\negress:\n  allow: [api.anthropic.com]\n---\n',
  );
  for (let i = 0; i < bottles; i++) {
    const parent = i === 0 ? 'base' : `b${i - 1}`;
    write(
      repo,
      `.bot-bottle/bottles/b${i}.md`,
      `---\nextends: ${parent}\nenv:\n  V${i}: "cmd:printf x"\negress:\n  allow: [h${i}.example.com]\n---\n`,
    );
  }
  write(
    repo,
    '.bot-bottle/agents/a.md',
    `---\nprovider: claude\nbottle: b${bottles - 1}\n---\nprompt\n`,
  );
  const env = { PATH: process.env.PATH, HOME: root, BOT_BOTTLE_HOME: home };
  return { root, repo, home, env };
}

const results = [];

// --- cli-dry-run ---------------------------------------------------------------
{
  const fx = fixture(5);
  const base = timeIt(() => execFileSync(process.execPath, ['-e', '0']));
  const cli = timeIt(() =>
    execFileSync(process.execPath, [BIN, 'start', 'a', '--dry-run', '--json'], {
      cwd: fx.repo,
      env: fx.env,
    }),
  );
  results.push({ name: 'cli-dry-run (5-deep extends)', baselineMs: base, ms: cli });
  rmSync(fx.root, { recursive: true, force: true });
}

// --- plan-build ----------------------------------------------------------------
{
  const fx = fixture(200);
  const { loadConfig } = await import('../dist/manifest/load.js');
  const { loadSettings } = await import('../dist/settings/settings.js');
  const { buildPlan } = await import('../dist/plan/build.js');
  const dir = join(fx.repo, '.bot-bottle/bottles');
  const readOnly = timeIt(() => {
    for (const f of readdirSync(dir)) readFileSync(join(dir, f), 'utf8');
  });
  const plan = timeIt(() => {
    const index = loadConfig({ cwd: fx.repo, env: fx.env });
    const settings = loadSettings({ cwd: fx.repo, env: fx.env });
    buildPlan(index, settings, {
      agent: 'a',
      bottles: [],
      workspace: fx.repo,
      cwd: fx.repo,
      env: fx.env,
    });
  });
  results.push({
    name: 'plan-build (200 bottles, 200-deep extends)',
    baselineMs: readOnly,
    ms: plan,
  });
  rmSync(fx.root, { recursive: true, force: true });
}

console.log(`node ${process.version}, ${RUNS} runs each, medians`);
console.log(
  'benchmark'.padEnd(44),
  'baseline ms'.padStart(12),
  'ms'.padStart(9),
  'ratio'.padStart(8),
);
for (const r of results) {
  console.log(
    r.name.padEnd(44),
    r.baselineMs.toFixed(2).padStart(12),
    r.ms.toFixed(2).padStart(9),
    `${(r.ms / r.baselineMs).toFixed(2)}x`.padStart(8),
  );
}
