// Warm start: from `bot-bottle start claude --headless` to the agent CLI's
// first request at the (fake) upstream, against a bare `docker run` of the
// same agent image sending the same first request straight to the upstream.
// Images are built before timing, so both sides start from a warm cache.
// Run: npm run bench (it runs this after bench/run.mjs).
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { expect, it } from 'vitest';
import { FAKE_HOST, startFakeLlm, type FakeLlm } from '../test/fixtures/fake-llm.js';
import { BIN, bottleRepo, runBin } from '../test/helpers/bottle-repo.js';
import { dockerOut } from '../test/helpers/docker.js';

const RUNS = Number(process.env.BENCH_DOCKER_RUNS ?? 5);

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** ms from spawning `file args` until the fake sees a new /v1/messages request. */
async function timeToFirstRequest(
  fake: FakeLlm,
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<{ ms: number; done: Promise<string> }> {
  const seen = fake.requests.length;
  const t0 = performance.now();
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const done = new Promise<string>((resolve) =>
    child.on('close', () => {
      resolve(out);
    }),
  );
  await fake.waitFor(
    (r) => fake.requests.indexOf(r) >= seen && r.path.startsWith('/v1/messages'),
    120_000,
  );
  return { ms: performance.now() - t0, done };
}

it('warm start vs bare docker run', async () => {
  const fake = await startFakeLlm();
  const fx = bottleRepo(fake.port);
  try {
    // Warm-up: builds (or finds) the images and primes the engine.
    const warm = await runBin(fx, ['start', 'claude', '--headless', '--prompt', 'hi', '--json']);
    expect(warm.code, warm.stderr).toBe(0);
    await runBin(fx, ['rm', (JSON.parse(warm.stdout) as { identity: string }).identity]);
    const image =
      dockerOut([
        'images',
        '--format',
        '{{.Repository}}:{{.Tag}}',
        '--filter',
        'reference=bot-bottle-claude',
      ]).split('\n')[0] ?? '';

    const bare: number[] = [];
    const bottle: number[] = [];
    const phases: Record<string, number[]> = {};
    for (let i = 0; i < RUNS; i++) {
      const b = await timeToFirstRequest(
        fake,
        'docker',
        [
          'run',
          '--rm',
          '--add-host',
          `${FAKE_HOST}:host-gateway`,
          '-e',
          `ANTHROPIC_BASE_URL=${fake.url}`,
          '-e',
          'ANTHROPIC_API_KEY=x',
          '-e',
          'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
          '-e',
          'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1',
          image,
          'claude',
          '--dangerously-skip-permissions',
          '-p',
          'hi',
        ],
        {},
      );
      await b.done;
      bare.push(b.ms);
      const s = await timeToFirstRequest(
        fake,
        process.execPath,
        [BIN, 'start', 'claude', '--headless', '--prompt', 'hi', '--json'],
        { cwd: fx.repo, env: fx.env },
      );
      const out = await s.done;
      bottle.push(s.ms);
      const json = out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1);
      const record = JSON.parse(json) as { timings: Record<string, number>; identity: string };
      await runBin(fx, ['rm', record.identity]);
      for (const [k, v] of Object.entries(record.timings)) (phases[k] ??= []).push(v * 1000);
    }
    const mb = median(bare);
    const ms = median(bottle);
    const lines = [
      `warm-start (median of ${RUNS}, image ${image})`,
      `  bare docker run -> first request   ${mb.toFixed(0)} ms`,
      `  bot-bottle start -> first request  ${ms.toFixed(0)} ms   ratio ${(ms / mb).toFixed(2)}x`,
      '  where the bottle time goes (median ms per phase of the whole session):',
      ...Object.entries(phases).map(([k, v]) => `    ${k.padEnd(14)} ${median(v).toFixed(0)}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    fx.cleanup();
    await fake.close();
  }
}, 1_200_000);
