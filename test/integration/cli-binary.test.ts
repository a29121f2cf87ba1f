import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bottlePlanSchema } from '../../src/plan/schema.js';
import { describeDocker, testImage } from '../helpers/docker.js';

const execFileAsync = promisify(execFile);
const BIN = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));
const TESTBED = fileURLToPath(new URL('../../scripts/testbed.sh', import.meta.url));

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

async function runBin(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Out> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, ...args], {
      cwd,
      env,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** The built `bot-bottle` binary, driven as a user would from a fresh repository. */
describe('bot-bottle binary', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    expect(existsSync(BIN), 'run `npm run build` first').toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'bb-bin-'));
    env = { PATH: process.env.PATH, HOME: dir, BOT_BOTTLE_HOME: join(dir, 'home') };
    await execFileAsync('git', ['init', '-q', join(dir, 'repo')]);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('init writes a working example, and refuses to overwrite it', async () => {
    const repo = join(dir, 'repo');
    const first = await runBin(['init'], repo, env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('.bot-bottle/agents/claude.md');
    expect(readFileSync(join(repo, '.bot-bottle/bottles/anthropic.md'), 'utf8')).toContain(
      'x-api-key: env:ANTHROPIC_API_KEY',
    );
    const again = await runBin(['init'], repo, env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('not overwriting existing');
    expect(again.stderr).toContain('--force');
  });

  it('start --dry-run --json on the example prints a valid plan without the key', async () => {
    const key = 'sk-ant-api03-do-not-print-me';
    const r = await runBin(['start', 'claude', '--dry-run', '--json'], join(dir, 'repo'), {
      ...env,
      ANTHROPIC_API_KEY: key,
    });
    expect(r.code, r.stderr).toBe(0);
    const plan = bottlePlanSchema.parse(JSON.parse(r.stdout));
    expect(plan.egress.allow).toEqual(['api.anthropic.com']);
    expect(plan.egress.routes[0]?.headers[0]?.source).toEqual({
      kind: 'env',
      name: 'ANTHROPIC_API_KEY',
    });
    expect(plan.warnings).toEqual([]);
    expect(r.stdout + r.stderr).not.toContain(key);
  });

  it('an interactive start without a terminal points to --headless, exit 2', async () => {
    const r = await runBin(['start', 'claude'], join(dir, 'repo'), env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('an interactive start needs a terminal');
    expect(r.stderr).toContain("bot-bottle start claude --headless --prompt '...'");
  });

  it("usage errors exit 2 with commander's message and no stack trace", async () => {
    const r = await runBin(['start', 'claude', '--no-such-flag'], join(dir, 'repo'), env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--no-such-flag'");
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('--help teaches: commands, configuration, exit codes, examples', async () => {
    const r = await runBin(['--help'], dir, env);
    expect(r.code).toBe(0);
    for (const s of ['start', 'init', 'doctor', 'settings.yml', 'Exit codes', 'bot-bottle init'])
      expect(r.stdout).toContain(s);
    const start = await runBin(['start', '--help'], dir, env);
    for (const s of ['--bottle', '--dry-run', '--json', '--budget', 'Examples'])
      expect(start.stdout).toContain(s);
  });
});

describeDocker('bot-bottle doctor (real docker)', () => {
  const env = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: tmpdir(),
    BOT_BOTTLE_HOME: join(tmpdir(), 'bb-doctor-none'),
  });

  it('reports a ready machine with exit 0', async () => {
    const r = await runBin(['doctor', '--json'], tmpdir(), {
      ...env(),
      BOT_BOTTLE_BASE_IMAGE: testImage,
    });
    expect(r.code, r.stdout).toBe(0);
    const out = JSON.parse(r.stdout) as {
      checks: { id: string; status: string; summary: string }[];
    };
    const byId = Object.fromEntries(out.checks.map((c) => [c.id, c]));
    expect(byId['docker-engine']?.status).toBe('ok');
    expect(byId['runtime-runc']?.status).toBe('ok');
    expect(byId['runtime-runsc']?.status).toBe('ok');
    expect(byId['base-image']).toMatchObject({
      status: 'ok',
      summary: `${testImage} (BOT_BOTTLE_BASE_IMAGE) is present`,
    });
  });

  it('names a missing base image and how to get it, exit 3', async () => {
    const missing = 'bot-bottle-test/absent:none';
    const r = await runBin(['doctor'], tmpdir(), { ...env(), BOT_BOTTLE_BASE_IMAGE: missing });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(
      `FAIL  base image      ${missing} (BOT_BOTTLE_BASE_IMAGE) is not present locally`,
    );
    expect(r.stdout).toContain(`fix: \`docker pull ${missing}\``);
    // Self-contained: the npm package ships no scripts to point at.
    expect(r.stdout).toContain(`docker import - ${missing}`);
    expect(r.stdout).not.toMatch(/testbed|scripts\//);
  });

  it('checks extra CA files: a bad one fails with its path', async () => {
    const bad = join(tmpdir(), `bb-not-a-ca-${process.pid}.pem`);
    writeFileSync(bad, 'not a certificate\n');
    try {
      const r = await runBin(['doctor', '--json'], tmpdir(), {
        ...env(),
        BOT_BOTTLE_BASE_IMAGE: testImage,
        BOT_BOTTLE_EXTRA_CA_CERTS: bad,
      });
      expect(r.code).toBe(3);
      const out = JSON.parse(r.stdout) as {
        checks: { id: string; status: string; summary: string }[];
      };
      const ca = out.checks.find((c) => c.id === 'extra-ca');
      expect(ca?.status).toBe('fail');
      expect(ca?.summary).toContain(`${bad} (BOT_BOTTLE_EXTRA_CA_CERTS) holds no PEM certificate`);
    } finally {
      rmSync(bad, { force: true });
    }
  });

  it('the test bed script is idempotent: a second run installs nothing', async () => {
    const { stderr } = await execFileAsync('bash', [TESTBED], {
      env: { ...process.env, BOT_BOTTLE_BASE_IMAGE: testImage },
      timeout: 120_000,
    });
    expect(stderr).toContain('engine ready');
    expect(stderr).toContain(`base image ${testImage} present`);
    expect(stderr).not.toContain('apt-get install');
    expect(stderr).not.toContain('debootstrap');
  });
});
