import { afterEach, describe, expect, it } from 'vitest';
import { makeFixture, md, type FileTree, type Fixture } from '../helpers/fixture.js';

/**
 * Every malformed configuration must produce one clear message that names
 * the file, the entity and the field, exit with code 2, and never show a
 * stack trace.
 */

const AGENT = md('provider: claude\nbottle: b', 'Prompt.');
const BOTTLE = md('egress:\n  allow: [api.anthropic.com]');
const base: FileTree = {
  '.bot-bottle/agents/a.md': AGENT,
  '.bot-bottle/bottles/b.md': BOTTLE,
};

interface Case {
  name: string;
  repo?: FileTree;
  home?: FileTree;
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  expect: string[];
}

const bottle = (fm: string): FileTree => ({ ...base, '.bot-bottle/bottles/b.md': md(fm) });
const agent = (fm: string): FileTree => ({ ...base, '.bot-bottle/agents/a.md': md(fm) });

const cases: Case[] = [
  {
    name: 'bad sentinel in a bottle the agent does not use',
    repo: { ...base, '.bot-bottle/bottles/other.md': md('env:\n  X: "env:"') },
    expect: [
      '.bot-bottle/bottles/other.md',
      "bottle 'other'",
      "field 'env.X'",
      "'env:' must be followed",
    ],
  },
  {
    name: 'bad sentinel in a route header',
    repo: bottle(
      'egress:\n  allow: [x.com]\n  routes:\n    - host: x.com\n      headers:\n        authorization: "cmd:a | b"',
    ),
    expect: ["field 'egress.routes[0].headers.authorization'", "'|' is not an operator"],
  },
  {
    name: 'route header mapping with an unknown key',
    repo: bottle(
      'egress:\n  allow: [x.com]\n  routes:\n    - host: x.com\n      headers:\n        authorization:\n          secret: env:T\n          prefx: "Bearer "',
    ),
    expect: ["field 'egress.routes[0].headers.authorization.prefx'", "did you mean 'prefix'"],
  },
  {
    name: 'egress mode that is not enforce or audit',
    repo: bottle('egress:\n  allow: [x.com]\n  mode: block'),
    expect: ["field 'egress.mode'", 'enforce', 'audit'],
  },
  {
    name: 'egress llm that is not redact, refuse or audit',
    repo: bottle('egress:\n  allow: [x.com]\n  llm: redacted'),
    expect: [
      "field 'egress.llm'",
      'expected one of redact, refuse, audit',
      'the string "redacted"',
      "did you mean 'redact'",
    ],
  },
  {
    name: 'egress rule with a method that is not a word',
    repo: bottle(
      'egress:\n  allow: [x.com]\n  rules:\n    - host: x.com\n      methods: ["GET /"]',
    ),
    expect: ["field 'egress.rules[0].methods[0]'", 'must be an HTTP method'],
  },
  {
    name: 'egress rule path without a leading slash',
    repo: bottle('egress:\n  allow: [x.com]\n  rules:\n    - host: x.com\n      paths: [repos/]'),
    expect: ["field 'egress.rules[0].paths[0]'", 'must be a path starting with /'],
  },
  {
    name: 'egress host map entry with a bad port',
    repo: bottle('egress:\n  allow: [x.com]\n  hosts:\n    x.com: "10.0.0.1:99999"'),
    expect: ["field 'egress.hosts.x.com'", 'optionally with :port'],
  },
  {
    name: 'passthrough entry that is not a host pattern',
    repo: bottle('egress:\n  allow: [x.com]\n  passthrough: ["https://x.com/"]'),
    expect: ["field 'egress.passthrough[0]'", 'must be a host name'],
  },
  {
    name: 'basicUser with a colon',
    repo: bottle(
      'egress:\n  allow: [x.com]\n  routes:\n    - host: x.com\n      headers:\n        authorization:\n          secret: env:T\n          basicUser: "a:b"',
    ),
    expect: [
      "field 'egress.routes[0].headers.authorization.basicUser'",
      'without spaces or colons',
    ],
  },
  // --- unknown keys ---
  {
    name: 'unknown bottle key',
    repo: bottle('egres:\n  allow: [x.com]'),
    expect: [
      '.bot-bottle/bottles/b.md',
      "bottle 'b'",
      "field 'egres'",
      "unknown key 'egres'",
      "did you mean 'egress'",
    ],
  },
  {
    name: 'unknown agent key',
    repo: agent('provder: claude\nbottle: b'),
    expect: [
      '.bot-bottle/agents/a.md',
      "agent 'a'",
      "unknown key 'provder'",
      "did you mean 'provider'",
    ],
  },
  {
    name: 'unknown nested key',
    repo: bottle('egress:\n  alow: [x.com]'),
    expect: ["bottle 'b'", "field 'egress.alow'", "did you mean 'allow'"],
  },
  {
    name: 'unknown ssh key',
    repo: bottle('ssh:\n  - Host: gh\n    IdentityFile: k\n    Hostnme: github.com'),
    expect: ["field 'ssh[0].Hostnme'", "did you mean 'Hostname'"],
  },
  // --- types and enums ---
  {
    name: 'runtime of wrong type',
    repo: bottle('runtime: 5'),
    expect: ["field 'runtime'", 'expected one of runc, runsc', 'number 5'],
  },
  {
    name: 'unknown runtime',
    repo: bottle('runtime: gvisor'),
    expect: ["field 'runtime'", 'expected one of runc, runsc', '"gvisor"'],
  },
  {
    name: 'misspelled cutoff policy',
    repo: bottle('cutoff: freez'),
    expect: ["field 'cutoff'", 'cutoff, freeze, kill', "did you mean 'freeze'"],
  },
  {
    name: 'missing provider',
    repo: agent('bottle: b'),
    expect: ["agent 'a'", "field 'provider'", 'is required'],
  },
  {
    name: 'unknown provider',
    repo: agent('provider: gpt\nbottle: b'),
    expect: ["field 'provider'", 'expected one of claude, codex, pi'],
  },
  {
    name: 'env as a list',
    repo: bottle('env: [A, B]'),
    expect: ["field 'env'", 'expected a mapping, got a list'],
  },
  {
    name: 'env value not a string',
    repo: bottle('env:\n  PORT: 8080'),
    expect: ["field 'env.PORT'", 'expected a string, got number 8080'],
  },
  {
    name: 'invalid env variable name',
    repo: bottle('env:\n  1BAD: x'),
    expect: ["field 'env.1BAD'", 'key "1BAD" must be an environment variable name'],
  },
  {
    name: 'front matter is a list',
    repo: { ...base, '.bot-bottle/bottles/b.md': '---\n- a\n- b\n---\n' },
    expect: ["bottle 'b'", 'expected a mapping, got a list'],
  },
  {
    name: 'model with a space',
    repo: agent('provider: claude\nbottle: b\nmodel: "opus 4"'),
    expect: ["field 'model'", 'without spaces'],
  },
  // --- env sentinels ---
  {
    name: 'env: sentinel with a bad name',
    repo: bottle('env:\n  X: "env:not valid"'),
    expect: [
      '.bot-bottle/bottles/b.md',
      "bottle 'b'",
      "field 'env.X'",
      "'env:' must be followed by an environment variable name",
    ],
  },
  {
    name: 'cmd: with a pipe',
    repo: bottle('env:\n  X: "cmd:gh auth token | cat"'),
    expect: ["field 'env.X'", "'|' is not an operator"],
  },
  {
    name: 'cmd: with an unclosed quote',
    repo: bottle('env:\n  X: "cmd:echo \'oops"'),
    expect: ["field 'env.X'", 'unclosed'],
  },
  {
    name: 'cmd: with $() expansion',
    repo: bottle('env:\n  X: "cmd:echo $(id)"'),
    expect: ["field 'env.X'", 'without a shell'],
  },
  {
    name: 'empty file: sentinel',
    repo: bottle('env:\n  X: "file:"'),
    expect: ["field 'env.X'", "'file:' must be followed by a path"],
  },
  // --- ssh and git ---
  {
    name: 'ssh entry without IdentityFile',
    repo: bottle('ssh:\n  - Host: github.com'),
    expect: ["field 'ssh[0].IdentityFile'", 'is required'],
  },
  {
    name: 'ssh Port as a string',
    repo: bottle('ssh:\n  - Host: gh\n    IdentityFile: k\n    Port: "22"'),
    expect: ["field 'ssh[0].Port'", 'expected a number'],
  },
  {
    name: 'ssh Host injecting a directive',
    repo: bottle('ssh:\n  - Host: "github.com\\n  ProxyCommand sh -c evil"\n    IdentityFile: k'),
    expect: ["field 'ssh[0].Host'", 'must not contain spaces'],
  },
  {
    name: 'malformed KnownHostKey',
    repo: bottle('ssh:\n  - Host: gh\n    IdentityFile: k\n    KnownHostKey: "not a key"'),
    expect: ["field 'ssh[0].KnownHostKey'", 'known_hosts'],
  },
  {
    name: 'git email invalid',
    repo: bottle('git:\n  email: nobody'),
    expect: ["field 'git.email'", 'email address'],
  },
  // --- egress ---
  {
    name: 'allow entry is a URL',
    repo: bottle('egress:\n  allow: ["https://x.com/"]'),
    expect: ["field 'egress.allow[0]'", 'must be a host name'],
  },
  {
    name: 'allow port out of range',
    repo: bottle('egress:\n  allow: ["x.com:70000"]'),
    expect: ["field 'egress.allow[0]'", 'between 1 and 65535'],
  },
  {
    name: 'wildcard credential route',
    repo: bottle(
      'egress:\n  allow: ["*.x.com"]\n  routes:\n    - host: "*.x.com"\n      headers: {a: b}',
    ),
    expect: ["field 'egress.routes[0].host'", 'wildcards are not allowed'],
  },
  {
    name: 'route without headers',
    repo: bottle('egress:\n  allow: [x.com]\n  routes:\n    - host: x.com\n      headers: {}'),
    expect: ["field 'egress.routes[0].headers'", 'at least one header'],
  },
  {
    name: 'route header value is a number',
    repo: bottle(
      'egress:\n  allow: [x.com]\n  routes:\n    - host: x.com\n      headers:\n        x-api-key: 5',
    ),
    expect: [
      "field 'egress.routes[0].headers.x-api-key'",
      'expected a string or a mapping {secret, prefix}',
    ],
  },
  {
    name: 'route to a host not allowed',
    repo: bottle(
      'egress:\n  allow: [a.com]\n  routes:\n    - host: b.com\n      headers: {x-api-key: "env:K"}',
    ),
    expect: [
      "bottle 'b'",
      "field 'egress.routes[0].host'",
      'no egress.allow entry',
      "add 'b.com' to egress.allow",
    ],
  },
  {
    name: 'route to a denied host',
    repo: bottle(
      'egress:\n  allow: ["*.a.com"]\n  deny: [x.a.com]\n  routes:\n    - host: x.a.com\n      headers: {x-api-key: "env:K"}',
    ),
    expect: ["field 'egress.routes[0].host'", "egress.deny entry 'x.a.com' blocks"],
  },
  // --- image, budget ---
  {
    name: 'Dockerfile FROM line',
    repo: bottle('image:\n  dockerfile: ["FROM evil:latest"]'),
    expect: ["field 'image.dockerfile[0]'", 'FROM is not allowed'],
  },
  {
    name: 'apt package with shell',
    repo: bottle('image:\n  apt: ["git; rm -rf /"]'),
    expect: ["field 'image.apt[0]'", 'Debian package name'],
  },
  {
    name: 'negative budget',
    repo: bottle('budget:\n  claude: -5'),
    expect: ["field 'budget.claude'", 'greater than 0'],
  },
  {
    name: 'fractional budget',
    repo: bottle('budget:\n  claude: 1.5'),
    expect: ["field 'budget.claude'", 'whole number'],
  },
  {
    name: 'budget for an unknown provider',
    repo: bottle('budget:\n  gpt: 5'),
    expect: ["field 'budget", 'gpt'],
  },
  // --- references ---
  {
    name: 'extends a missing bottle',
    repo: bottle('extends: nope'),
    expect: [
      '.bot-bottle/bottles/b.md',
      "bottle 'b'",
      "field 'extends'",
      "extends bottle 'nope', which is not defined",
    ],
  },
  {
    name: 'extends cycle',
    repo: {
      ...base,
      '.bot-bottle/bottles/b.md': md('extends: c'),
      '.bot-bottle/bottles/c.md': md('extends: b'),
    },
    expect: ["field 'extends'", 'cycle', 'b -> c -> b'],
  },
  {
    name: 'extends itself',
    repo: bottle('extends: b'),
    expect: ["field 'extends'", 'cycle: b -> b'],
  },
  {
    name: 'agent names a missing bottle',
    repo: agent('provider: claude\nbottle: bb'),
    expect: [
      '.bot-bottle/agents/a.md',
      "agent 'a'",
      "field 'bottle'",
      "names bottle 'bb'",
      "did you mean 'b'",
    ],
  },
  {
    name: 'agent names a missing skill',
    repo: agent('provider: claude\nbottle: b\nskills: [review]'),
    expect: ["agent 'a'", "field 'skills[0]'", "names skill 'review'"],
  },
  {
    name: 'skill name escaping its directory',
    repo: agent('provider: claude\nbottle: b\nskills: ["../../etc"]'),
    expect: ["field 'skills[0]'", 'must match [a-z][a-z0-9-]*'],
  },
  {
    name: 'skill without SKILL.md',
    repo: { ...base, '.bot-bottle/skills/review/README.md': 'x' },
    expect: ['.bot-bottle/skills/review', "skill 'review'", 'no SKILL.md'],
  },
  {
    name: 'skill directory with a bad name',
    repo: { ...base, '.bot-bottle/skills/Bad_Skill/SKILL.md': 'x' },
    expect: ["skill 'Bad_Skill'", 'must match [a-z][a-z0-9-]*'],
  },
  // --- files ---
  {
    name: 'agent file with a bad name',
    repo: { ...base, '.bot-bottle/agents/My_Agent.md': AGENT },
    expect: ['.bot-bottle/agents/My_Agent.md', "agent 'My_Agent'", 'must match [a-z][a-z0-9-]*'],
  },
  {
    name: 'agent file name with shell characters',
    repo: { ...base, '.bot-bottle/agents/a;rm -rf ~.md': AGENT },
    expect: ["agent 'a;rm -rf ~'", 'not a valid name'],
  },
  {
    name: 'stray file in bottles/',
    repo: { ...base, '.bot-bottle/bottles/notes.txt': 'x' },
    expect: ['.bot-bottle/bottles/notes.txt', 'each bottle is a file named <name>.md'],
  },
  {
    name: 'bad YAML',
    repo: bottle('egress: [unclosed'),
    expect: ['.bot-bottle/bottles/b.md', "bottle 'b'", 'invalid YAML (line'],
  },
  {
    name: 'duplicate YAML key',
    repo: bottle('runtime: runc\nruntime: runsc'),
    expect: ["bottle 'b'", 'invalid YAML', 'unique'],
  },
  {
    name: 'front matter never closed',
    repo: { ...base, '.bot-bottle/bottles/b.md': '---\nruntime: runc\n' },
    expect: ["bottle 'b'", 'never closed'],
  },
  {
    name: 'YAML alias bomb',
    repo: bottle(
      'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
    ),
    expect: ["bottle 'b'", 'invalid YAML'],
  },
  {
    name: 'unreadable entity (a directory)',
    repo: { ...base, '.bot-bottle/bottles/c.md/x': 'x' },
    expect: ['.bot-bottle/bottles/c.md', "bottle 'c'", 'is a directory'],
  },
  {
    name: 'dangling symlink',
    repo: { ...base, '.bot-bottle/agents/z.md': { symlink: '/nonexistent/z.md' } },
    expect: ['.bot-bottle/agents/z.md', "agent 'z'", 'does not exist'],
  },
  // --- bot-bottle.json ---
  {
    name: 'bot-bottle.json is not JSON',
    repo: { 'bot-bottle.json': '{"agents": {' },
    expect: ['bot-bottle.json', 'invalid JSON'],
  },
  {
    name: 'bot-bottle.json unknown top-level key',
    repo: { 'bot-bottle.json': '{"bottle": {}}' },
    expect: ['bot-bottle.json', "unknown key 'bottle'", "did you mean 'bottles'"],
  },
  {
    name: 'bot-bottle.json bad agent name',
    repo: { 'bot-bottle.json': '{"agents": {"Bad Name": {"provider": "claude"}}}' },
    expect: ['bot-bottle.json', "agent 'Bad Name'", 'not a valid name'],
  },
  {
    name: 'bot-bottle.json prompt not a string',
    repo: { 'bot-bottle.json': '{"agents": {"a": {"provider": "claude", "prompt": 5}}}' },
    expect: ['bot-bottle.json', "agent 'a'", "field 'prompt'", 'expected a string'],
  },
  {
    name: 'bottle defined twice in one location',
    repo: { ...base, 'bot-bottle.json': '{"bottles": {"b": {}}}' },
    expect: ['bot-bottle.json', "bottle 'b'", 'also defined in'],
  },
  // --- settings ---
  {
    name: 'settings unknown key',
    home: { 'settings.yml': 'budgets:\n  claude: 5' },
    expect: ['settings.yml', 'settings', "unknown key 'budgets'", "did you mean 'budget'"],
  },
  {
    name: 'settings keep: unknown key',
    home: { 'settings.yml': 'keep:\n  lst: 3' },
    expect: ['settings.yml', "unknown key 'lst'", "did you mean 'last'"],
  },
  {
    name: 'settings keep.last of zero',
    home: { 'settings.yml': 'keep:\n  last: 0' },
    expect: ['settings.yml', "field 'keep.last'", 'at least 1'],
  },
  {
    name: 'settings keep.maxAge that is not a span',
    home: { 'settings.yml': 'keep:\n  maxAge: a week' },
    expect: ['settings.yml', "field 'keep.maxAge'", 'a span such as 12h, 7d or 2w'],
  },
  {
    name: 'settings keep.frozen that is not keep or expire',
    home: { 'settings.yml': 'keep:\n  frozen: yes' },
    expect: ['settings.yml', "field 'keep.frozen'", 'keep', 'expire'],
  },
  {
    name: 'settings bad base image',
    home: { 'settings.yml': 'image:\n  base: "Not An Image!"' },
    expect: ['settings.yml', "field 'image.base'", 'docker image reference'],
  },
  {
    name: 'settings budget as a string',
    home: { 'settings.yml': 'budget:\n  claude: lots' },
    expect: ['settings.yml', "field 'budget.claude'", 'expected a number'],
  },
  {
    name: 'settings budget period not a calendar period',
    home: { 'settings.yml': 'period: hourly' },
    expect: ['settings.yml', "field 'period'", 'expected one of day, week, month, all', '"hourly"'],
  },
  {
    name: 'settings file in the repository',
    repo: { ...base, '.bot-bottle/settings.yml': 'cutoff: kill' },
    expect: ['.bot-bottle/settings.yml', 'move this file to ~/.bot-bottle/settings.yml'],
  },
  {
    name: 'BOT_BOTTLE_BASE_IMAGE invalid',
    repo: base,
    env: { BOT_BOTTLE_BASE_IMAGE: 'bad image' },
    expect: ["field 'BOT_BOTTLE_BASE_IMAGE'", 'docker image reference'],
  },
  // --- command line ---
  {
    name: '--budget not a number',
    repo: base,
    argv: ['start', 'a', '--dry-run', '--budget', 'lots'],
    expect: ['--budget: expected a positive token count', '"lots"'],
  },
  {
    name: '--bottle unknown',
    repo: base,
    argv: ['start', 'a', '--dry-run', '--bottle', 'bb'],
    expect: ["--bottle: unknown bottle 'bb'", "did you mean 'b'"],
  },
  {
    name: 'agent without a default bottle',
    repo: { ...base, '.bot-bottle/agents/a.md': md('provider: claude') },
    expect: ["agent 'a' has no default bottle; pass one or more --bottle NAME"],
  },
  {
    name: 'unknown agent',
    repo: base,
    argv: ['start', 'aa', '--dry-run'],
    expect: ["unknown agent 'aa'", "did you mean 'a'", 'defined agents: a'],
  },
  {
    name: 'label with no letters',
    repo: base,
    argv: ['start', 'a', '--dry-run', '--label', '!!!'],
    expect: ["--label '!!!' gives no usable name"],
  },
  {
    name: 'unknown backend',
    repo: base,
    argv: ['start', 'a', '--dry-run', '--backend', 'nomad'],
    expect: ["'nomad' is invalid", 'docker, podman, kubernetes'],
  },
  {
    name: 'unknown color',
    repo: base,
    argv: ['start', 'a', '--dry-run', '--color', 'pink'],
    expect: ["'pink' is invalid", 'bright-white'],
  },
];

describe('malformed configuration', () => {
  let fx: Fixture | undefined;
  afterEach(() => {
    fx?.cleanup();
    fx = undefined;
  });

  it('has at least 30 distinct cases', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('$name', async (c) => {
    fx = makeFixture({ repo: c.repo ?? {}, home: c.home ?? {} });
    const r = await fx.run(c.argv ?? ['start', 'a', '--dry-run'], c.env ? { env: c.env } : {});
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    for (const part of c.expect) expect(r.stderr).toContain(part);
    // one message, no stack trace
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain('internal error');
  });

  it('reports errors as JSON on stdout under --json', async () => {
    fx = makeFixture({ repo: bottle('runtime: gvisor') });
    const r = await fx.run(['start', 'a', '--dry-run', '--json']);
    expect(r.code).toBe(2);
    const parsed = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      outcome: 'error',
      error: 'ConfigError',
      exitCode: 2,
      file: '.bot-bottle/bottles/b.md',
      entity: "bottle 'b'",
      field: 'runtime',
    });
  });
});
