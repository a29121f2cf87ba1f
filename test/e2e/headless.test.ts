import { expect, it } from 'vitest';
import { bottleRepo, leftovers, runBin, useFakeUpstream } from '../helpers/bottle-repo.js';
import { describeDocker } from '../helpers/docker.js';

/**
 * The real agent CLIs from npm, in real bottles, answering a headless
 * prompt with text only the project's fake upstream knows. The agent sits
 * on an --internal network, so every request the fake records came through
 * the egress sidecar.
 */
describeDocker('start --headless with the real CLIs against the fake upstream', () => {
  const upstream = useFakeUpstream();

  it.each([
    { agent: 'claude', path: '/v1/messages', runtime: undefined },
    { agent: 'codex', path: '/v1/responses', runtime: undefined },
    { agent: 'pi', path: '/v1/messages', runtime: 'runsc' },
  ])(
    '$agent answers with the upstream text (runtime $runtime)',
    async ({ agent, path, runtime }) => {
      const fx = bottleRepo(upstream().port, { runtime });
      const before = upstream().requests.length;
      try {
        const r = await runBin(fx, [
          'start',
          agent,
          '--headless',
          '--prompt',
          'say hi',
          '--label',
          `e2e-${agent}`,
          '--json',
        ]);
        expect(r.stderr).toContain('ended (agent exit 0)');
        expect(r.code).toBe(0);
        const record = JSON.parse(r.stdout) as {
          output: string;
          runtime: string;
          slug: string;
          identity: string;
        };
        expect(record.output).toContain('hello from the fake upstream');
        expect(record.runtime).toBe(runtime ?? 'runc');
        const seen = upstream().requests.slice(before);
        expect(seen.some((q) => q.path.startsWith(path))).toBe(true);
        expect(leftovers(record.slug)).toBe('');
        expect((await runBin(fx, ['rm', record.identity])).code).toBe(0);
      } finally {
        fx.cleanup();
      }
    },
  );
});
