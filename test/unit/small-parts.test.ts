import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseFrontMatter } from '../../src/manifest/frontmatter.js';
import { isValidEntityName } from '../../src/manifest/names.js';
import { slugify } from '../../src/plan/slug.js';
import { closest } from '../../src/util/suggest.js';
import { bottlesFromInspect } from '../../src/backend/cli-engine/labels.js';
import { bottlesFromPs } from '../../src/backend/docker/ps.js';
import { bottlesFromPodmanPs } from '../../src/backend/podman/ps.js';
import { parseTokenCount } from '../../src/util/tokens.js';
import { formatEgressLine } from '../../src/cli/egress-log.js';

describe('front matter', () => {
  const loc = { file: 'f.md' };
  it('splits settings from the body', () => {
    expect(parseFrontMatter('---\nprovider: claude\n---\nHello\n', loc)).toEqual({
      data: { provider: 'claude' },
      body: 'Hello\n',
    });
  });
  it('a file without front matter is all body', () => {
    expect(parseFrontMatter('Just a prompt', loc)).toEqual({ data: {}, body: 'Just a prompt' });
  });
  it('handles CRLF and a BOM', () => {
    expect(parseFrontMatter('\uFEFF---\r\nprovider: pi\r\n---\r\nBody', loc).data).toEqual({
      provider: 'pi',
    });
  });
  it('never evaluates ---js front matter', () => {
    expect(() =>
      parseFrontMatter('---js\n{ x: require("fs").writeFileSync("/tmp/pwned", "") }\n---\n', loc),
    ).toThrow(ConfigError);
  });
  it('a body may contain --- lines after the front matter', () => {
    expect(parseFrontMatter('---\na: 1\n---\nx\n---\ny', loc).body).toBe('x\n---\ny');
  });
  it('reports the line of a YAML error in the file', () => {
    expect(() => parseFrontMatter('---\na: 1\nb: [\n---\n', loc)).toThrow(/line \d/);
  });
});

describe('names', () => {
  it.each(['a', 'claude', 'my-agent-2'])('accepts %s', (n) => {
    expect(isValidEntityName(n)).toBe(true);
  });
  it.each(['', 'A', '1a', '-a', 'a_b', 'a.b', '../x', 'a b', 'a;b', 'a'.repeat(64)])(
    'rejects %j',
    (n) => {
      expect(isValidEntityName(n)).toBe(false);
    },
  );
});

describe('slugs', () => {
  it.each([
    ['Fix CI', 'fix-ci'],
    ['claude', 'claude'],
    ['  --Weird__Label!! ', 'weird-label'],
    ['x'.repeat(60), 'x'.repeat(40)],
    ['$(rm -rf ~)', 'rm-rf'],
  ])('%j -> %s', (label, slug) => {
    expect(slugify(label)).toBe(slug);
  });
});

describe('did you mean', () => {
  it('suggests close words only', () => {
    expect(closest('egres', ['egress', 'env'])).toBe('egress');
    expect(closest('zzzzzz', ['egress', 'env'])).toBeUndefined();
  });
  it('counts a swapped pair of letters as one typo', () => {
    expect(closest('strat', ['start', 'stop', 'ps'])).toBe('start');
    expect(closest('egerss', ['egress', 'env'])).toBe('egress');
    // Two swaps in a short word are not a typo of it.
    expect(closest('tsrat', ['start'])).toBeUndefined();
  });
});

describe('token counts', () => {
  it.each([
    ['5000000', 5_000_000],
    ['5m', 5_000_000],
    ['500k', 500_000],
    ['1.5M', 1_500_000],
    ['1_000', 1000],
  ])('%s', (t, n) => {
    expect(parseTokenCount(t)).toBe(n);
  });
  it.each(['0', '-5', 'abc', '5x', ''])('rejects %j', (t) => {
    expect(parseTokenCount(t)).toBeUndefined();
  });
});

describe('bottles from docker inspect', () => {
  it('reads labels as a map and tolerates containers without them', () => {
    const json = JSON.stringify([
      {
        Config: {
          Labels: {
            'dev.bot-bottle.slug': 'a',
            'dev.bot-bottle.label': 'x,dev.bot-bottle.slug=evil',
            'dev.bot-bottle.controller-pid': '42',
            'dev.bot-bottle.bottles': 'one two',
          },
        },
        State: { Status: 'running' },
      },
      { Config: { Labels: null }, State: {} },
      { Config: { Labels: { 'dev.bot-bottle.slug': 7, 'dev.bot-bottle.controller-pid': '-1' } } },
    ]);
    const [a, b, c] = bottlesFromInspect(json);
    expect(a).toMatchObject({
      slug: 'a',
      label: 'x,dev.bot-bottle.slug=evil',
      controllerPid: 42,
      bottles: ['one', 'two'],
      state: 'running',
    });
    expect(b).toMatchObject({ slug: '', state: 'unknown', controllerPid: undefined, bottles: [] });
    expect(c).toMatchObject({ slug: '', controllerPid: undefined });
    expect(bottlesFromInspect('')).toEqual([]);
    // docker ps with each label printed as JSON on its own: a missing label prints as ''.
    const ps = `{"Config":{"Labels":{"dev.bot-bottle.slug":"a","dev.bot-bottle.label":"x,dev.bot-bottle.slug=evil","dev.bot-bottle.controller-host":""}},"State":{"Status":"running"}}\n`;
    expect(bottlesFromPs(ps)).toMatchObject([
      {
        slug: 'a',
        label: 'x,dev.bot-bottle.slug=evil',
        state: 'running',
        controllerHost: undefined,
      },
    ]);
    expect(bottlesFromPs('')).toEqual([]);
    expect(() => bottlesFromInspect('{}')).toThrow('docker inspect did not return a list');
  });

  it("reads podman ps's JSON list, labels as a map (a comma in a value forges nothing)", () => {
    const ps = JSON.stringify([
      {
        Labels: {
          'dev.bot-bottle.slug': 'a',
          'dev.bot-bottle.label': 'x,dev.bot-bottle.slug=evil',
          'dev.bot-bottle.bottles': 'one two',
        },
        State: 'exited',
        Status: 'Exited (0) 3 seconds ago',
      },
      { Labels: null, State: 'running' },
    ]);
    expect(bottlesFromPodmanPs(ps)).toMatchObject([
      { slug: 'a', label: 'x,dev.bot-bottle.slug=evil', bottles: ['one', 'two'], state: 'exited' },
      { slug: '', state: 'running' },
    ]);
    expect(bottlesFromPodmanPs('\n')).toEqual([]);
    expect(() => bottlesFromPodmanPs('{}')).toThrow('podman ps did not return a list');
  });
});

describe('egress log lines', () => {
  it('names the redactions of an LLM call, and survives a hostile redactions field', () => {
    const line = JSON.stringify({
      at: '2026-12-01T10:00:00.000Z',
      kind: 'https',
      method: 'POST',
      host: 'api.anthropic.com',
      port: 443,
      path: '/v1/messages?beta=',
      rule: 'allow api.anthropic.com',
      verdict: 'redacted',
      status: 200,
      redactions: { 'aws-access-key-id': 1, 'stripe-key': 2 },
      bytesUp: 10,
      bytesDown: 20,
      ms: 5,
    });
    expect(formatEgressLine(line)).toContain(
      'REDACTED https     POST api.anthropic.com:443/v1/messages?beta= 200',
    );
    expect(formatEgressLine(line)).toContain(' - redacted aws-access-key-id, stripe-key x2');
    for (const redactions of ['x', null, [], {}]) {
      const odd = JSON.stringify({ kind: 'https', verdict: 'allowed', redactions });
      expect(formatEgressLine(odd)).not.toContain('redacted');
    }
  });
});
