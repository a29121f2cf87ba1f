import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REAL_KEYS, type BinRun } from '../helpers/bottle-repo.js';
import { md, type Fixture } from '../helpers/fixture.js';
import { hostPrimaryAddress, requireAddresses } from '../helpers/network.js';
import {
  describePodman,
  podmanBottleRepo,
  podmanLeftovers,
  podmanOut,
  runAsUser,
  usePodmanFakeUpstream,
} from '../helpers/podman.js';

const HOST_PROXY_SECRET = 'host-proxy-password-4f1c';

const PROBES = readFileSync(`${import.meta.dirname}/../fixtures/escape-probes.cjs`, 'utf8');

/** What counts as getting out: a probe outcome that starts with one of these. */
const ESCAPED =
  /^(CONNECTED|RESOLVED|ANSWERED|HTTP\/1\.1 200|HTTP\/1\.1 [345]0[0-9] (?!Forbidden)|PING SENT|PRESENT)/;

function ipOn(container: string, network: string): string {
  return podmanOut([
    'inspect',
    '--format',
    `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
    container,
  ]);
}

function inAgent(
  slug: string,
  argv: string[],
  opts: { user?: string; input?: string } = {},
): string {
  return podmanOut(
    [
      'exec',
      '-i',
      ...(opts.user === undefined ? [] : ['--user', opts.user]),
      `bot-bottle-${slug}`,
      ...argv,
    ],
    120_000,
    opts.input ?? '',
  );
}

/**
 * Security invariants 1 and 2 on rootless podman: from inside a running
 * agent container (Claude Code held mid-request by the fake upstream), with
 * a second bottle next to it, nothing but the egress proxy is reachable and
 * no real credential is inside.
 */
describePodman('rootless podman: nothing but the egress proxy is reachable from the agent', () => {
  const upstream = usePodmanFakeUpstream();
  let fx: Fixture;
  const runs: Promise<BinRun>[] = [];
  let results: Record<string, string> = {};
  const LABELS = ['pesc-a', 'pesc-b'];

  beforeAll(async () => {
    fx = podmanBottleRepo(upstream().port, {
      repo: {
        '.bot-bottle/bottles/escape.md': md(`
extends: fake
egress:
  allow: [localhost, denied.example.test]
  deny: [denied.example.test]
`),
        '.bot-bottle/agents/holder.md': md('provider: claude\nbottle: escape', 'You are terse.\n'),
      },
    });
    // The operator's own proxy settings (podman copies them into containers by default).
    fx.env.FTP_PROXY = `http://operator:${HOST_PROXY_SECRET}@proxy.invalid:3128`;
    for (const label of LABELS) {
      const before = upstream().requests.length;
      runs.push(
        runAsUser(fx, [
          'start',
          'holder',
          '--backend',
          'podman',
          '--headless',
          '--label',
          label,
          '--prompt',
          'HOLD',
        ]),
      );
      await upstream().waitFor(
        (r) => upstream().requests.indexOf(r) >= before && r.path.startsWith('/v1/messages'),
        300_000,
      );
    }
    const [a, b] = LABELS as [string, string];
    // An internal network records no gateway; its subnet's first address is where one would be.
    const subnet = podmanOut([
      'network',
      'inspect',
      '--format',
      '{{range .Subnets}}{{.Subnet}} {{end}}',
      `bot-bottle-${a}-internal`,
    ]);
    const addresses = {
      // The rootless network's way to the host (slirp4netns's gateway).
      dockerGateway: '10.0.2.2',
      hostAddress: hostPrimaryAddress(),
      internalGateway: subnet.replace(/^(\d+\.\d+\.\d+)\.\d+\/.*$/, '$1.1'),
      otherAgent: ipOn(`bot-bottle-${b}`, `bot-bottle-${b}-internal`),
      otherSidecar: ipOn(`bot-bottle-${b}-egress`, `bot-bottle-${b}-egress`),
      sidecarEgressSide: ipOn(`bot-bottle-${a}-egress`, `bot-bottle-${a}-egress`),
    };
    requireAddresses(addresses);
    const targets = {
      hostPort: upstream().port,
      ...addresses,
      bridgeLinkLocal: 'fe80::1',
      exfilLabel: Buffer.from('stolen-data').toString('hex'),
    };
    results = JSON.parse(
      inAgent(a, ['node', '-', JSON.stringify(targets)], { input: PROBES }),
    ) as Record<string, string>;
  }, 600_000);

  afterAll(async () => {
    for (const label of LABELS) await runAsUser(fx, ['stop', label]);
    await Promise.all(runs);
    expect(LABELS.map(podmanLeftovers).join('')).toBe('');
    // A stopped bottle is saved; forget it and its image.
    for (const label of LABELS) {
      // One label filter: podman 4.3 ORs several (docker ANDs them).
      const identities = podmanOut([
        'images',
        '--filter',
        `label=dev.bot-bottle.slug=${label}`,
        '--format',
        '{{index .Labels "dev.bot-bottle.identity"}}',
      ]).split('\n');
      for (const identity of identities.filter((i) => i !== '')) {
        expect((await runAsUser(fx, ['rm', identity])).code).toBe(0);
      }
    }
    fx.cleanup();
  }, 300_000);

  it('refuses every escape vector (at least 15)', () => {
    const entries = Object.entries(results);
    expect(entries.length).toBeGreaterThanOrEqual(15);
    const escaped = entries.filter(([, outcome]) => ESCAPED.test(outcome));
    expect(escaped, JSON.stringify(results, null, 2)).toEqual([]);
  });

  it('answers proxy-level attacks with a 403 naming the rule', () => {
    expect(results).toMatchObject({
      'CONNECT to a denied host': 'HTTP/1.1 403 Forbidden [deny denied.example.test]',
      'CONNECT to a host not on the allowlist': 'HTTP/1.1 403 Forbidden [no-allow-match]',
      'CONNECT to a private address': 'HTTP/1.1 403 Forbidden [private-address private]',
      'CONNECT to a name that resolves to a private address':
        'HTTP/1.1 403 Forbidden [private-address loopback]',
      'SNI differing from the CONNECT host': 'HTTP/1.1 403 Forbidden [sni-mismatch]',
      'plain http to the metadata address': 'HTTP/1.1 403 Forbidden [private-address linkLocal]',
    });
  });

  it('has no engine socket and no real credential inside the agent container', () => {
    const [a] = LABELS as [string];
    // The podman user's API socket is the engine: it must not be reachable from the agent.
    expect(
      inAgent(a, [
        'sh',
        '-c',
        'ls /run/user/*/podman/podman.sock /run/podman/podman.sock 2>&1 || true',
      ]),
    ).not.toMatch(/^\/run\/.*podman\.sock$/m);
    const environ = inAgent(a, ['sh', '-c', 'cat /proc/[0-9]*/environ | tr "\\0" "\\n"'], {
      user: '0',
    });
    expect(environ).toContain('ANTHROPIC_API_KEY=bot-bottle-placeholder');
    expect(environ).not.toContain(REAL_KEYS.anthropic);
    // Nor the operator's proxy password, in the agent or the sidecars.
    expect(environ).not.toContain(HOST_PROXY_SECRET);
    for (const c of [`bot-bottle-${a}`, `bot-bottle-${a}-egress`]) {
      expect(podmanOut(['inspect', '--format', '{{json .Config.Env}}', c])).not.toContain(
        HOST_PROXY_SECRET,
      );
    }
    const files = inAgent(
      a,
      [
        'sh',
        '-c',
        'grep -rlF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -f /dev/stdin / || true',
      ],
      { user: '0', input: `${REAL_KEYS.anthropic}\n` },
    );
    expect(files).toBe('');
  });
});
