import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { bottleRepo, leftovers, runBin, useFakeUpstream } from '../helpers/bottle-repo.js';
import { describeDocker } from '../helpers/docker.js';
import { md } from '../helpers/fixture.js';

/**
 * A repository someone else wrote, cloned with git, whose bottle runs a
 * host command (`cmd:`). Launched for real: the real Claude Code CLI in a
 * real bottle, against the fake upstream. Until the user trusts the
 * layer the command does not run; after `bot-bottle trust` it does; after
 * a merged change to the layer (what an agent's branch can carry) it does
 * not again.
 */
describeDocker('a cloned repository acts on the host only once trusted', () => {
  const upstream = useFakeUpstream();

  it('start --headless exits 2 naming bot-bottle trust and runs nothing; after trust it launches and the command ran', async () => {
    const origin = bottleRepo(upstream().port, { trusted: false });
    const marker = join(origin.root, 'cmd-ran');
    const later = join(origin.root, 'agent-branch-cmd-ran');
    const clone = join(origin.root, 'clone');
    const git = (cwd: string, ...args: string[]): void => {
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
        cwd,
        stdio: 'ignore',
      });
    };
    try {
      // The upstream author adds a bottle whose environment comes from a host command.
      writeFileSync(
        join(origin.repo, '.bot-bottle/bottles/tool.md'),
        md(`extends: fake\nenv:\n  FROM_HOST: 'cmd:touch ${marker}'`),
      );
      writeFileSync(
        join(origin.repo, '.bot-bottle/agents/tool.md'),
        md('provider: claude\nbottle: tool', 'You are terse.\n'),
      );
      git(origin.repo, 'add', '-A');
      git(origin.repo, 'commit', '-q', '-m', 'add the tool bottle');
      execFileSync('git', ['clone', '-q', origin.repo, clone], { stdio: 'ignore' });
      const start = (label: string) =>
        runBin(
          origin,
          ['start', 'tool', '--headless', '--prompt', 'say hi', '--label', label, '--json'],
          { cwd: clone },
        );

      const refused = await start('e2e-trust-refused');
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toContain('bot-bottle trust');
      expect(refused.stderr).toContain(`env FROM_HOST (bottle tool): runs \`touch ${marker}\``);
      expect(JSON.parse(refused.stdout)).toMatchObject({ outcome: 'error', error: 'TrustError' });
      expect(existsSync(marker)).toBe(false);
      expect(leftovers('e2e-trust-refused')).toBe('');

      const trusted = await runBin(origin, ['trust'], { cwd: clone });
      expect(trusted.code, trusted.stderr).toBe(0);
      expect(trusted.stdout).toContain(`runs \`touch ${marker}\``);

      const launched = await start('e2e-trust-ok');
      expect(launched.stderr).toContain('ended (agent exit 0)');
      expect(launched.code).toBe(0);
      const record = JSON.parse(launched.stdout) as {
        output: string;
        identity: string;
        slug: string;
      };
      expect(record.output).toContain('hello from the fake upstream');
      expect(existsSync(marker)).toBe(true);
      expect(leftovers(record.slug)).toBe('');
      expect((await runBin(origin, ['rm', record.identity], { cwd: clone })).code).toBe(0);

      // A branch (an agent's work comes home as one) changes the layer; the user merges it.
      git(clone, 'checkout', '-q', '-b', 'bot-bottle/e2e-trust-ok');
      const file = join(clone, '.bot-bottle/bottles/tool.md');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(
          'FROM_HOST:',
          `MORE: 'cmd:touch ${later}'\n  FROM_HOST:`,
        ),
      );
      git(clone, 'commit', '-q', '-am', 'tidy the bottle');
      git(clone, 'checkout', '-q', 'main');
      git(clone, 'merge', '-q', '--ff-only', 'bot-bottle/e2e-trust-ok');
      const again = await start('e2e-trust-again');
      expect(again.code, again.stderr).toBe(2);
      expect(again.stderr).toContain('changed since it was trusted');
      expect(again.stderr).toContain('bot-bottle trust');
      expect(existsSync(later)).toBe(false);
    } finally {
      origin.cleanup();
    }
  });
});
