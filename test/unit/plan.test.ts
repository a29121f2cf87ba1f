import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyFromPlan } from '../../src/controller/egress.js';
import { planJsonSchema } from '../../src/plan/json-schema.js';
import { bottlePlanSchema, type BottlePlan } from '../../src/plan/schema.js';
import { makeFixture, md, type Fixture } from '../helpers/fixture.js';

const SECRETS = {
  MY_TOKEN: 'env-secret-4f1c9a',
  ANTHROPIC_API_KEY: 'sk-ant-api03-secret-7d2e',
  GH_TOKEN: 'ghp_secretsecretsecret0123456789',
};
const FILE_SECRET = 'file-secret-b81d';
const LITERAL_SECRET = 'literal-secret-55aa';
const LITERAL_OVERRIDE = 'literal-override-66bb';

function expectNoSecrets(text: string): void {
  for (const v of [...Object.values(SECRETS), FILE_SECRET, LITERAL_SECRET, LITERAL_OVERRIDE]) {
    expect(text).not.toContain(v);
  }
}

/**
 * A composed launch: `dev` (repo) extends `base` (home), then `github`
 * (repo) composes over it; every env sentinel kind appears.
 */
function composedFixture(): Fixture {
  return makeFixture(
    {
      home: {
        'settings.yml': [
          'budget:',
          '  claude: 9000000',
          '  codex: 100',
          'cutoff: freeze',
          'image:',
          '  base: registry.example.com:5000/team/base:1.2',
          'ca:',
          '  extra: [corp-ca.pem]',
        ].join('\n'),
        'bottles/base.md': md(`
env:
  LITERAL: ${LITERAL_SECRET}
  ASK: "?"
runtime: runsc
egress:
  allow: [api.anthropic.com]
  llm: refuse
budget:
  claude: 3000000
image:
  apt: [git, ripgrep]
`),
      },
      repo: {
        '.bot-bottle/bottles/dev.md': md(`
extends: base
env:
  FROM_ENV: env:MY_TOKEN
  FROM_FILE: file:../secrets/tok
  FROM_CMD: "cmd:printf '%s' hello"
image:
  apt: [git, jq]
  dockerfile: ["RUN echo dev > /etc/dev"]
egress:
  routes:
    - host: api.anthropic.com
      headers:
        x-api-key: env:ANTHROPIC_API_KEY
ssh:
  - Host: github.com
    IdentityFile: /keys/id_ed25519
    User: git
    Port: 22
    KnownHostKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl
`),
        '.bot-bottle/secrets/tok': FILE_SECRET,
        '.bot-bottle/bottles/github.md': md(`
env:
  LITERAL: ${LITERAL_OVERRIDE}
egress:
  allow: [github.com, "*.githubusercontent.com", api.anthropic.com]
  deny: [gist.github.com]
  routes:
    - host: github.com
      headers:
        Authorization:
          secret: env:GH_TOKEN
          prefix: "Bearer "
git:
  name: Bottle Bot
  email: bot@example.com
cutoff: kill
`),
        '.bot-bottle/agents/coder.md': md(
          'provider: claude\nbottle: dev\nskills: [review]\nmodel: claude-sonnet-4-5',
          'Fix the failing tests.\n',
        ),
        '.bot-bottle/skills/review/SKILL.md': '# review\n',
      },
    },
    SECRETS,
  );
}

/** `coder` on `dev` (extends `base`) composed with `github`. */
const COMPOSED = ['start', 'coder', '--bottle', 'dev', '--bottle', 'github'];

describe('start --dry-run --json on a composed, extended bottle', () => {
  let fx: Fixture;
  let raw: string;
  let plan: BottlePlan;

  beforeAll(async () => {
    fx = composedFixture();
    const r = await fx.run([
      ...COMPOSED,
      '--label',
      'Fix CI',
      '--color',
      'cyan',
      '--dry-run',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    raw = r.stdout;
    plan = bottlePlanSchema.parse(JSON.parse(raw));
  });
  afterAll(() => {
    fx.cleanup();
  });

  it('matches the documented shape exactly (no undocumented keys)', () => {
    // zod drops unknown keys, so equality means nothing outside the schema was printed.
    expect(plan).toEqual(JSON.parse(raw));
  });

  it('never prints a secret value, only where it comes from', () => {
    expectNoSecrets(raw);
  });

  it('classifies every env sentinel kind, later bottles winning', () => {
    const byName = Object.fromEntries(plan.env.map((e) => [e.name, e.source]));
    expect(byName).toEqual({
      LITERAL: { kind: 'literal' },
      ASK: { kind: 'prompt' },
      FROM_ENV: { kind: 'env', name: 'MY_TOKEN' },
      FROM_FILE: { kind: 'file', path: join(fx.repo, '.bot-bottle/secrets/tok') },
      FROM_CMD: { kind: 'cmd', command: "printf '%s' hello", argv: ['printf', '%s', 'hello'] },
    });
  });

  it('records the composition order and each extends chain', () => {
    expect(plan.bottles.map((b) => [b.name, b.chain.map((c) => c.name)])).toEqual([
      ['dev', ['base', 'dev']],
      ['github', ['github']],
    ]);
    expect(plan.bottles[0]?.chain[0]?.file).toBe(join(fx.home, 'bottles/base.md'));
  });

  it('merges egress: allow/deny appended without duplicates, routes by host', () => {
    expect(plan.egress.allow).toEqual([
      'api.anthropic.com',
      'github.com',
      '*.githubusercontent.com',
    ]);
    expect(plan.egress.deny).toEqual(['gist.github.com']);
    // A parent's LLM policy holds until a later bottle sets its own.
    expect(plan.egress.llm).toBe('refuse');
    expect(policyFromPlan(plan).llm).toBe('refuse');
    expect(plan.egress.routes).toEqual([
      {
        host: 'api.anthropic.com',
        headers: [
          {
            name: 'x-api-key',
            prefix: null,
            basicUser: null,
            source: { kind: 'env', name: 'ANTHROPIC_API_KEY' },
            // An untrusted repository layer: its host-acting entries are marked.
            layer: 'repo',
            from: 'dev',
            needsTrust: true,
          },
        ],
      },
      {
        host: 'github.com',
        headers: [
          {
            name: 'Authorization',
            prefix: 'Bearer ',
            basicUser: null,
            source: { kind: 'env', name: 'GH_TOKEN' },
            layer: 'repo',
            from: 'github',
            needsTrust: true,
          },
        ],
      },
    ]);
  });

  it('takes scalars from the most specific place that sets them', () => {
    expect(plan.runtime).toEqual({ name: 'runsc', source: 'bottle', from: 'base' });
    expect(plan.cutoff).toEqual({ policy: 'kill', source: 'bottle', from: 'github' });
    expect(plan.budget).toEqual({
      provider: 'claude',
      tokens: 3_000_000,
      scope: 'parent-bottle',
      from: 'base',
      period: 'day',
      rate: { launch: null, launchFrom: null, global: null },
      capping: { enabled: true, floor: 1024 },
    });
    expect(plan.git).toEqual({ name: 'Bottle Bot', email: 'bot@example.com' });
  });

  it('resolves image, label, agent, skills, ssh and CA files', () => {
    expect(plan.image).toEqual({
      base: 'registry.example.com:5000/team/base:1.2',
      baseSource: 'settings',
      provider: { npmPackage: '@anthropic-ai/claude-code', npmVersion: '2.1.197' },
      apt: ['git', 'ripgrep', 'jq'],
      dockerfile: ['RUN echo dev > /etc/dev'],
    });
    expect([plan.label, plan.slug, plan.color, plan.backend]).toEqual([
      'Fix CI',
      'fix-ci',
      'cyan',
      'docker',
    ]);
    expect(plan.agent).toMatchObject({
      name: 'coder',
      provider: 'claude',
      model: 'claude-sonnet-4-5',
      prompt: {
        chars: 'Fix the failing tests.'.length,
        guestPath: '/home/agent/.claude/CLAUDE.md',
      },
      skills: [{ name: 'review', guestPath: '/home/agent/.claude/skills/review' }],
    });
    expect(plan.ssh).toEqual([
      {
        host: 'github.com',
        hostname: null,
        user: 'git',
        port: 22,
        identityFile: '/keys/id_ed25519',
        knownHostKey: true,
        hostKey: expect.stringMatching(/^ssh-ed25519 /) as unknown,
        layer: 'repo',
        from: 'dev',
        needsTrust: true,
      },
    ]);
    expect(plan.caCerts).toEqual([{ path: join(fx.home, 'corp-ca.pem'), source: 'settings' }]);
    expect(plan.mounts.map((m) => m.target)).toEqual([
      '/workspace',
      '/home/agent/.claude/skills/review',
      '/home/agent/.claude/CLAUDE.md',
    ]);
  });

  it('warns about sources that will fail at launch', () => {
    expect(plan.warnings).toContain(
      'ssh github.com: identity file /keys/id_ed25519 is not readable',
    );
    expect(plan.warnings.some((w) => w.includes('corp-ca.pem'))).toBe(true);
    // MY_TOKEN and the file are present: no warning for them
    expect(plan.warnings.some((w) => w.includes('MY_TOKEN'))).toBe(false);
  });

  it('prints the same plan as a readable preflight, still without secrets', async () => {
    const r = await fx.run([...COMPOSED, '--dry-run']);
    expect(r.code).toBe(0);
    expectNoSecrets(r.stdout);
    expect(r.stdout).toContain('dry run, nothing was created');
    expect(r.stdout).toMatch(/egress\s+allow api\.anthropic\.com/);
    expect(r.stdout).toContain('deny  gist.github.com');
    expect(r.stdout).toContain('secrets: enforce; in LLM requests: refuse');
    expect(r.stdout).toContain('github.com  Authorization: "Bearer " + <env:GH_TOKEN>');
    expect(r.stdout).toContain("FROM_CMD <- cmd:printf '%s' hello");
    expect(r.stdout).toContain('LITERAL <- literal (value hidden)');
    expect(r.stdout).toContain('ASK <- asked at launch');
    expect(r.stdout).toContain(
      '3,000,000 tokens for claude (parent-bottle base; counts this UTC day)',
    );
    expect(r.stdout).toContain('dev  (extends base)');
  });
});

describe('budget precedence', () => {
  const bottles = {
    'bottles/parent.md': md('budget:\n  claude: 300'),
    'bottles/child.md': md('extends: parent\nbudget:\n  claude: 200'),
    'bottles/bare.md': md('extends: parent'),
    'bottles/none.md': md('runtime: runc'),
  };
  const cases: {
    name: string;
    agentBudget?: number;
    bottle: string;
    flag?: string;
    settings?: string;
    want: BottlePlan['budget'];
  }[] = [
    {
      name: '--budget beats everything',
      agentBudget: 50,
      bottle: 'child',
      flag: '2k',
      settings: 'budget:\n  claude: 9',
      want: {
        provider: 'claude',
        tokens: 2000,
        scope: 'launch',
        from: '--budget',
        period: 'launch',
      },
    },
    {
      name: 'agent beats bottle',
      agentBudget: 50,
      bottle: 'child',
      want: { provider: 'claude', tokens: 50, scope: 'agent', from: 'a', period: 'day' },
    },
    {
      name: 'bottle beats parent',
      bottle: 'child',
      want: { provider: 'claude', tokens: 200, scope: 'bottle', from: 'child', period: 'day' },
    },
    {
      name: 'parent bottle when the bottle has none',
      bottle: 'bare',
      want: {
        provider: 'claude',
        tokens: 300,
        scope: 'parent-bottle',
        from: 'parent',
        period: 'day',
      },
    },
    {
      name: 'global settings last',
      bottle: 'none',
      settings: 'budget:\n  claude: 9\n  codex: 1',
      want: {
        provider: 'claude',
        tokens: 9,
        scope: 'global',
        from: 'BOT_HOME/settings.yml',
        period: 'day',
      },
    },
    {
      name: 'global settings with their counting period',
      bottle: 'none',
      settings: 'budget:\n  claude: 9\nperiod: month',
      want: {
        provider: 'claude',
        tokens: 9,
        scope: 'global',
        from: 'BOT_HOME/settings.yml',
        period: 'month',
      },
    },
    {
      name: 'no budget anywhere',
      bottle: 'none',
      settings: 'budget:\n  codex: 1',
      want: { provider: 'claude', tokens: null, scope: 'none', from: null, period: 'day' },
    },
  ];
  it.each(cases)('$name', async (c) => {
    const fm = `provider: claude\nbottle: ${c.bottle}${c.agentBudget ? `\nbudget: ${c.agentBudget}` : ''}`;
    const fx = makeFixture({
      home: {
        ...bottles,
        'agents/a.md': md(fm),
        ...(c.settings ? { 'settings.yml': c.settings } : {}),
      },
    });
    try {
      const r = await fx.run([
        'start',
        'a',
        '--dry-run',
        '--json',
        ...(c.flag ? ['--budget', c.flag] : []),
      ]);
      expect(r.code, r.stderr).toBe(0);
      const plan = bottlePlanSchema.parse(JSON.parse(r.stdout));
      const want = { ...c.want, from: c.want.from?.replace('BOT_HOME', fx.home) ?? null };
      expect(plan.budget).toEqual({
        ...want,
        rate: { launch: null, launchFrom: null, global: null },
        capping: { enabled: true, floor: 1024 },
      });
    } finally {
      fx.cleanup();
    }
  });
});

describe('budget.count', () => {
  it.each([
    {
      name: 'a bottle turns on the provider count',
      bottle: 'count: provider',
      settings: undefined,
      want: 'provider',
    },
    {
      name: "the bottle's word beats settings",
      bottle: 'count: estimate',
      settings: 'count: provider',
      want: 'estimate',
    },
    {
      name: 'settings turn it on for every bottle',
      bottle: 'claude: 100',
      settings: 'count: provider',
      want: 'provider',
    },
    {
      name: 'absent: the local estimate',
      bottle: 'claude: 100',
      settings: undefined,
      want: undefined,
    },
  ])('$name', async (c) => {
    const fx = makeFixture({
      home: {
        'bottles/b.md': md(`budget:\n  ${c.bottle}`),
        'agents/a.md': md('provider: claude\nbottle: b'),
        ...(c.settings ? { 'settings.yml': `budget:\n  ${c.settings}` } : {}),
      },
    });
    try {
      const r = await fx.run(['start', 'a', '--dry-run', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const plan = bottlePlanSchema.parse(JSON.parse(r.stdout));
      expect(plan.budget.count).toBe(c.want);
      expect(policyFromPlan(plan).count).toBe(c.want === 'provider' ? 'provider' : undefined);
    } finally {
      fx.cleanup();
    }
  });

  it('refuses a value other than estimate or provider, naming the field', async () => {
    const fx = makeFixture({
      home: {
        'bottles/b.md': md('budget:\n  count: exact'),
        'agents/a.md': md('provider: claude\nbottle: b'),
      },
    });
    try {
      const r = await fx.run(['start', 'a', '--dry-run', '--json']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('budget.count');
    } finally {
      fx.cleanup();
    }
  });
});

describe('published JSON schema', () => {
  it('schema/bottle-plan.schema.json is up to date (run `npm run schema`)', () => {
    const committed = JSON.parse(
      readFileSync(new URL('../../schema/bottle-plan.schema.json', import.meta.url), 'utf8'),
    ) as unknown;
    expect(committed).toEqual(planJsonSchema());
  });
});
