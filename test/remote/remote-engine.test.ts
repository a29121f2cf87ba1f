import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { RecordedRequest } from '../fixtures/fake-llm.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import {
  bottleRepo,
  REAL_KEYS,
  runBin,
  useFakeUpstream,
  type BinRun,
} from '../helpers/bottle-repo.js';
import { dockerOut } from '../helpers/docker.js';
import { md, type Fixture } from '../helpers/fixture.js';
import { watchBottleMounts, type MountWatch } from '../helpers/mount-watch.js';
import { describeRemote, remote, remoteDocker, remoteEnv } from '../helpers/remote-engine.js';

/**
 * bot-bottle against a Docker engine that does not share this machine's
 * filesystem (Docker Desktop, colima, OrbStack, a remote DOCKER_HOST): the
 * built CLI runs here with DOCKER_HOST pointing at the test bed's second
 * engine, the fake upstream runs here too, and the bottle's containers reach
 * it at this machine's address on the engine's network. The first bottle runs
 * under gVisor (runsc, registered there as on this host), the others under
 * runc. Images are the product's business: it
 * builds the egress and agent images through the remote API (the engine keeps
 * them between runs). Throughout, no container of a bottle may have a host
 * path bind-mounted: every channel goes through the engine's API.
 */

const DOCS = 'docs.fake-llm.test';

interface LaunchRec {
  outcome: string;
  slug: string;
  identity: string;
  output: string;
  runtime: string;
  branch: string | null;
  commits: number;
  resumeCommand: string | null;
}

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

/** Containers and networks on the remote engine still labelled with `slug`; '' when none. */
function remoteLeftovers(slug: string): string {
  return (
    remoteDocker(['ps', '-a', '--filter', `label=dev.bot-bottle.slug=${slug}`, '-q']) +
    remoteDocker(['network', 'ls', '--filter', `label=dev.bot-bottle.slug=${slug}`, '-q'])
  );
}

/**
 * Polls `check` until it gives a value; fails at once, with the launch's own
 * output, when the launch `run` ends first (a failed launch would otherwise
 * look like a slow one).
 */
async function whileRunning<T>(
  run: Promise<BinRun>,
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 240_000,
): Promise<T> {
  let ended: BinRun | undefined;
  void run.then((r) => (ended = r));
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = await check();
    if (got !== undefined) return got;
    if (ended !== undefined) {
      throw new Error(
        `the launch ended (exit ${ended.code}) before ${what}\n${ended.stdout}\n${ended.stderr}`,
      );
    }
    if (Date.now() > until) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

describeRemote('a bottle on a Docker engine that shares no files with this machine', () => {
  const upstream = useFakeUpstream();
  let mounts: MountWatch | undefined;
  const fixtures: Fixture[] = [];

  /** A bottle repository on the remote engine; removed after the test. */
  function repo(extra: Parameters<typeof bottleRepo>[1] = {}): Fixture {
    if (remote === undefined) throw new Error('no remote engine');
    const fx = bottleRepo(upstream().port, {
      runtime: 'runc',
      upstream: remote.upstreamAddress,
      env: { DOCKER_HOST: remote.dockerHost },
      ...extra,
    });
    fixtures.push(fx);
    return fx;
  }

  beforeEach(() => {
    mounts = watchBottleMounts({ env: remoteEnv() });
  });

  afterEach(async () => {
    await mounts?.stop();
    for (const fx of fixtures.splice(0)) fx.cleanup();
  });

  /** After a run: the watch saw the bottle's containers, and none had a host path. */
  async function expectNoHostPaths(slug: string, roles: string[]): Promise<void> {
    await mounts?.stop();
    expect(mounts?.binds()).toEqual([]);
    for (const role of roles)
      expect(mounts?.seen()).toContain(
        role === 'agent' ? `bot-bottle-${slug}` : `bot-bottle-${slug}-${role}`,
      );
  }

  const toolResult = (needle: string) => (r: RecordedRequest) =>
    JSON.stringify(r.body).includes('tool_result') && JSON.stringify(r.body).includes(needle);

  it("claude headless under gVisor: metered through the remote sidecar, and the agent's commit comes home as a branch", async () => {
    const fx = repo({ runtime: 'runsc' });
    const before = upstream().requests.length;
    const r = await runBin(fx, [
      'start',
      'claude',
      '--headless',
      '--label',
      'remote-commit',
      '--prompt',
      'RUN: echo hi > hello.txt && git add hello.txt && git commit -q -m "add hello" && echo WORKED',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as LaunchRec;
    expect(rec.runtime).toBe('runsc');
    expect(rec.output).toContain('done: WORKED');
    expect(rec.branch).toBe('bot-bottle/remote-commit');
    expect(git(fx.repo, 'show', 'bot-bottle/remote-commit:hello.txt')).toBe('hi');
    expect(git(fx.repo, 'log', '--format=%s', '-1', 'bot-bottle/remote-commit')).toBe('add hello');
    expect(existsSync(join(fx.repo, 'hello.txt'))).toBe(false);
    // The proxy on the remote engine put the real key on every call to the fake on this machine.
    const seen = upstream()
      .requests.slice(before)
      .filter((q) => q.method === 'POST' && q.path.startsWith('/v1/messages'));
    expect(seen.length).toBe(2);
    for (const q of seen) expect(q.headers['x-api-key']).toBe(REAL_KEYS.anthropic);
    // The controller here metered both calls (the link to the remote sidecar works).
    const usage = await runBin(fx, ['usage', '--json']);
    expect(
      (
        JSON.parse(usage.stdout) as {
          launches: { identity: string; events: number; inputTokens: number }[];
        }
      ).launches,
    ).toContainEqual(
      expect.objectContaining({ identity: rec.identity, events: 2, inputTokens: 24 }),
    );
    await expectNoHostPaths('remote-commit', ['agent', 'egress']);
    expect(remoteLeftovers('remote-commit')).toBe('');
    // The images were built by the product on that engine.
    expect(remoteDocker(['images', '-q', '--filter', 'reference=bot-bottle-egress'])).not.toBe('');
    expect(remoteDocker(['images', '-q', '--filter', 'reference=bot-bottle-claude'])).not.toBe('');
    expect((await runBin(fx, ['rm', rec.identity])).code).toBe(0);
  });

  it('a launch budget cuts metered calls off in the API shape, and the ledger says so', async () => {
    const fx = repo();
    // Output caps off: the first call crosses the 10-token budget and the next is refused.
    writeFileSync(join(fx.home, 'settings.yml'), 'budget:\n  cap: false\n');
    const r = await runBin(fx, [
      'start',
      'claude',
      '--headless',
      '--prompt',
      'RUN: echo hi',
      '--label',
      'remote-budget',
      '--budget',
      '10',
      '--json',
    ]);
    const rec = JSON.parse(r.stdout) as LaunchRec;
    expect(rec.outcome, r.stderr).toBe('ended');
    expect(rec.output).toContain('429');
    expect(rec.output).toContain('launch budget (--budget) of 10 tokens is used up (19 used)');
    const ledger = new SqliteLedger(join(fx.home, 'bot-bottle.db'));
    try {
      expect(await ledger.actions({ identity: rec.identity })).toEqual([
        expect.objectContaining({
          action: 'cutoff',
          scope: `launch:${rec.identity}`,
          used: 19,
          limit: 10,
        }),
      ]);
    } finally {
      await ledger.close();
    }
    await expectNoHostPaths('remote-budget', ['agent', 'egress']);
    expect(remoteLeftovers('remote-budget')).toBe('');
    await runBin(fx, ['rm', rec.identity]);
  });

  it('an approved egress-block reaches the sidecars on the remote engine and takes effect live', async () => {
    if (remote === undefined) throw new Error('no remote engine');
    const port = upstream().port;
    const fx = repo({
      repo: {
        'probe.cjs': `
const net = require('node:net'), tls = require('node:tls');
const host = '${DOCS}';
const s = net.connect(3128, 'egress', () => s.write('CONNECT ' + host + ':443 HTTP/1.1\\r\\nHost: ' + host + ':443\\r\\n\\r\\n'));
s.once('data', (d) => {
  const status = String(d).split(' ')[1];
  if (status !== '200') { console.log('STATUS ' + status + ' refused'); process.exit(0); }
  const t = tls.connect({ socket: s, servername: host }, () => t.write('GET /hello HTTP/1.1\\r\\nHost: ' + host + '\\r\\nConnection: close\\r\\n\\r\\n'));
  let got = ''; t.on('data', (c) => (got += c));
  t.on('end', () => console.log('STATUS ' + got.split(' ')[1] + ' ' + (got.split('\\r\\n\\r\\n')[1] || '').trim()));
});`,
        '.bot-bottle/bottles/sup.md': md(
          `extends: fake\negress:\n  hosts:\n    ${DOCS}: ${remote.upstreamAddress}:${port}`,
        ),
        '.bot-bottle/agents/sup.md': md('provider: claude\nbottle: sup', 'You are terse.\n'),
      },
    });
    const proposal = `TOOL mcp__supervise__egress-block ${JSON.stringify({
      proposed_file: `allow:\n  - api.anthropic.com\n  - api.openai.com\n  - ${DOCS}\n`,
      justification: 'read the docs',
    })}`;
    const run = runBin(fx, [
      'start',
      'sup',
      '--headless',
      '--supervise',
      '--json',
      '--label',
      'remote-sup',
      '--prompt',
      ['RUN node probe.cjs', proposal, 'RUN node probe.cjs'].map((s) => `STEP: ${s}`).join('\n'),
    ]);
    const pending = await whileRunning(run, 'a proposal arrived', async () => {
      const q = await runBin(fx, ['supervise', '--json']);
      expect(q.code, q.stderr).toBe(0);
      return (JSON.parse(q.stdout) as { pending: { id: string; tool: string; diff: string }[] })
        .pending[0];
    });
    expect(pending.tool).toBe('egress-block');
    expect(pending.diff).toContain(`+  - ${DOCS}`);
    const a = await runBin(fx, ['supervise', 'answer', pending.id, 'approve', '--notes', 'fine']);
    expect(a.code, a.stderr).toBe(0);
    const r: BinRun = await run;
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as LaunchRec;
    expect(rec.output).toContain(`done: STATUS 200 hello from ${DOCS}`);
    await expectNoHostPaths('remote-sup', ['agent', 'egress', 'supervise']);
    expect(remoteLeftovers('remote-sup')).toBe('');
    await runBin(fx, ['rm', rec.identity]);
  });

  it('freeze saves the bottle as an image on the remote engine; resume brings back its files', async () => {
    const fx = repo();
    const started = runBin(fx, [
      'start',
      'claude',
      '--headless',
      '--label',
      'remote-freeze',
      '--prompt',
      'RUN: echo kept-before-freeze > kept.txt && echo HOLD-freeze',
    ]);
    await whileRunning(started, 'the agent ran its command', () =>
      upstream().requests.find(toolResult('HOLD-freeze')),
    );
    const frozen = await runBin(fx, ['freeze', 'remote-freeze', '--json']);
    expect(frozen.code, frozen.stderr).toBe(0);
    const { identity } = JSON.parse(frozen.stdout) as { identity: string };
    const first = await started;
    expect(first.stderr).toContain(`frozen as ${identity}`);
    expect(remoteLeftovers('remote-freeze')).toBe('');
    // The saved image lives where the bottle ran, not on this machine's engine.
    expect(remoteDocker(['images', '-q', `bot-bottle-saved:${identity}`])).not.toBe('');
    expect(dockerOut(['images', '-q', `bot-bottle-saved:${identity}`])).toBe('');
    const resumed = await runBin(fx, [
      'resume',
      identity,
      '--headless',
      '--prompt',
      'RUN: cat kept.txt',
      '--json',
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((JSON.parse(resumed.stdout) as LaunchRec).output).toContain('done: kept-before-freeze');
    await expectNoHostPaths('remote-freeze', ['agent', 'egress']);
    const rm = await runBin(fx, ['rm', identity]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(remoteDocker(['images', '-q', `bot-bottle-saved:${identity}`])).toBe('');
  });
});
