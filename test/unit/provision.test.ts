import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stageHome } from '../../src/controller/provision.js';
import { resolveEnv } from '../../src/controller/values.js';
import { PLACEHOLDER_KEY, providerGuestSetup } from '../../src/providers/guest-config.js';
import { makeFixture, md, type Fixture } from '../helpers/fixture.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

let fx: Fixture | undefined;
afterEach(() => {
  fx?.cleanup();
  fx = undefined;
});

async function planFor(agent: string, extraRepo: Record<string, string> = {}) {
  fx = makeFixture(
    {
      repo: {
        '.bot-bottle/bottles/b.md': md(`
egress:
  allow: [llm.example.com]
api:
  anthropic: https://llm.example.com:8443/prefix
  openai: https://llm.example.com:8443
git:
  name: 'Ann "the bot" \\ Smith'
  email: ann@example.com
env:
  PLAIN: hello
  FROM_HOST: env:BB_TEST_VALUE
ssh:
  - Host: git.example.com
    IdentityFile: ../../keys/id
    Port: 2222
    KnownHostKey: ${KEY}
`),
        '.bot-bottle/agents/claude.md': md(
          'provider: claude\nbottle: b\nskills: [review]',
          'Be careful.\n',
        ),
        '.bot-bottle/agents/codex.md': md('provider: codex\nbottle: b\nmodel: gpt-x'),
        '.bot-bottle/agents/pi.md': md('provider: pi\nbottle: b'),
        '.bot-bottle/skills/review/SKILL.md': '---\nname: review\n---\nReview.\n',
        '.bot-bottle/skills/review/outside': { symlink: '/etc/passwd' },
        ...extraRepo,
      },
      home: {},
    },
    { BB_TEST_VALUE: 'from-host' },
  );
  // The key file sits in the repo (relative paths anchor at the bottle file's base).
  const { writeFileSync, mkdirSync } = await import('node:fs');
  mkdirSync(join(fx.repo, 'keys'), { recursive: true });
  writeFileSync(join(fx.repo, 'keys', 'id'), 'PRIVATE KEY MATERIAL\n');
  const r = await fx.run(['start', agent, '--dry-run', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as import('../../src/plan/schema.js').BottlePlan;
}

describe('per-CLI configuration inside the bottle', () => {
  it('claude: base URL, proxy and CA in its environment; a placeholder key; onboarding done', async () => {
    const plan = await planFor('claude');
    const g = providerGuestSetup(plan, 'http://egress:3128');
    expect(g.env).toMatchObject({
      ANTHROPIC_BASE_URL: 'https://llm.example.com:8443/prefix',
      HTTPS_PROXY: 'http://egress:3128',
      HTTP_PROXY: 'http://egress:3128',
      NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt',
      ANTHROPIC_API_KEY: PLACEHOLDER_KEY,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    });
    const state = JSON.parse(g.files.find((f) => f.path === '.claude.json')?.content ?? '{}') as {
      hasCompletedOnboarding: boolean;
    };
    expect(state.hasCompletedOnboarding).toBe(true);
  });

  it('codex: a custom provider in config.toml (it ignores OPENAI_BASE_URL)', async () => {
    const plan = await planFor('codex');
    const g = providerGuestSetup(plan, 'http://egress:3128');
    const toml = g.files.find((f) => f.path === '.codex/config.toml')?.content ?? '';
    expect(toml).toContain('model_provider = "bot-bottle"');
    expect(toml).toContain('base_url = "https://llm.example.com:8443/v1"');
    expect(toml).toContain('env_key = "OPENAI_API_KEY"');
    expect(toml).toContain('wire_api = "responses"');
    expect(toml).toContain('model = "gpt-x"');
    expect(g.env.CODEX_CA_CERTIFICATE).toBe('/etc/ssl/certs/ca-certificates.crt');
    expect(g.env.OPENAI_BASE_URL).toBeUndefined();
  });

  it('pi: the anthropic provider re-pointed in models.json (it ignores ANTHROPIC_BASE_URL)', async () => {
    const plan = await planFor('pi');
    const g = providerGuestSetup(plan, 'http://egress:3128');
    const models = JSON.parse(
      g.files.find((f) => f.path === '.pi/agent/models.json')?.content ?? '{}',
    ) as unknown;
    expect(models).toEqual({
      providers: { anthropic: { baseUrl: 'https://llm.example.com:8443/prefix' } },
    });
    expect(g.env.NODE_EXTRA_CA_CERTS).toBe('/etc/ssl/certs/ca-certificates.crt');
  });

  it('warns when the API host is not allowlisted', async () => {
    fx = makeFixture({
      repo: {
        '.bot-bottle/bottles/b.md': md('egress:\n  allow: [example.com]'),
        '.bot-bottle/agents/a.md': md('provider: codex\nbottle: b'),
      },
    });
    const r = await fx.run(['start', 'a', '--dry-run', '--json']);
    const plan = JSON.parse(r.stdout) as { warnings: string[]; api: { baseUrl: string } };
    expect(plan.api.baseUrl).toBe('https://api.openai.com');
    expect(plan.warnings.join('\n')).toContain("add 'api.openai.com' to egress.allow");
  });
});

describe('the staged home directory', () => {
  it('holds the prompt, the skill (links kept as links), ssh files 0600 and a quoted git identity', async () => {
    const plan = await planFor('claude');
    const dir = stageHome({ plan, prompt: 'Be careful.\n', providerFiles: [] });
    expect(readFileSync(join(dir, '.claude/CLAUDE.md'), 'utf8')).toBe('Be careful.\n');
    expect(readFileSync(join(dir, '.claude/skills/review/SKILL.md'), 'utf8')).toContain('Review.');
    // A link to a host file is not followed: its target never enters the bottle.
    expect(lstatSync(join(dir, '.claude/skills/review/outside')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, '.claude/skills/review/outside'))).toBe('/etc/passwd');
    expect(statSync(join(dir, '.ssh/bot-bottle-key-0')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, '.ssh/config')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, '.ssh')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, '.ssh/known_hosts'), 'utf8')).toBe(
      `[git.example.com]:2222 ${KEY}\n`,
    );
    const config = readFileSync(join(dir, '.ssh/config'), 'utf8');
    expect(config).toContain('StrictHostKeyChecking yes');
    expect(config).toContain('ProxyCommand node ~/.bot-bottle/ssh-connect.mjs %h %p');
    expect(readFileSync(join(dir, '.gitconfig'), 'utf8')).toContain(
      'name = "Ann \\"the bot\\" \\\\ Smith"',
    );
  });

  it('resolves env values on the host: literals, env:, and refuses ? without a terminal', async () => {
    // Resolution itself; refusals of an untrusted layer are in trust-launch.test.ts.
    const planned = await planFor('claude');
    const plan = { ...planned, trust: { ...planned.trust, approvedOnce: true } };
    const literals = new Map([['PLAIN', 'hello']]);
    const env = await resolveEnv(plan, literals, { BB_TEST_VALUE: 'from-host' }, undefined);
    expect(env).toEqual({ PLAIN: 'hello', FROM_HOST: 'from-host' });
    await expect(resolveEnv(plan, literals, {}, undefined)).rejects.toThrow(
      'host variable BB_TEST_VALUE is not set',
    );
    const ask = { name: 'ASK', source: { kind: 'prompt' as const } };
    const asking = {
      ...plan,
      env: [{ ...ask, layer: 'home' as const, from: null, needsTrust: false }],
    };
    await expect(resolveEnv(asking, literals, {}, undefined)).rejects.toThrow(
      'there is no terminal to ask on',
    );
    expect(await resolveEnv(asking, literals, {}, () => Promise.resolve('typed'))).toEqual({
      ASK: 'typed',
    });
  });
});

describe('skill names cannot inject', () => {
  it.each(['a;rm -rf /', '$(id)', '`id`', 'a b', '../up', 'UPPER', "it's"])(
    'rejects skill name %j with a clear message',
    async (name) => {
      fx = makeFixture({
        repo: {
          '.bot-bottle/bottles/b.md': md('egress:\n  allow: [x.example.com]'),
          '.bot-bottle/agents/a.md': md(
            `provider: claude\nbottle: b\nskills: [${JSON.stringify(name)}]`,
          ),
        },
      });
      const r = await fx.run(['start', 'a', '--dry-run']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("field 'skills[0]'");
      expect(r.stderr).toContain('must match [a-z][a-z0-9-]*');
    },
  );
});
