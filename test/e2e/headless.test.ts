import { expect, it } from 'vitest';
import {
  bottleRepo,
  leftovers,
  REAL_KEYS,
  runBin,
  usageLaunch,
  useFakeUpstream,
} from '../helpers/bottle-repo.js';
import { describeDocker } from '../helpers/docker.js';
import { watchBottleMounts } from '../helpers/mount-watch.js';

/**
 * The real agent CLIs from npm, in real bottles, answering a headless
 * prompt with text only the project's fake upstream knows. The agent sits
 * on an --internal network, so every request the fake records came through
 * the egress sidecar.
 */
/** A prompt each CLI's parser would take for its own options if it were not ended before it. */
const FLAG_LIKE_PROMPT = '--help me, -p x: say hi';

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
      // No bottle channel may need a host path shared into a container.
      const mounts = watchBottleMounts({ slugs: [`e2e-${agent}`] });
      try {
        const r = await runBin(fx, [
          'start',
          agent,
          '--headless',
          '--prompt',
          FLAG_LIKE_PROMPT,
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
          redactions: Record<string, number>;
        };
        expect(record.output).toContain('hello from the fake upstream');
        // A CLI's own traffic (system prompt, tools, metadata identifiers) is not secret-looking.
        expect(record.redactions).toEqual({});
        expect(record.runtime).toBe(runtime ?? 'runc');
        const seen = upstream()
          .requests.slice(before)
          .filter((q) => q.path.startsWith(path));
        expect(seen.length).toBeGreaterThan(0);
        // The prompt reached the model as text, not as the CLI's own flags.
        expect(seen.some((q) => JSON.stringify(q.body).includes(FLAG_LIKE_PROMPT))).toBe(true);
        if (agent === 'codex') expect(seen.some((q) => q.transport === 'websocket')).toBe(true);
        // The proxy put the real credential on every request; the agent only had a placeholder.
        for (const q of seen) {
          if (agent === 'codex') expect(q.headers.authorization).toBe(`Bearer ${REAL_KEYS.openai}`);
          else expect(q.headers['x-api-key']).toBe(REAL_KEYS.anthropic);
        }
        expect(leftovers(record.slug)).toBe('');
        await mounts.stop();
        expect(mounts.binds()).toEqual([]);
        expect(mounts.seen()).toEqual([
          `bot-bottle-e2e-${agent}`,
          `bot-bottle-e2e-${agent}-egress`,
        ]);
        // The audit log outlives the bottle.
        const archived = await runBin(fx, ['egress', 'log', record.identity, '--json']);
        expect(archived.code, archived.stderr).toBe(0);
        expect(archived.stdout).toContain(
          `"host":"${agent === 'codex' ? 'api.openai.com' : 'api.anthropic.com'}"`,
        );
        expect(archived.stdout).toContain('"verdict":"allowed"');
        // Every LLM call the fake answered was metered with the usage it reported (12 in, 7 out).
        const usage = archived.stdout
          .split('\n')
          .filter((l) => l.includes('"kind":"usage"'))
          .map(
            (l) =>
              JSON.parse(l) as { inputTokens: number; outputTokens: number; estimated: boolean },
          );
        const calls = seen.filter((q) =>
          q.transport === 'http'
            ? q.method === 'POST'
            : (q.body as { type?: string } | null)?.type === 'response.create',
        ).length;
        expect(usage.length).toBe(calls);
        for (const u of usage)
          expect(u).toMatchObject({ inputTokens: 12, outputTokens: 7, estimated: false });
        // The controller wrote the same calls to the ledger.
        const row = await usageLaunch(fx, { identity: record.identity });
        expect(row).toMatchObject({
          events: calls,
          inputTokens: 12 * calls,
          outputTokens: 7 * calls,
        });
        expect((await runBin(fx, ['rm', record.identity])).code).toBe(0);
      } finally {
        await mounts.stop();
        fx.cleanup();
      }
    },
  );
});

describeDocker('codex over SSE when the API refuses WebSocket', () => {
  const upstream = useFakeUpstream({ websockets: false });

  it('falls back to the streamed HTTP Responses API through the intercepting proxy', async () => {
    const fx = bottleRepo(upstream().port);
    try {
      const r = await runBin(fx, [
        'start',
        'codex',
        '--headless',
        '--prompt',
        'say hi',
        '--label',
        'e2e-codex-sse',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { output: string }).output).toContain(
        'hello from the fake upstream',
      );
      const sse = upstream().requests.filter(
        (q) => q.transport === 'http' && q.path.startsWith('/v1/responses'),
      );
      expect(sse.length).toBeGreaterThan(0);
      for (const q of sse) expect(q.headers.authorization).toBe(`Bearer ${REAL_KEYS.openai}`);
      // It asked for a WebSocket first; the proxy relayed the refusal unchanged.
      expect(upstream().requests.some((q) => q.transport === 'websocket')).toBe(true);
    } finally {
      fx.cleanup();
    }
  });
});
