import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { RecordedRequest } from '../fixtures/fake-llm.js';
import { bottleRepo, leftovers, runBin, useFakeUpstream } from '../helpers/bottle-repo.js';
import { describeDocker, dockerOut } from '../helpers/docker.js';
import { md } from '../helpers/fixture.js';

/**
 * Claude Code runs a command the fake upstream asks for (a real tool call),
 * so these tests make the agent act: commit, leave files, wait.
 */
describeDocker('work comes home; freeze and resume; teardown on Ctrl-C and failure', () => {
  const upstream = useFakeUpstream();

  const git = (cwd: string, ...args: string[]): string =>
    execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
  const toolResult = (needle: string) => (r: RecordedRequest) =>
    JSON.stringify(r.body).includes('tool_result') && JSON.stringify(r.body).includes(needle);

  it("the agent's commit and its uncommitted file arrive as branch bot-bottle/<slug>", async () => {
    const fx = bottleRepo(upstream().port);
    try {
      const before = git(fx.repo, 'rev-parse', 'HEAD');
      const r = await runBin(fx, [
        'start',
        'claude',
        '--headless',
        '--label',
        'Commit Test',
        '--prompt',
        'RUN: test ! -e secret.log && echo hi > hello.txt && git add hello.txt && git commit -q -m "add hello" && echo loose > loose.txt && echo WORKED',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const record = JSON.parse(r.stdout) as {
        branch: string;
        commits: number;
        output: string;
        identity: string;
      };
      expect(record.output).toContain('done: WORKED');
      expect(record.branch).toBe('bot-bottle/commit-test');
      expect(record.commits).toBe(2);
      expect(r.stderr).toContain('uncommitted changes included as a final commit');
      expect(git(fx.repo, 'show', 'bot-bottle/commit-test:hello.txt')).toBe('hi');
      expect(git(fx.repo, 'show', 'bot-bottle/commit-test:loose.txt')).toBe('loose');
      expect(git(fx.repo, 'log', '--format=%s', 'bot-bottle/commit-test~1', '-1')).toBe(
        'add hello',
      );
      // The user's checkout is untouched.
      expect(git(fx.repo, 'rev-parse', 'HEAD')).toBe(before);
      expect(git(fx.repo, 'branch', '--show-current')).toBe('main');
      expect(existsSync(join(fx.repo, 'hello.txt'))).toBe(false);
      expect(git(fx.repo, 'status', '--porcelain')).toBe('');
      expect((await runBin(fx, ['rm', record.identity])).code).toBe(0);
    } finally {
      fx.cleanup();
    }
  });

  it('freeze then resume keeps a file written before the freeze', async () => {
    const fx = bottleRepo(upstream().port);
    try {
      const started = runBin(fx, [
        'start',
        'claude',
        '--headless',
        '--label',
        'freezer',
        '--prompt',
        'RUN: echo kept-before-freeze > kept.txt && echo HOLD-freeze',
      ]);
      await upstream().waitFor(toolResult('HOLD-freeze'));
      const ps = await runBin(fx, ['ps', '--json']);
      const rows = JSON.parse(ps.stdout) as { slug: string; state: string; agent: string }[];
      expect(rows).toContainEqual(
        expect.objectContaining({ slug: 'freezer', state: 'running', agent: 'claude' }),
      );
      const logs = await runBin(fx, ['logs', 'freezer']);
      expect(logs.stdout).toMatch(
        /ALLOWED +https +POST api\.anthropic\.com:443\/v1\/messages\?beta= 200 \[allow api\.anthropic\.com\]/,
      );

      const frozen = await runBin(fx, ['freeze', 'freezer', '--json']);
      expect(frozen.code, frozen.stderr).toBe(0);
      const { identity } = JSON.parse(frozen.stdout) as { identity: string };
      const first = await started;
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toContain(`frozen as ${identity}`);
      expect(leftovers('freezer')).toBe('');

      const all = await runBin(fx, ['ps', '--all', '--json']);
      expect(JSON.parse(all.stdout)).toMatchObject({
        saved: [expect.objectContaining({ identity, state: 'frozen' })],
      });

      const resumed = await runBin(fx, [
        'resume',
        identity,
        '--headless',
        '--prompt',
        'RUN: cat kept.txt',
        '--json',
      ]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const record = JSON.parse(resumed.stdout) as { output: string; identity: string };
      expect(record.output).toContain('done: kept-before-freeze');
      expect(record.identity).toBe(identity);

      const rm = await runBin(fx, ['rm', identity]);
      expect(rm.code, rm.stderr).toBe(0);
      expect(dockerOut(['images', '-q', `bot-bottle-saved:${identity}`])).toBe('');
    } finally {
      fx.cleanup();
    }
  });

  it('Ctrl-C during a run tears the bottle down and exits 130', async () => {
    const fx = bottleRepo(upstream().port);
    try {
      let pid = 0;
      const started = runBin(
        fx,
        [
          'start',
          'claude',
          '--headless',
          '--label',
          'interrupted',
          '--prompt',
          'RUN: echo HOLD-interrupt',
        ],
        {
          onSpawn: (p) => {
            pid = p;
          },
        },
      );
      await upstream().waitFor(toolResult('HOLD-interrupt'));
      expect(leftovers('interrupted')).not.toBe('');
      process.kill(pid, 'SIGINT');
      const r = await started;
      expect(r.code).toBe(130);
      expect(r.stderr).toContain('interrupted by SIGINT');
      expect(leftovers('interrupted')).toBe('');
      const all = await runBin(fx, ['ps', '--all', '--json']);
      expect(JSON.parse(all.stdout)).toMatchObject({ saved: [] });
    } finally {
      fx.cleanup();
    }
  });

  it('stop ends the agent; the controller still brings the work home and saves the bottle', async () => {
    const fx = bottleRepo(upstream().port);
    try {
      const started = runBin(fx, [
        'start',
        'claude',
        '--headless',
        '--label',
        'stopper',
        '--json',
        '--prompt',
        'RUN: echo made-before-stop > stop.txt && echo HOLD-stop',
      ]);
      await upstream().waitFor(toolResult('HOLD-stop'));
      const stop = await runBin(fx, ['stop', 'stopper']);
      expect(stop.code, stop.stderr).toBe(0);
      expect(stop.stdout).toContain('stopped stopper');
      const r = await started;
      const record = JSON.parse(r.stdout) as { outcome: string; branch: string; identity: string };
      expect(record.outcome).toBe('ended');
      expect(record.branch).toBe('bot-bottle/stopper');
      expect(git(fx.repo, 'show', 'bot-bottle/stopper:stop.txt')).toBe('made-before-stop');
      expect(leftovers('stopper')).toBe('');
      await runBin(fx, ['rm', record.identity]);
    } finally {
      fx.cleanup();
    }
  });

  it('prune removes the bottle of a controller that died (SIGKILL)', async () => {
    const fx = bottleRepo(upstream().port);
    try {
      let pid = 0;
      const started = runBin(
        fx,
        ['start', 'claude', '--headless', '--label', 'crashed', '--prompt', 'RUN: echo HOLD-crash'],
        {
          onSpawn: (p) => {
            pid = p;
          },
        },
      );
      await upstream().waitFor(toolResult('HOLD-crash'));
      process.kill(pid, 'SIGKILL');
      await started;
      expect(leftovers('crashed')).not.toBe('');
      const ps = await runBin(fx, ['ps', '--json']);
      expect(JSON.parse(ps.stdout)).toContainEqual(
        expect.objectContaining({ slug: 'crashed', state: 'orphaned' }),
      );
      const prune = await runBin(fx, ['prune']);
      expect(prune.code, prune.stderr).toBe(0);
      expect(prune.stdout).toContain('removed leftover bottle crashed');
      expect(leftovers('crashed')).toBe('');
      const all = await runBin(fx, ['ps', '--all', '--json']);
      expect(JSON.parse(all.stdout)).toMatchObject({ saved: [] });
    } finally {
      fx.cleanup();
    }
  });

  it('a launch that fails halfway (unreadable ssh key) leaves nothing behind', async () => {
    const fx = bottleRepo(upstream().port, {
      repo: {
        '.bot-bottle/bottles/ssh.md': md(`
ssh:
  - Host: git.example.com
    IdentityFile: /nonexistent/id_ed25519
`),
      },
    });
    try {
      const r = await runBin(fx, [
        'start',
        'claude',
        '--headless',
        '--bottle',
        'fake',
        '--bottle',
        'ssh',
        '--label',
        'halfway',
        '--prompt',
        'say hi',
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('cannot read /nonexistent/id_ed25519');
      expect(r.stderr).toContain('starting the agent container');
      expect(leftovers('halfway')).toBe('');
    } finally {
      fx.cleanup();
    }
  });
});
