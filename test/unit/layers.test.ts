import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bottlePlanSchema, type BottlePlan } from '../../src/plan/schema.js';
import { makeFixture, md, writeTree, type Fixture } from '../helpers/fixture.js';

let fx: Fixture | undefined;
afterEach(() => {
  fx?.cleanup();
  fx = undefined;
});

async function plan(f: Fixture, argv: string[], cwd?: string): Promise<BottlePlan> {
  const r = await f.run(['start', ...argv, '--dry-run', '--json'], cwd ? { cwd } : {});
  expect(r.code, r.stderr).toBe(0);
  return bottlePlanSchema.parse(JSON.parse(r.stdout));
}

describe('configuration layers', () => {
  it('a repository entity replaces the home entity of the same name whole', async () => {
    fx = makeFixture({
      home: {
        'agents/a.md': md('provider: codex\nbottle: shared'),
        'bottles/shared.md': md('egress:\n  allow: [home.example.com]\nruntime: runsc'),
      },
      repo: { '.bot-bottle/bottles/shared.md': md('egress:\n  allow: [repo.example.com]') },
    });
    const p = await plan(fx, ['a']);
    expect(p.agent.provider).toBe('codex'); // home agent, not shadowed
    expect(p.egress.allow).toEqual(['repo.example.com']);
    expect(p.runtime.source).toBe('default'); // no field merge from the home bottle
  });

  it('finds the repository from a sub-directory', async () => {
    fx = makeFixture({
      repo: {
        '.bot-bottle/agents/a.md': md('provider: pi\nbottle: b'),
        '.bot-bottle/bottles/b.md': md('runtime: runsc'),
      },
    });
    const sub = join(fx.repo, 'src', 'deep');
    mkdirSync(sub, { recursive: true });
    const p = await plan(fx, ['a'], sub);
    expect(p.sources.repoRoot).toBe(fx.repo);
    expect(p.agent.prompt.guestPath).toBe('/home/agent/.pi/agent/AGENTS.md');
  });

  it('a single bot-bottle.json is a whole configuration', async () => {
    fx = makeFixture({
      repo: {
        'bot-bottle.json': JSON.stringify({
          bottles: { web: { egress: { allow: ['api.openai.com'] }, env: { A: 'env:HOME' } } },
          agents: { coder: { provider: 'codex', bottle: 'web', prompt: 'Be brief.' } },
        }),
      },
    });
    const p = await plan(fx, ['coder']);
    expect(p.agent).toMatchObject({
      provider: 'codex',
      prompt: { chars: 9, guestPath: '/home/agent/.codex/AGENTS.md' },
    });
    expect(p.env).toEqual([
      {
        name: 'A',
        source: { kind: 'env', name: 'HOME' },
        layer: 'repo',
        from: 'web',
        needsTrust: true,
      },
    ]);
    expect(p.image.provider.npmPackage).toBe('@openai/codex');
  });

  it('~/.bot-bottle is the home layer, not a repository, when walking up from a project', async () => {
    fx = makeFixture();
    const home = join(fx.root, '.bot-bottle'); // the default layout: ~/.bot-bottle with HOME=root
    writeTree(home, {
      'agents/a.md': md('provider: claude\nbottle: b'),
      'bottles/b.md': md('cutoff: kill'),
    });
    const project = join(fx.root, 'projects', 'x');
    mkdirSync(project, { recursive: true });
    const r = await fx.run(['start', 'a', '--dry-run', '--json'], {
      cwd: project,
      env: { BOT_BOTTLE_HOME: '' },
    });
    expect(r.code, r.stderr).toBe(0);
    const p = bottlePlanSchema.parse(JSON.parse(r.stdout));
    expect(p.sources.repoRoot).toBeNull();
    expect(p.sources.home).toBe(home);
    expect(p.cutoff).toEqual({ policy: 'kill', source: 'bottle', from: 'b' });
  });
});

describe('init', () => {
  it('writes at the top of the git work tree, and the result plans cleanly', async () => {
    fx = makeFixture();
    execFileSync('git', ['init', '-q', fx.repo]);
    const sub = join(fx.repo, 'pkg');
    mkdirSync(sub);
    const r = await fx.run(['init', '--json'], { cwd: sub });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      outcome: 'ok',
      dir: join(fx.repo, '.bot-bottle'),
    });
    expect(existsSync(join(fx.repo, '.bot-bottle/agents/claude.md'))).toBe(true);
    const p = await plan(fx, ['claude'], sub);
    expect(p.bottles.map((b) => b.name)).toEqual(['anthropic']);
    expect(p.egress.routes).toEqual([
      {
        host: 'api.anthropic.com',
        headers: [
          {
            name: 'x-api-key',
            prefix: null,
            basicUser: null,
            source: { kind: 'env', name: 'ANTHROPIC_API_KEY' },
            // init trusts what it writes.
            layer: 'repo',
            from: 'anthropic',
            needsTrust: false,
          },
        ],
      },
    ]);
    expect(p.mounts[0]).toMatchObject({ source: fx.repo, target: '/workspace' });
  });

  it('--force overwrites', async () => {
    fx = makeFixture();
    expect((await fx.run(['init'])).code).toBe(0);
    expect((await fx.run(['init'])).code).toBe(2);
    expect((await fx.run(['init', '--force'])).code).toBe(0);
  });
});
