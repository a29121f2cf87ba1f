import { expect, it } from 'vitest';
import { bottleRepo, runBin, usageLaunch, useFakeUpstream } from '../helpers/bottle-repo.js';
import { describeDocker } from '../helpers/docker.js';

/**
 * The real Claude Code CLI (which offers `gzip, deflate, br, zstd`) against
 * an upstream that answers zstd whenever it is offered, as CDNs do. The
 * proxy offers only what its meter decodes, so the answers come compressed
 * in br, the agent reads them, and the ledger holds every call exactly.
 */
describeDocker('metering against an upstream that prefers zstd', () => {
  const upstream = useFakeUpstream({ prefer: ['zstd', 'br', 'gzip'] });

  it('Claude Code gets its answers and the ledger counts every call exactly, none unmetered', async () => {
    const fx = bottleRepo(upstream().port);
    const before = upstream().requests.length;
    const served = { ...upstream().served };
    try {
      // A tool call, then the answer to its result: at least two metered calls.
      const r = await runBin(fx, [
        'start',
        'claude',
        '--headless',
        '--prompt',
        'RUN: echo compressed-upstream-ok',
        '--label',
        'e2e-zstd',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const rec = JSON.parse(r.stdout) as { output: string; identity: string };
      expect(rec.output).toContain('done: compressed-upstream-ok');

      const metered = upstream()
        .requests.slice(before)
        .filter((q) => q.method === 'POST' && q.path.split('?')[0] === '/v1/messages');
      expect(metered.length).toBeGreaterThanOrEqual(2);
      for (const q of metered) {
        // Never offered zstd, so the upstream compressed in something the meter reads.
        expect(String(q.headers['accept-encoding'])).not.toMatch(/zstd/i);
        expect(q.encoding).toBe('br');
      }
      const calls = upstream().served.calls - served.calls;
      expect(calls).toBe(metered.length);

      const row = await usageLaunch(fx, { identity: rec.identity });
      expect(row).toMatchObject({
        events: calls,
        unmeteredEvents: 0,
        inputTokens: upstream().served.inputTokens - served.inputTokens,
        outputTokens: upstream().served.outputTokens - served.outputTokens,
      });
      const text = await runBin(fx, ['usage']);
      expect(text.stdout).not.toContain('unmetered');

      const log = await runBin(fx, ['egress', 'log', rec.identity, '--json']);
      expect(log.code, log.stderr).toBe(0);
      expect(log.stdout).not.toContain('"unmetered":true');
      const usageLines = log.stdout.split('\n').filter((l) => l.includes('"kind":"usage"'));
      expect(usageLines).toHaveLength(calls);
      expect((await runBin(fx, ['rm', rec.identity])).code).toBe(0);
    } finally {
      fx.cleanup();
    }
  });
});

/**
 * A misbehaving upstream that answers zstd even though the proxy did not
 * offer it: Claude Code (which can decode zstd) still gets its answers, and
 * every call is charged its estimate, flagged unmetered, never free.
 */
describeDocker('metering against an upstream that sends zstd unasked', () => {
  const upstream = useFakeUpstream({ force: 'zstd' });

  it('charges every call its estimate and flags it unmetered in usage and the egress log', async () => {
    const fx = bottleRepo(upstream().port);
    const before = upstream().requests.length;
    try {
      const r = await runBin(fx, [
        'start',
        'claude',
        '--headless',
        '--prompt',
        'RUN: echo unasked-zstd-ok',
        '--label',
        'e2e-zstd-forced',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const rec = JSON.parse(r.stdout) as { output: string; identity: string };
      expect(rec.output).toContain('done: unasked-zstd-ok');
      const metered = upstream()
        .requests.slice(before)
        .filter((q) => q.method === 'POST' && q.path.split('?')[0] === '/v1/messages');
      expect(metered.length).toBeGreaterThanOrEqual(2);
      for (const q of metered) expect(q.encoding).toBe('zstd');
      // The estimate admission reserved: the request's size / 4.
      const estimates = metered.reduce(
        (sum, q) => sum + Math.ceil(Number(q.headers['content-length']) / 4),
        0,
      );
      const row = await usageLaunch(fx, { identity: rec.identity });
      expect(row).toMatchObject({
        events: metered.length,
        unmeteredEvents: metered.length,
        inputTokens: estimates,
        outputTokens: 0,
      });
      const text = await runBin(fx, ['usage']);
      expect(text.stdout).toContain(`${metered.length} (${metered.length} unmetered!)`);
      const log = await runBin(fx, ['egress', 'log', rec.identity, '--json']);
      expect(log.stdout.split('\n').filter((l) => l.includes('"unmetered":true'))).toHaveLength(
        // The request's audit line and its usage line.
        2 * metered.length,
      );
      expect((await runBin(fx, ['rm', rec.identity])).code).toBe(0);
    } finally {
      fx.cleanup();
    }
  });
});
