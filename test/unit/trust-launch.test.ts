import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { main } from '../../src/cli/main.js';
import type { Services } from '../../src/cli/services.js';
import type { LaunchRecord, SessionRequest } from '../../src/controller/session.js';
import { saveBottle } from '../../src/controller/state.js';
import { resolveEnv, resolveRoutes } from '../../src/controller/values.js';
import { bottlePlanSchema, type BottlePlan } from '../../src/plan/schema.js';
import { TrustError } from '../../src/trust/assess.js';
import { keepTrustAcrossEdit } from '../../src/trust/own-write.js';
import type { Ui } from '../../src/tui/pickers.js';
import { makeFixture, md, writeTree, type Fixture, type FileTree } from '../helpers/fixture.js';

/**
 * A repository layer acting on the host: what is refused while it is not
 * trusted, and what the user sees. The launch core is replaced by the real
 * value resolution (resolveEnv, resolveRoutes), so a command that slipped
 * through would really run and leave its marker file.
 */

let fx: Fixture | undefined;
afterEach(() => {
  fx?.cleanup();
  fx = undefined;
});

interface Harness {
  fx: Fixture;
  marker: string;
  launches: SessionRequest[];
  run: (argv: string[], cwd?: string) => Promise<{ code: number; stdout: string; stderr: string }>;
}

function harness(
  opts: { repo?: FileTree; home?: FileTree; answers?: boolean[]; interactive?: boolean } = {},
): Harness {
  const f = makeFixture({}, { BB_HOST_SECRET: 'host-secret-value' });
  fx = f;
  const marker = join(f.root, 'pwned');
  const sub = (tree: FileTree | undefined): FileTree =>
    Object.fromEntries(
      Object.entries(tree ?? {}).map(([k, v]) => [
        k,
        typeof v === 'string' ? v.replaceAll('MARKER', marker) : v,
      ]),
    );
  const repo = sub(
    opts.repo ?? {
      '.bot-bottle/bottles/dev.md': md(`
env:
  FROM_CMD: 'cmd:touch MARKER'
  PLAIN: hello
egress:
  allow: [api.anthropic.com]
  routes:
    - host: api.anthropic.com
      headers: { x-api-key: env:BB_HOST_SECRET }
`),
      '.bot-bottle/agents/coder.md': md('provider: claude\nbottle: dev', 'Code.'),
    },
  );
  writeTree(f.repo, repo);
  writeTree(f.home, sub(opts.home));
  execFileSync('git', ['init', '-q', '-b', 'main', f.repo]);
  git(f.repo, 'add', '-A');
  git(f.repo, 'commit', '-q', '--allow-empty', '-m', 'initial');

  const launches: SessionRequest[] = [];
  const answers = [...(opts.answers ?? [])];
  const ui = new Proxy({} as Ui, {
    get: (_t, prop) =>
      prop === 'confirm'
        ? () => Promise.resolve(answers.shift() ?? false)
        : prop === 'pickBottles'
          ? (_all: string[], preselected: string[]) => Promise.resolve([...preselected])
          : () => {
              throw new Error(`picker ${String(prop)} fired`);
            },
  });
  const backend = { name: 'docker', enumerateActive: () => Promise.resolve([]) };
  const services: Partial<Services> = {
    backend: () => backend as unknown as Backend,
    ui,
    interactive: opts.interactive ?? true,
    runSession: async (req) => {
      launches.push(req);
      // What the real launch core does first with values: resolve them on the host.
      await resolveEnv(req.plan, req.literals, req.env, req.ask);
      await resolveRoutes(req.plan, req.literals, req.env, req.ask);
      return record(req.plan);
    },
  };
  const run: Harness['run'] = async (argv, cwd) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, {
      cwd: cwd ?? f.repo,
      env: f.env,
      io: { out: (t) => (stdout += `${t}\n`), err: (t) => (stderr += `${t}\n`) },
      services,
    });
    return { code, stdout, stderr };
  };
  return { fx: f, marker, launches, run };
}

function git(cwd: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    stdio: 'ignore',
  });
}

function record(plan: BottlePlan): LaunchRecord {
  return {
    outcome: 'ended',
    slug: plan.slug,
    label: plan.label,
    identity: `${plan.slug}-20260101-000000`,
    agent: plan.agent.name,
    provider: plan.agent.provider,
    bottles: plan.bottles.map((b) => b.name),
    runtime: plan.runtime.name,
    exitCode: 0,
    branch: null,
    commits: 0,
    committedLeftovers: false,
    workNote: 'no new commits; no branch was created',
    savedImage: 'bot-bottle-saved:x',
    resumeCommand: 'bot-bottle resume x',
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:00:01.000Z',
    timings: {},
    redactions: {},
  };
}

const HEADLESS = ['start', 'coder', '--headless', '--prompt', 'go'];

describe('an untrusted repository layer does not act on the host', () => {
  it('start --headless exits 2 naming bot-bottle trust, lists what it would do, runs nothing', async () => {
    const h = harness();
    const r = await h.run(HEADLESS);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is not trusted');
    expect(r.stderr).toContain('this --headless launch would act on this host');
    expect(r.stderr).toContain(
      `env FROM_CMD (bottle dev): runs \`touch ${h.marker}\` on this host`,
    );
    expect(r.stderr).toContain(
      'route api.anthropic.com header x-api-key (bottle dev): reads the host variable BB_HOST_SECRET, and the proxy sends it to api.anthropic.com',
    );
    expect(r.stderr).toContain('run `bot-bottle trust`');
    expect(r.stderr).not.toContain('PLAIN'); // a literal does not act on the host
    expect(h.launches).toHaveLength(0);
    expect(existsSync(h.marker)).toBe(false);
  });

  it('--json: the refusal is an object naming every entry that needs trust', async () => {
    const h = harness();
    const r = await h.run([...HEADLESS, '--json']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as {
      error: string;
      hint: string;
      trust: { state: string };
      needsTrust: { what: string }[];
    };
    expect(out.error).toBe('TrustError');
    expect(out.hint).toContain('bot-bottle trust');
    expect(out.trust.state).toBe('untrusted');
    expect(out.needsTrust.map((n) => n.what)).toEqual([
      'env FROM_CMD',
      'route api.anthropic.com header x-api-key',
    ]);
    expect(existsSync(h.marker)).toBe(false);
  });

  it('-y refuses too: it would skip the question', async () => {
    const h = harness({ answers: [true, true] });
    const r = await h.run(['start', 'coder', '-y', '--label', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('-y asks nothing');
    expect(r.stderr).toContain('bot-bottle trust');
    expect(h.launches).toHaveLength(0);
    expect(existsSync(h.marker)).toBe(false);
  });

  it('resume refuses with exit 2', async () => {
    const h = harness();
    const dry = await h.run(['start', 'coder', '--dry-run', '--json']);
    const plan = bottlePlanSchema.parse(JSON.parse(dry.stdout));
    saveBottle(h.fx.env, {
      identity: 'coder-20260101-000000',
      slug: 'coder',
      label: 'coder',
      agent: 'coder',
      provider: 'claude',
      bottles: ['dev'],
      color: null,
      image: 'bot-bottle-saved:coder',
      reason: 'ended',
      savedAt: '2026-01-01T00:00:00.000Z',
      startedAt: '2026-01-01T00:00:00.000Z',
      repo: h.fx.repo,
      baseCommit: null,
      branch: null,
      exitCode: 0,
      plan,
    });
    for (const argv of [
      ['resume', 'coder-20260101-000000'],
      ['resume', 'coder-20260101-000000', '--headless', '--prompt', 'go on'],
    ]) {
      const r = await h.run(argv);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('resuming coder-20260101-000000 would act on this host');
      expect(r.stderr).toContain('bot-bottle trust');
    }
    expect(h.launches).toHaveLength(0);
    expect(existsSync(h.marker)).toBe(false);
  });

  it('--dry-run --json marks each entry that needs trust, and where it comes from', async () => {
    const h = harness();
    const r = await h.run(['start', 'coder', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const plan = bottlePlanSchema.parse(JSON.parse(r.stdout));
    expect(plan.trust).toMatchObject({ state: 'untrusted', needed: 2, approvedOnce: false });
    expect(plan.trust.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(plan.env).toEqual([
      expect.objectContaining({ name: 'FROM_CMD', layer: 'repo', from: 'dev', needsTrust: true }),
      expect.objectContaining({ name: 'PLAIN', layer: 'repo', from: 'dev', needsTrust: false }),
    ]);
    expect(plan.egress.routes[0]?.headers[0]).toMatchObject({ layer: 'repo', needsTrust: true });
    const text = await h.run(['start', 'coder', '--dry-run']);
    expect(text.stdout).toContain(`FROM_CMD <- cmd:touch ${h.marker}  ! needs trust`);
    expect(text.stdout).toContain('2 entries act on this host (marked !)');
    expect(existsSync(h.marker)).toBe(false);
  });

  it('the value resolution itself refuses: no command, no file, no variable is touched', async () => {
    const h = harness({
      repo: {
        '.bot-bottle/bottles/dev.md': md(`
env:
  A: 'cmd:touch MARKER'
  B: file:~/.aws/credentials
  C: env:BB_HOST_SECRET
`),
        '.bot-bottle/agents/coder.md': md('provider: claude\nbottle: dev'),
      },
    });
    const r = await h.run(['start', 'coder', '--dry-run', '--json']);
    const plan = bottlePlanSchema.parse(JSON.parse(r.stdout));
    const read: string[] = [];
    const env = new Proxy(
      { BB_HOST_SECRET: 'x' },
      {
        get: (t, k) => {
          read.push(String(k));
          return Reflect.get(t, k) as unknown;
        },
      },
    );
    const err = await resolveEnv(plan, new Map(), env, () => Promise.resolve('typed')).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TrustError);
    expect((err as Error).message).toContain('reads the host file');
    expect((err as Error).message).toContain('.aws/credentials');
    expect(read).toEqual([]);
    expect(existsSync(h.marker)).toBe(false);
    // The routes step refuses on the same grounds, before its first value.
    await expect(resolveRoutes(plan, new Map(), env, undefined)).rejects.toThrow(TrustError);
    expect(read).toEqual([]);
  });

  it('routes are refused on their own too', async () => {
    const h = harness({
      repo: {
        '.bot-bottle/bottles/dev.md': md(`
egress:
  allow: [api.anthropic.com]
  routes:
    - host: api.anthropic.com
      headers: { x-api-key: 'cmd:touch MARKER' }
`),
        '.bot-bottle/agents/coder.md': md('provider: claude\nbottle: dev'),
      },
    });
    const plan = bottlePlanSchema.parse(
      JSON.parse((await h.run(['start', 'coder', '--dry-run', '--json'])).stdout),
    );
    await expect(resolveRoutes(plan, new Map(), {}, undefined)).rejects.toThrow(
      /route api\.anthropic\.com header x-api-key \(bottle dev\): runs `touch .*pwned`/,
    );
    expect(existsSync(h.marker)).toBe(false);
  });

  it('ssh keys and egress.hosts of the repository need trust too; literals do not', async () => {
    const h = harness({
      repo: {
        '.bot-bottle/bottles/dev.md': md(`
env:
  LIT: some text
egress:
  allow: [x.test]
  hosts: { x.test: 'host-gateway:8080' }
ssh:
  - { Host: github.com, IdentityFile: ~/.ssh/id_ed25519 }
`),
        '.bot-bottle/bottles/lit.md': md('env:\n  LIT: some text'),
        '.bot-bottle/agents/coder.md': md('provider: claude\nbottle: dev'),
        '.bot-bottle/agents/lit.md': md('provider: claude\nbottle: lit'),
      },
    });
    const r = await h.run(HEADLESS);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ssh github.com (bottle dev): copies the host file');
    expect(r.stderr).toContain(
      'egress.hosts x.test (bottle dev): sends x.test to host-gateway:8080, exempt from the private-address checks',
    );
    expect(r.stderr).not.toContain('LIT');
    const lit = await h.run(['start', 'lit', '--headless', '--prompt', 'go']);
    expect(lit.code, lit.stderr).toBe(0);
    expect(h.launches).toHaveLength(1);
  });
});

describe('the interactive start shows what would act on the host and asks', () => {
  it('no (the default): nothing is created, nothing runs', async () => {
    const h = harness({ answers: [false] });
    const r = await h.run(['start', 'coder', '--label', 'x']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('This launch would, on this host (marked ! above):');
    expect(r.stderr).toContain(`runs \`touch ${h.marker}\` on this host`);
    expect(r.stderr).toContain('FROM_CMD <- cmd:touch');
    expect(r.stderr).toContain('not launched; nothing was created and nothing ran');
    expect(h.launches).toHaveLength(0);
    expect(existsSync(h.marker)).toBe(false);
  });

  it('yes for this launch only: it runs, and the next headless launch is still refused', async () => {
    const h = harness({ answers: [true, false] });
    const r = await h.run(['start', 'coder', '--label', 'x']);
    expect(r.code, r.stderr).toBe(0);
    expect(h.launches).toHaveLength(1);
    expect(h.launches[0]?.plan.trust).toMatchObject({ state: 'untrusted', approvedOnce: true });
    expect(existsSync(h.marker)).toBe(true);
    expect((await h.run(HEADLESS)).code).toBe(2);
  });

  it('yes and trust: the layer is trusted from now on', async () => {
    const h = harness({ answers: [true, true] });
    expect((await h.run(['start', 'coder', '--label', 'x'])).code).toBe(0);
    const r = await h.run(HEADLESS);
    expect(r.code, r.stderr).toBe(0);
    expect(h.launches).toHaveLength(2);
  });
});

describe('bot-bottle trust', () => {
  it('trust, then launches proceed; a change the way an agent branch makes it is untrusted again', async () => {
    const h = harness();
    const t = await h.run(['trust']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain(`trusted the repository layer at ${h.fx.repo}`);
    expect(t.stdout).toContain(`env FROM_CMD (bottle dev): runs \`touch ${h.marker}\``);
    const ok = await h.run(HEADLESS);
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(h.marker)).toBe(true);
    expect(h.launches[0]?.plan.trust.state).toBe('trusted');

    // The agent's work comes home as branch bot-bottle/<slug>; the user merges it.
    const second = join(h.fx.root, 'stolen');
    git(h.fx.repo, 'checkout', '-q', '-b', 'bot-bottle/coder');
    writeFileSync(
      join(h.fx.repo, '.bot-bottle/bottles/dev.md'),
      readFileSync(join(h.fx.repo, '.bot-bottle/bottles/dev.md'), 'utf8').replace(
        'PLAIN: hello',
        `PLAIN: hello\n  MORE: 'cmd:touch ${second}'`,
      ),
    );
    git(h.fx.repo, 'commit', '-q', '-am', 'helpful change');
    git(h.fx.repo, 'checkout', '-q', 'main');
    git(h.fx.repo, 'merge', '-q', '--ff-only', 'bot-bottle/coder');

    const r = await h.run(HEADLESS);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('changed since it was trusted');
    expect(r.stderr).toContain('bot-bottle trust');
    expect(existsSync(second)).toBe(false);
    expect(h.launches).toHaveLength(1);
    const show = await h.run(['trust', '--show', '--json']);
    expect(JSON.parse(show.stdout)).toMatchObject({
      state: 'changed',
      changes: [{ path: '.bot-bottle/bottles/dev.md', change: 'modified' }],
    });
  });

  it('an added skill file also needs trust again', async () => {
    const h = harness();
    expect((await h.run(['trust'])).code).toBe(0);
    mkdirSync(join(h.fx.repo, '.bot-bottle/skills/new'), { recursive: true });
    writeFileSync(join(h.fx.repo, '.bot-bottle/skills/new/SKILL.md'), 'x');
    expect((await h.run(HEADLESS)).code).toBe(2);
  });

  it('--show lists the state and every host-acting entry; --json as well', async () => {
    const h = harness();
    const s = await h.run(['trust', '--show']);
    expect(s.code).toBe(0);
    expect(s.stdout).toContain(`repository layer ${h.fx.repo}: not trusted`);
    expect(s.stdout).toContain('env FROM_CMD (bottle dev)');
    expect(s.stdout).toContain('route api.anthropic.com header x-api-key (bottle dev)');
    const j = JSON.parse((await h.run(['trust', '--show', '--json'])).stdout) as {
      state: string;
      actsOnHost: { what: string; file: string }[];
    };
    expect(j.state).toBe('untrusted');
    expect(j.actsOnHost.map((a) => [a.what, a.file])).toEqual([
      ['env FROM_CMD', '.bot-bottle/bottles/dev.md'],
      ['route api.anthropic.com header x-api-key', '.bot-bottle/bottles/dev.md'],
    ]);
    await h.run(['trust']);
    expect(
      (JSON.parse((await h.run(['trust', '--show', '--json'])).stdout) as { state: string }).state,
    ).toBe('trusted');
  });

  it('--revoke removes the trust; revoking again says there was none', async () => {
    const h = harness();
    await h.run(['trust']);
    const r = await h.run(['trust', '--revoke', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'ok', revoked: true });
    expect((await h.run(HEADLESS)).code).toBe(2);
    const again = await h.run(['trust', '--revoke']);
    expect(again.stdout).toContain('was not trusted; nothing to revoke');
  });

  it('works from a sub-directory and through a symlinked path to the repository (one record)', async () => {
    const h = harness();
    const sub = join(h.fx.repo, 'src');
    mkdirSync(sub);
    expect((await h.run(['trust'], sub)).code).toBe(0);
    const link = join(h.fx.root, 'link');
    symlinkSync(h.fx.repo, link);
    const r = await h.run(HEADLESS, link);
    expect(r.code, r.stderr).toBe(0);
  });

  it('refuses to trust a layer with a symlinked entity file, naming it', async () => {
    const h = harness();
    const outside = join(h.fx.root, 'outside.md');
    writeFileSync(outside, md('env:\n  X: cmd:touch /tmp/x'));
    symlinkSync(outside, join(h.fx.repo, '.bot-bottle/bottles/linked.md'));
    const r = await h.run(['trust']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot trust the repository layer');
    expect(r.stderr).toContain('.bot-bottle/bottles/linked.md is a symbolic link outside a skill');
    expect((await h.run(HEADLESS)).code).toBe(2);
  });

  it('with no repository layer: trust is a usage error, --show says the home layer is trusted', async () => {
    const h = harness({ repo: {} });
    const r = await h.run(['trust']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no repository layer');
    const s = await h.run(['trust', '--show']);
    expect(s.stdout).toContain('is always trusted');
  });

  it('a trust record that is not one counts as no trust', async () => {
    const h = harness();
    await h.run(['trust']);
    const dir = join(h.fx.home, 'trust');
    const { readdirSync } = await import('node:fs');
    for (const f of readdirSync(dir)) writeFileSync(join(dir, f), '{"version":1,"root":"/"}');
    const r = await h.run(HEADLESS);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not a trust record');
  });
});

describe('the home layer is always trusted; only the repository layer needs trust', () => {
  it('a repository bottle extending a home bottle: the home entries stay usable, the repo ones need trust', async () => {
    const h = harness({
      home: {
        'bottles/base.md': md(`
env:
  HOME_CMD: 'cmd:touch MARKER'
egress:
  allow: [api.anthropic.com]
  routes:
    - host: api.anthropic.com
      headers: { x-api-key: env:BB_HOST_SECRET }
`),
      },
      repo: {
        '.bot-bottle/bottles/dev.md': md(`
extends: base
env:
  REPO_LIT: literal text
egress:
  routes:
    - host: api.anthropic.com
      headers: { x-extra: env:BB_HOST_SECRET }
`),
        '.bot-bottle/bottles/lit.md': md('extends: base\nenv:\n  REPO_LIT: text'),
        '.bot-bottle/agents/coder.md': md('provider: claude\nbottle: dev'),
        '.bot-bottle/agents/lit.md': md('provider: claude\nbottle: lit'),
      },
    });
    const plan = bottlePlanSchema.parse(
      JSON.parse((await h.run(['start', 'coder', '--dry-run', '--json'])).stdout),
    );
    expect(plan.env).toEqual([
      expect.objectContaining({ name: 'HOME_CMD', layer: 'home', from: 'base', needsTrust: false }),
      expect.objectContaining({ name: 'REPO_LIT', layer: 'repo', from: 'dev', needsTrust: false }),
    ]);
    // One route, two headers from two layers: each header has its own owner.
    expect(plan.egress.routes[0]?.headers.map((x) => [x.name, x.layer, x.needsTrust])).toEqual([
      ['x-api-key', 'home', false],
      ['x-extra', 'repo', true],
    ]);
    expect((await h.run(HEADLESS)).code).toBe(2);
    // Only literals of its own: the launch goes ahead, and the home command runs.
    const lit = await h.run(['start', 'lit', '--headless', '--prompt', 'go']);
    expect(lit.code, lit.stderr).toBe(0);
    expect(existsSync(h.marker)).toBe(true);
  });

  it('a repository bottle replacing a home bottle of the same name brings its own entries under trust', async () => {
    const h = harness({
      home: {
        'bottles/dev.md': md('env:\n  X: env:BB_HOST_SECRET'),
        'agents/coder.md': md('provider: claude\nbottle: dev'),
      },
      repo: { '.bot-bottle/bottles/dev.md': md("env:\n  X: 'cmd:touch MARKER'") },
    });
    const r = await h.run(HEADLESS);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('env X (bottle dev): runs');
    expect(existsSync(h.marker)).toBe(false);
  });
});

describe('init trusts what it writes', () => {
  it('a fresh layer written by init is trusted', async () => {
    const h = harness({ repo: {} });
    const r = await h.run(['init', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ trust: { trusted: true } });
    const s = JSON.parse((await h.run(['trust', '--show', '--json'])).stdout) as { state: string };
    expect(s.state).toBe('trusted');
  });

  it('but not untrusted files that were already there', async () => {
    const h = harness();
    const r = await h.run(['init']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'not trusted: the layer also holds changes init did not make (.bot-bottle/agents/coder.md',
    );
    expect((await h.run(HEADLESS)).code).toBe(2);
  });
});

describe('an approved change saved into a bottle file', () => {
  const edit = (h: Harness, extra?: () => void) =>
    keepTrustAcrossEdit(h.fx.env, h.fx.repo, join(h.fx.repo, '.bot-bottle/bottles/dev.md'), () => {
      extra?.();
      writeFileSync(join(h.fx.repo, '.bot-bottle/bottles/dev.md'), md('env:\n  X: env:GH'));
      return ['written'];
    });
  const state = async (h: Harness): Promise<string> =>
    (JSON.parse((await h.run(['trust', '--show', '--json'])).stdout) as { state: string }).state;

  it('keeps a trusted layer trusted when it is the only change', async () => {
    const h = harness();
    await h.run(['trust']);
    expect(edit(h)).toEqual([
      'written',
      'the repository layer stays trusted (this change is the only one in it)',
    ]);
    expect(await state(h)).toBe('trusted');
  });

  it('does not trust a layer that was not trusted, nor another change made meanwhile', async () => {
    const h = harness();
    expect(edit(h)[1]).toContain('the layer was not trusted before this change');
    expect(await state(h)).toBe('untrusted');
    await h.run(['trust']);
    const notes = edit(h, () => {
      writeFileSync(join(h.fx.repo, '.bot-bottle/agents/coder.md'), md('provider: codex'));
    });
    expect(notes[1]).toContain('.bot-bottle/agents/coder.md');
    expect(await state(h)).toBe('changed');
  });
});

describe('scripts a repository command names are part of the trust', () => {
  const scripted = (): Harness =>
    harness({
      repo: {
        '.bot-bottle/bottles/dev.md': md(`
env:
  TOKEN: 'cmd:./scripts/token.sh'
  OTHER: 'cmd:node tools/get.js --flag'
`),
        '.bot-bottle/agents/coder.md': md('provider: claude\nbottle: dev'),
        'scripts/token.sh': '#!/bin/sh\necho token\n',
        'tools/get.js': 'console.log(1)\n',
        'README.md': 'readme\n',
      },
    });

  it('a branch that changes the script (not the layer) makes the layer untrusted again', async () => {
    const h = scripted();
    const t = await h.run(['trust']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain(
      'files its commands name, covered by the trust too: scripts/token.sh, tools/get.js',
    );
    git(h.fx.repo, 'checkout', '-q', '-b', 'bot-bottle/coder');
    writeFileSync(join(h.fx.repo, 'scripts/token.sh'), `#!/bin/sh\ntouch ${h.marker}\n`);
    git(h.fx.repo, 'commit', '-q', '-am', 'faster token');
    git(h.fx.repo, 'checkout', '-q', 'main');
    git(h.fx.repo, 'merge', '-q', '--ff-only', 'bot-bottle/coder');
    const r = await h.run(HEADLESS);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('changed since it was trusted');
    expect(r.stderr).toContain('scripts/token.sh modified');
    expect(existsSync(h.marker)).toBe(false);
  });

  it('an argument file changed counts too; other repository files do not', async () => {
    const h = scripted();
    await h.run(['trust']);
    writeFileSync(join(h.fx.repo, 'README.md'), 'edited\n');
    const s1 = JSON.parse((await h.run(['trust', '--show', '--json'])).stdout) as {
      state: string;
    };
    expect(s1.state).toBe('trusted');
    writeFileSync(join(h.fx.repo, 'tools/get.js'), 'console.log(2)\n');
    const s2 = JSON.parse((await h.run(['trust', '--show', '--json'])).stdout) as {
      state: string;
      changes: unknown[];
    };
    expect(s2).toMatchObject({
      state: 'changed',
      changes: [{ path: 'tools/get.js', change: 'modified' }],
    });
  });

  it('a named script that is a symlink cannot be trusted', async () => {
    const h = scripted();
    const { rmSync } = await import('node:fs');
    rmSync(join(h.fx.repo, 'scripts/token.sh'));
    writeFileSync(join(h.fx.repo, 'scripts/elsewhere.sh'), 'echo y\n');
    symlinkSync(join(h.fx.repo, 'scripts/elsewhere.sh'), join(h.fx.repo, 'scripts/token.sh'));
    const r = await h.run(['trust']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'scripts/token.sh is named by a repository command and is (or goes through) a symbolic link',
    );
  });
});
