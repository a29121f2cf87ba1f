import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  bottleRepo,
  leftovers,
  REAL_KEYS,
  runBin,
  usageLaunch,
  useFakeUpstream,
  type UsageLaunch,
  type BinRun,
} from '../helpers/bottle-repo.js';
import { describeDocker, dockerOut } from '../helpers/docker.js';
import { inAgentAsync, viaProxyScript } from '../helpers/in-agent.js';
import { hostPrimaryAddress, networkGateway, requireAddresses } from '../helpers/network.js';
import type { Fixture } from '../helpers/fixture.js';
import { md } from '../helpers/fixture.js';

const PROBES = readFileSync(`${import.meta.dirname}/../fixtures/escape-probes.cjs`, 'utf8');

/** What counts as getting out: a probe outcome that starts with one of these. */
const ESCAPED =
  /^(CONNECTED|RESOLVED|ANSWERED|HTTP\/1\.1 200|HTTP\/1\.1 [345]0[0-9] (?!Forbidden)|PING SENT|PRESENT)/;

function inAgent(
  slug: string,
  argv: string[],
  opts: { user?: string; input?: string } = {},
): string {
  return execFileSync(
    'docker',
    [
      'exec',
      '-i',
      ...(opts.user === undefined ? [] : ['--user', opts.user]),
      `bot-bottle-${slug}`,
      ...argv,
    ],
    {
      encoding: 'utf8',
      input: opts.input ?? '',
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
      // Unreadable files and processes are expected noise for the searches.
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
}

function ipOn(container: string, network: string): string {
  return dockerOut([
    'inspect',
    '--format',
    `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
    container,
  ]);
}

/**
 * Security invariants 1 and 2 under attack, from inside a real agent
 * container of a running bottle (Claude Code held mid-request by the fake
 * upstream), with a second bottle running next to it.
 */
describeDocker(
  'escape suite: nothing but the egress proxy is reachable, and no secret is inside',
  () => {
    const upstream = useFakeUpstream();
    let fx: Fixture;
    const runs: Promise<BinRun>[] = [];
    /** Probe outcomes per runtime: esc-a runs under runc, esc-b under runsc (gVisor). */
    const results: Record<string, Record<string, string>> = {};
    const BOTTLES = [
      { label: 'esc-a', agent: 'holder', runtime: 'runc', other: 'esc-b' },
      { label: 'esc-b', agent: 'holder-gvisor', runtime: 'runsc', other: 'esc-a' },
    ];

    beforeAll(async () => {
      fx = bottleRepo(upstream().port, {
        repo: {
          '.bot-bottle/bottles/escape.md': md(`
extends: fake
egress:
  allow: [localhost, denied.example.test]
  deny: [denied.example.test]
`),
          '.bot-bottle/bottles/escape-gvisor.md': md('extends: escape\nruntime: runsc'),
          '.bot-bottle/agents/holder.md': md(
            'provider: claude\nbottle: escape',
            'You are terse.\n',
          ),
          '.bot-bottle/agents/holder-gvisor.md': md(
            'provider: claude\nbottle: escape-gvisor',
            'You are terse.\n',
          ),
        },
      });
      for (const { label, agent } of BOTTLES) {
        const before = upstream().requests.length;
        runs.push(runBin(fx, ['start', agent, '--headless', '--label', label, '--prompt', 'HOLD']));
        await upstream().waitFor(
          (r) => upstream().requests.indexOf(r) >= before && r.path.startsWith('/v1/messages'),
          180_000,
        );
      }
      const hostAddress = hostPrimaryAddress();
      for (const b of BOTTLES) {
        const internalId = dockerOut([
          'network',
          'inspect',
          '--format',
          '{{.Id}}',
          `bot-bottle-${b.label}-internal`,
        ]).slice(0, 12);
        let bridgeLinkLocal = 'fe80::1';
        try {
          const ip = execFileSync('ip', ['-6', 'addr', 'show', `br-${internalId}`], {
            encoding: 'utf8',
          });
          bridgeLinkLocal = /inet6 (fe80::[0-9a-f:]+)/.exec(ip)?.[1] ?? bridgeLinkLocal;
        } catch {
          // No iproute2 on this host: probe a link-local address that would be the bridge's.
        }
        const addresses = {
          dockerGateway: networkGateway('bridge'),
          hostAddress,
          internalGateway: networkGateway(`bot-bottle-${b.label}-internal`),
          otherAgent: ipOn(`bot-bottle-${b.other}`, `bot-bottle-${b.other}-internal`),
          otherSidecar: ipOn(`bot-bottle-${b.other}-egress`, `bot-bottle-${b.other}-egress`),
          sidecarEgressSide: ipOn(`bot-bottle-${b.label}-egress`, `bot-bottle-${b.label}-egress`),
        };
        // A probe of an empty address fails for the wrong reason and would pass.
        requireAddresses(addresses);
        const targets = {
          hostPort: upstream().port,
          ...addresses,
          bridgeLinkLocal,
          exfilLabel: Buffer.from('stolen-data').toString('hex'),
        };
        expect(
          dockerOut(['inspect', '--format', '{{.HostConfig.Runtime}}', `bot-bottle-${b.label}`]),
        ).toBe(b.runtime);
        results[b.runtime] = JSON.parse(
          inAgent(b.label, ['node', '-', JSON.stringify(targets)], { input: PROBES }),
        ) as Record<string, string>;
      }
    }, 400_000);

    afterAll(async () => {
      for (const label of ['esc-a', 'esc-b']) await runBin(fx, ['stop', label]);
      await Promise.all(runs);
      expect(leftovers('esc-a') + leftovers('esc-b')).toBe('');
      fx.cleanup();
    }, 200_000);

    it.each(['runc', 'runsc'])('refuses every escape vector (at least 15) under %s', (runtime) => {
      const entries = Object.entries(results[runtime] ?? {});
      expect(entries.length).toBeGreaterThanOrEqual(15);
      const escaped = entries.filter(([, outcome]) => ESCAPED.test(outcome));
      expect(escaped, JSON.stringify(results[runtime], null, 2)).toEqual([]);
    });

    it.each(['runc', 'runsc'])(
      'answers proxy-level attacks with a 403 naming the rule under %s',
      (runtime) => {
        expect(results[runtime]).toMatchObject({
          'CONNECT to a denied host': 'HTTP/1.1 403 Forbidden [deny denied.example.test]',
          'CONNECT to a host not on the allowlist': 'HTTP/1.1 403 Forbidden [no-allow-match]',
          'CONNECT to an IP literal': 'HTTP/1.1 403 Forbidden [no-allow-match]',
          'CONNECT to a private address': 'HTTP/1.1 403 Forbidden [private-address private]',
          'CONNECT to a decimal-notation loopback':
            'HTTP/1.1 403 Forbidden [private-address loopback]',
          'CONNECT to an IPv4-mapped IPv6 address':
            'HTTP/1.1 403 Forbidden [private-address private]',
          'CONNECT to a name that resolves to a private address':
            'HTTP/1.1 403 Forbidden [private-address loopback]',
          'SNI differing from the CONNECT host': 'HTTP/1.1 403 Forbidden [sni-mismatch]',
          'Host header differing from the CONNECT host': 'HTTP/1.1 403 Forbidden [host-mismatch]',
          'plain http to a denied host': 'HTTP/1.1 403 Forbidden [deny denied.example.test]',
          'plain http to the metadata address':
            'HTTP/1.1 403 Forbidden [private-address linkLocal]',
        });
      },
    );

    it('never puts the real credentials or the CA key inside the agent container', () => {
      const secrets = JSON.parse(
        execFileSync(
          'docker',
          ['exec', 'bot-bottle-esc-a-egress', 'cat', '/run/bot-bottle/secrets.json'],
          {
            encoding: 'utf8',
          },
        ),
      ) as { caKeyPem: string; values: Record<string, string> };
      // The sidecar holds them (so the search below looks for the right strings).
      expect(Object.values(secrets.values)).toContain(REAL_KEYS.anthropic);
      const caKeyLine = secrets.caKeyPem.split('\n')[1] ?? '';
      expect(caKeyLine.length).toBeGreaterThan(40);
      const needles = [REAL_KEYS.anthropic, REAL_KEYS.openai, caKeyLine];

      const places: Record<string, string> = {
        'environment of every process': inAgent(
          'esc-a',
          ['sh', '-c', 'cat /proc/[0-9]*/environ | tr "\\0" "\\n"'],
          { user: '0' },
        ),
        'arguments of every process': inAgent(
          'esc-a',
          ['sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "'],
          { user: '0' },
        ),
        'container config': dockerOut(['inspect', 'bot-bottle-esc-a']),
        'image history': dockerOut([
          'history',
          '--no-trunc',
          dockerOut(['inspect', '--format', '{{.Config.Image}}', 'bot-bottle-esc-a']),
        ]),
        'container log': execFileSync('docker', ['logs', 'bot-bottle-esc-a'], { encoding: 'utf8' }),
      };
      // The whole filesystem, as root, one grep per needle (matching file names are listed).
      for (const [i, n] of needles.entries()) {
        places[`filesystem (needle ${i})`] = inAgent(
          'esc-a',
          [
            'sh',
            '-c',
            'grep -rlF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -f /dev/stdin / || true',
          ],
          { user: '0', input: `${n}\n` },
        );
      }
      expect(places['environment of every process']).toContain(
        'ANTHROPIC_API_KEY=bot-bottle-placeholder',
      );
      for (const [where, text] of Object.entries(places)) {
        for (const [i, n] of needles.entries()) {
          expect(text.includes(n), `needle ${i} found in ${where}`).toBe(false);
        }
      }
    });

    it('blocks the real key on its way to an allowed host that is not its route', () => {
      // The key reaches the script on stdin, so it is never on a command line.
      const leak = viaProxyScript(
        'api.openai.com',
        `(() => { const body = JSON.stringify({ note: Buffer.from(input).toString('base64') });
          return 'POST /v1/files HTTP/1.1\\r\\nHost: api.openai.com\\r\\nContent-Type: application/json\\r\\nContent-Length: ' + body.length + '\\r\\nConnection: close\\r\\n\\r\\n' + body; })()`,
      );
      const before = upstream().requests.length;
      const out = inAgent('esc-a', ['node', '-e', leak], {
        input: REAL_KEYS.anthropic,
      });
      expect(out).toMatch(/^HTTP\/1\.1 403/);
      expect(out).toContain('bottle-secret');
      expect(
        upstream()
          .requests.slice(before)
          .some((r) => r.path === '/v1/files'),
      ).toBe(false);
    });

    it('refuses bodies the scanner cannot read whole, each saying why, none reaching the upstream', async () => {
      // Bodies are built inside the agent container and sent through the proxy as an agent would.
      const script = `
        const net = require('node:net'), tls = require('node:tls'), zlib = require('node:zlib');
        const crypto = require('node:crypto');
        const KEY = 'AKIA' + 'IOSFODNN7EXAMPLE';
        const secret = Buffer.from(JSON.stringify({ note: 'key ' + KEY }));
        const MiB = 1024 * 1024;
        const send = (path, headers, body) => new Promise((resolve) => {
          let got = '';
          let done = false;
          const finish = (why) => {
            if (done) return;
            done = true;
            const status = got.split('\\r\\n')[0];
            const text = got.slice(got.indexOf('\\r\\n\\r\\n') + 4).split('\\n')[0];
            resolve(got === '' ? why : status + ' | ' + text);
          };
          const s = net.connect(3128, 'egress', () =>
            s.write('CONNECT api.openai.com:443 HTTP/1.1\\r\\nHost: api.openai.com:443\\r\\n\\r\\n'));
          s.on('error', () => finish('RESET'));
          s.once('data', () => {
            const t = tls.connect({ socket: s, servername: 'api.openai.com' }, () => {
              let head = 'POST ' + path + ' HTTP/1.1\\r\\nHost: api.openai.com\\r\\nContent-Length: ' +
                body.length + '\\r\\nConnection: close\\r\\n';
              for (const [k, v] of Object.entries(headers)) head += k + ': ' + v + '\\r\\n';
              t.write(head + '\\r\\n');
              t.write(body);
            });
            t.on('data', (d) => (got += d));
            t.on('end', () => finish('CLOSED'));
            t.on('close', () => finish('CLOSED'));
            t.on('error', () => finish('RESET'));
          });
        });
        (async () => {
          const out = {};
          out.bomb = await send('/v1/files-bomb', { 'content-encoding': 'gzip' },
            zlib.gzipSync(Buffer.concat([Buffer.alloc(65 * MiB), Buffer.from(' ' + KEY + ' ')])));
          out.stacked = await send('/v1/files-stacked', { 'content-encoding': 'gzip, gzip' },
            zlib.gzipSync(zlib.gzipSync(secret)));
          out.unknown = await send('/v1/files-zstd', { 'content-encoding': 'zstd' }, secret);
          out.big = await send('/v1/files-big', {},
            Buffer.concat([Buffer.alloc(9 * MiB, 97), Buffer.from(' ' + KEY + ' '), Buffer.alloc(MiB, 98)]));
          out.bigGzip = await send('/v1/files-big-gzip', { 'content-encoding': 'gzip' },
            zlib.gzipSync(Buffer.concat([crypto.randomBytes(9 * MiB), Buffer.from(' ' + KEY + ' '),
              crypto.randomBytes(MiB)]), { level: 1 }));
          console.log(JSON.stringify(out));
        })();`;
      const before = upstream().requests.length;
      // Async: the in-process fake upstream must be able to take what the proxy sends meanwhile.
      const out = JSON.parse(await inAgentAsync('esc-a', ['node', '-e', script])) as Record<
        string,
        string
      >;
      expect(out.bomb).toMatch(/^HTTP\/1\.1 413 .*decodes to more than 64 MiB/);
      expect(out.stacked).toMatch(
        /^HTTP\/1\.1 415 .*encoded more than once \(content-encoding: gzip, gzip\)/,
      );
      expect(out.unknown).toMatch(/^HTTP\/1\.1 415 .*content-encoding 'zstd' cannot be decoded/);
      // A body too large to hold is cut while it streams: the refusal, or the connection cut.
      for (const k of ['big', 'bigGzip'] as const) {
        expect(out[k], k).toMatch(/^(HTTP\/1\.1 403 .*aws-access-key-id|RESET|CLOSED)/);
      }
      expect(
        upstream()
          .requests.slice(before)
          .filter((r) => r.path.startsWith('/v1/files-')),
      ).toEqual([]);
      const log = (await runBin(fx, ['egress', 'log', 'esc-a', '--json'])).stdout;
      expect(log).toContain('aws-access-key-id in body (streamed)');
      expect(log).toContain('the upload was cut off');
    });

    it('charges a metered call that asks for zstd only: the upstream is offered what the meter reads', async () => {
      const row = (): Promise<UsageLaunch | undefined> => usageLaunch(fx, { slug: 'esc-a' });
      const before = await row();
      expect(before).toBeDefined();
      const served = { ...upstream().served };
      const requestsBefore = upstream().requests.length;
      // A non-streaming Messages call as a client that decodes zstd and nothing else would send it.
      const script = `
        const net = require('node:net'), tls = require('node:tls'), http = require('node:http');
        const s = net.connect(3128, 'egress', () =>
          s.write('CONNECT api.anthropic.com:443 HTTP/1.1\\r\\nHost: api.anthropic.com:443\\r\\n\\r\\n'));
        s.once('data', () => {
          const t = tls.connect({ socket: s, servername: 'api.anthropic.com' }, () => {
            const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64,
              messages: [{ role: 'user', content: 'say hi' }] });
            const req = http.request({ createConnection: () => t, method: 'POST', path: '/v1/messages',
              headers: { host: 'api.anthropic.com', 'content-type': 'application/json',
                'accept-encoding': 'zstd', 'x-api-key': 'placeholder',
                'anthropic-version': '2023-06-01', 'content-length': Buffer.byteLength(body) } });
            req.on('response', (res) => {
              let b = '';
              res.on('data', (c) => (b += c));
              res.on('end', () => console.log(JSON.stringify({ status: res.statusCode,
                encoding: res.headers['content-encoding'] ?? null, body: b })));
            });
            req.end(body);
          });
        });`;
      const out = JSON.parse(await inAgentAsync('esc-a', ['node', '-e', script])) as {
        status: number;
        encoding: string | null;
        body: string;
      };
      expect(out.status, out.body).toBe(200);
      expect(out.encoding).toBeNull();
      expect(out.body).toContain('hello from the fake upstream');
      const asked = upstream()
        .requests.slice(requestsBefore)
        .filter((r) => r.method === 'POST' && r.path.split('?')[0] === '/v1/messages');
      expect(asked).toHaveLength(1);
      expect(String(asked[0]?.headers['accept-encoding'])).not.toMatch(/zstd/i);
      expect(upstream().served.calls - served.calls).toBe(1);
      // The usage reaches the controller's ledger over the sidecar's link: wait for the row to move.
      let after = await row();
      for (let i = 0; i < 100 && after?.events === before?.events; i++) {
        await new Promise((r) => setTimeout(r, 200));
        after = await row();
      }
      expect(after).toMatchObject({
        events: (before?.events ?? 0) + 1,
        unmeteredEvents: before?.unmeteredEvents ?? 0,
        inputTokens:
          (before?.inputTokens ?? 0) + upstream().served.inputTokens - served.inputTokens,
        outputTokens:
          (before?.outputTokens ?? 0) + upstream().served.outputTokens - served.outputTokens,
      });
    });

    it('changes the rules live (egress deny/allow/show) without restarting the sidecar', async () => {
      const startedAt = (): string =>
        dockerOut(['inspect', '--format', '{{.State.StartedAt}}', 'bot-bottle-esc-a-egress']);
      const before = startedAt();
      const connect = (authority: string): string =>
        inAgent('esc-a', [
          'node',
          '-e',
          `const s=require('net').connect(3128,'egress',()=>s.write('CONNECT ${authority} HTTP/1.1\\r\\nHost: ${authority}\\r\\n\\r\\n'));` +
            `s.once('data',d=>{console.log(d.toString().split('\\r\\n\\r\\n').join(' | '));s.destroy();});`,
        ]);
      expect(connect('api.openai.com:443')).toMatch(/^HTTP\/1\.1 200/);

      const deny = await runBin(fx, ['egress', 'deny', 'esc-a', 'api.openai.com']);
      expect(deny.code, deny.stderr).toBe(0);
      expect(deny.stdout).toMatch(
        /esc-a: deny api\.openai\.com \(policy revision 1 -> 2; open connections kept\)/,
      );
      expect(connect('api.openai.com:443')).toMatch(
        /^HTTP\/1\.1 403 Forbidden.*rule: deny api\.openai\.com/s,
      );

      const allow = await runBin(fx, ['egress', 'allow', 'esc-a', 'api.openai.com', '--json']);
      expect(allow.code, allow.stderr).toBe(0);
      expect(JSON.parse(allow.stdout)).toMatchObject({
        revision: 3,
        after: { deny: ['denied.example.test'] },
      });
      expect(connect('api.openai.com:443')).toMatch(/^HTTP\/1\.1 200/);

      const show = await runBin(fx, ['egress', 'show', 'esc-a', '--json']);
      const policy = JSON.parse(show.stdout) as {
        revision: number;
        routes: { host: string; headers: { name: string }[] }[];
      };
      expect(policy.revision).toBe(3);
      expect(show.stdout).not.toContain(REAL_KEYS.anthropic);
      expect(policy.routes.map((r) => r.host)).toEqual(['api.anthropic.com', 'api.openai.com']);
      expect(startedAt()).toBe(before);

      const bad = await runBin(fx, ['egress', 'allow', 'esc-a', 'not a host!']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("'not a host!' must be a host name");
    });

    it('adds a credential route live; the proxy sets it, the agent never sees it', async () => {
      const route = await runBin(fx, [
        'egress',
        'route',
        'esc-a',
        'api.openai.com',
        'x-extra-token',
        'literal:added-live-0123456789',
        '--prefix',
        'Tok ',
      ]);
      expect(route.code, route.stderr).toBe(0);
      expect(route.stdout).toMatch(
        /credential route set for api\.openai\.com \(policy revision \d+ -> \d+\)/,
      );
      const before = upstream().requests.length;
      const script = viaProxyScript(
        'api.openai.com',
        `'GET /v1/models HTTP/1.1\\r\\nHost: api.openai.com\\r\\nAuthorization: Bearer placeholder\\r\\nConnection: close\\r\\n\\r\\n'`,
      );
      // Asynchronous: the fake upstream answering this request runs in this process.
      const out = await inAgentAsync('esc-a', ['node', '-e', script]);
      const seen = upstream()
        .requests.slice(before)
        .find((r) => r.path === '/v1/models');
      expect(seen?.headers['x-extra-token'], out).toBe('Tok added-live-0123456789');
      expect(seen?.headers.authorization).toBe(`Bearer ${REAL_KEYS.openai}`);
      const show = await runBin(fx, ['egress', 'show', 'esc-a']);
      expect(show.stdout).toContain('api.openai.com (authorization, x-extra-token)');
      expect(show.stdout).not.toContain('added-live');

      const notAllowed = await runBin(fx, ['egress', 'route', 'esc-a', 'example.org', 'x-k', 'v']);
      expect(notAllowed.code).toBe(2);
      expect(notAllowed.stderr).toContain('example.org is not allowed in bottle esc-a');
      const removed = await runBin(fx, ['egress', 'route', 'esc-a', 'api.openai.com', '--remove']);
      expect(removed.code, removed.stderr).toBe(0);
      expect((await runBin(fx, ['egress', 'show', 'esc-a'])).stdout).not.toContain(
        'api.openai.com (',
      );
    });

    it('keeps an audit line per decision, readable with egress log', async () => {
      const log = await runBin(fx, ['egress', 'log', 'esc-a', '--json']);
      expect(log.code, log.stderr).toBe(0);
      const entries = log.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((e) => 'verdict' in e);
      const refused = entries.find((e) => e.rule === 'deny api.openai.com');
      expect(refused).toMatchObject({
        slug: 'esc-a',
        kind: 'connect',
        verdict: 'refused',
        status: 403,
        host: 'api.openai.com',
        port: 443,
      });
      const leak = entries.find((e) => e.kind === 'https' && e.path === '/v1/files');
      expect(leak).toMatchObject({
        method: 'POST',
        host: 'api.openai.com',
        verdict: 'refused',
        status: 403,
        rule: 'dlp bottle-secret,anthropic-key',
      });
      for (const k of ['at', 'bytesUp', 'bytesDown', 'ms', 'findings'])
        expect(leak).toHaveProperty(k);
      const text = await runBin(fx, ['egress', 'log', 'esc-a']);
      expect(text.stdout).toMatch(
        /REFUSED +connect +CONNECT api\.openai\.com:443 403 \[deny api\.openai\.com\]/,
      );
    });
  },
);
