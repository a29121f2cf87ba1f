import { expect, it } from 'vitest';
import { REAL_KEYS } from '../helpers/bottle-repo.js';
import {
  describePodman,
  gitAsUser,
  podmanBottleRepo,
  podmanLeftovers,
  podmanOut,
  runAsUser,
  usePodmanFakeUpstream,
} from '../helpers/podman.js';

/**
 * The podman backend, rootless: the CLI runs as an unprivileged user with
 * --backend podman, Claude Code answers from the fake upstream through the
 * egress sidecar, commits, and the commit comes home as a branch.
 */
describePodman('rootless podman: a headless agent run', () => {
  const upstream = usePodmanFakeUpstream();

  it("answers through the egress proxy and the agent's commit arrives as branch bot-bottle/<slug>", async () => {
    const fx = podmanBottleRepo(upstream().port);
    const before = upstream().requests.length;
    try {
      const head = gitAsUser(fx.repo, 'rev-parse', 'HEAD');
      const r = await runAsUser(fx, [
        'start',
        'claude',
        '--backend',
        'podman',
        '--headless',
        '--label',
        'pod-commit',
        '--prompt',
        'RUN: test ! -e secret.log && echo hi > hello.txt && git add hello.txt && git commit -q -m "add hello" && echo WORKED',
        '--json',
      ]);
      expect(r.stderr).toContain('ended (agent exit 0)');
      expect(r.code, r.stderr).toBe(0);
      const record = JSON.parse(r.stdout) as {
        branch: string;
        commits: number;
        output: string;
        identity: string;
        slug: string;
        savedImage: string;
      };
      expect(record.output).toContain('done: WORKED');
      expect(record.branch).toBe('bot-bottle/pod-commit');
      expect(record.commits).toBe(1);
      expect(gitAsUser(fx.repo, 'show', 'bot-bottle/pod-commit:hello.txt')).toBe('hi');
      expect(gitAsUser(fx.repo, 'log', '--format=%s', '-1', 'bot-bottle/pod-commit')).toBe(
        'add hello',
      );
      // The user's checkout is untouched.
      expect(gitAsUser(fx.repo, 'rev-parse', 'HEAD')).toBe(head);
      // Every call the fake answered came through the proxy, with the real key it injected.
      const seen = upstream()
        .requests.slice(before)
        .filter((q) => q.path.startsWith('/v1/messages'));
      expect(seen.length).toBeGreaterThan(1);
      for (const q of seen) expect(q.headers['x-api-key']).toBe(REAL_KEYS.anthropic);
      // Nothing of the bottle is left in podman but its saved image.
      expect(podmanLeftovers(record.slug)).toBe('');
      expect(podmanOut(['image', 'exists', record.savedImage])).toBe('');
      // The egress log outlives the bottle.
      const log = await runAsUser(fx, ['egress', 'log', record.identity, '--json']);
      expect(log.code, log.stderr).toBe(0);
      expect(log.stdout).toContain('"host":"api.anthropic.com"');
      expect((await runAsUser(fx, ['rm', record.identity])).code).toBe(0);
      expect(() => podmanOut(['image', 'exists', record.savedImage])).toThrow();
    } finally {
      fx.cleanup();
    }
  });

  it('runs the supervise sidecar the agent reaches by name, and doctor checks podman', async () => {
    const fx = podmanBottleRepo(upstream().port);
    try {
      const doctor = await runAsUser(fx, ['doctor', '--backend', 'podman', '--json']);
      const checks = (
        JSON.parse(doctor.stdout) as { checks: { id: string; status: string; summary: string }[] }
      ).checks;
      expect(checks.find((c) => c.id === 'podman-engine')).toMatchObject({ status: 'ok' });
      expect(checks.find((c) => c.id === 'podman-engine')?.summary).toMatch(/^rootless/);
      expect(checks).toContainEqual(expect.objectContaining({ id: 'base-image', status: 'ok' }));
      const r = await runAsUser(fx, [
        'start',
        'claude',
        '--backend',
        'podman',
        '--headless',
        '--supervise',
        '--label',
        'pod-sup',
        '--prompt',
        "RUN: node -e \"require('net').connect(9100, 'supervise', () => { console.log('REACHED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(1); })\"",
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('starting the supervise server');
      const record = JSON.parse(r.stdout) as { output: string; identity: string; slug: string };
      expect(record.output).toContain('done: REACHED');
      expect(podmanLeftovers(record.slug)).toBe('');
      expect((await runAsUser(fx, ['rm', record.identity])).code).toBe(0);
    } finally {
      fx.cleanup();
    }
  });
});
