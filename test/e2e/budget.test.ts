import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import type { EnforcementAction } from '../../src/ledger/types.js';
import {
  bottleRepo,
  leftovers,
  runBin,
  useFakeUpstream,
  type BinRun,
} from '../helpers/bottle-repo.js';
import { describeDocker } from '../helpers/docker.js';
import { md } from '../helpers/fixture.js';
import type { Fixture } from '../helpers/fixture.js';
import { inAgentAsync, viaProxyScript } from '../helpers/in-agent.js';

/** Every call the fake answers reports 12 input and 7 output tokens. */
const PER_CALL = 19;

interface LaunchRec {
  outcome: string;
  slug: string;
  identity: string;
  output: string;
  resumeCommand: string | null;
}

async function actionsOf(fx: Fixture, identity: string): Promise<EnforcementAction[]> {
  const l = new SqliteLedger(join(fx.home, 'bot-bottle.db'));
  try {
    return await l.actions({ identity });
  } finally {
    await l.close();
  }
}

interface UsageJson {
  launches: {
    identity: string;
    events: number;
    inputTokens: number;
    outputTokens: number;
    running: boolean;
    state: string;
    cutOff: boolean;
  }[];
  providers: Record<string, { events: number; tokens: number }>;
}

async function usageOf(fx: Fixture): Promise<UsageJson> {
  const r = await runBin(fx, ['usage', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as UsageJson;
}

/** A repository whose agent `name` uses a bottle with cutoff policy `policy` over the fake. */
function policyRepo(port: number, name: string, policy: string): Fixture {
  return bottleRepo(port, {
    repo: {
      [`.bot-bottle/bottles/${name}.md`]: md(`extends: fake\ncutoff: ${policy}`),
      [`.bot-bottle/agents/${name}.md`]: md(
        `provider: claude\nbottle: ${name}`,
        'You are terse.\n',
      ),
    },
  });
}

/**
 * Output caps off: the call that crosses finishes whole, so a 10-token budget
 * admits one call and the policies act on the crossing. (With caps on, the
 * default, such a budget refuses the first call: see the capping tests below.)
 */
function capsOff(fx: Fixture, extra = ''): void {
  writeFileSync(join(fx.home, 'settings.yml'), `budget:\n  cap: false\n${extra}`);
}

/** A headless run whose first call (19 tokens) uses up a 10-token launch budget. */
function overBudget(fx: Fixture, agent: string, label: string): Promise<BinRun> {
  capsOff(fx);
  return runBin(fx, [
    'start',
    agent,
    '--headless',
    '--prompt',
    'RUN: echo hi',
    '--label',
    label,
    '--budget',
    '10',
    '--json',
  ]);
}

/**
 * Budgets with the real Claude Code CLI in real bottles. The prompt
 * `RUN: echo hi` makes the fake answer with a tool call, so the agent makes
 * a second call after the first one's usage crossed a 10-token budget.
 */
describeDocker('budgets, cutoff policies and the ledger', () => {
  const upstream = useFakeUpstream();
  const metered = (from: number): number =>
    upstream()
      .requests.slice(from)
      .filter((q) => q.method === 'POST' && q.path.split('?')[0] === '/v1/messages').length;

  it('cutoff: the call after the crossing is refused in the API shape; the ledger and the audit row say so', async () => {
    const fx = bottleRepo(upstream().port);
    const before = upstream().requests.length;
    try {
      const r = await overBudget(fx, 'claude', 'budget-cut');
      const rec = JSON.parse(r.stdout) as LaunchRec;
      // Claude Code shows the refusal as an API error and stops (no retries: x-should-retry).
      expect(rec.output).toContain('429');
      expect(rec.output).toContain('launch budget (--budget) of 10 tokens is used up (19 used)');
      expect(rec.outcome).toBe('ended');
      expect(metered(before)).toBe(1);
      const usage = await usageOf(fx);
      expect(usage.launches.find((l) => l.identity === rec.identity)).toMatchObject({
        events: 1,
        inputTokens: 12,
        outputTokens: 7,
      });
      expect(await actionsOf(fx, rec.identity)).toEqual([
        expect.objectContaining({
          action: 'cutoff',
          scope: `launch:${rec.identity}`,
          used: PER_CALL,
          limit: 10,
        }),
      ]);
      const log = await runBin(fx, ['egress', 'log', rec.identity, '--json']);
      expect(log.stdout).toContain('"rule":"budget-exhausted"');
    } finally {
      fx.cleanup();
    }
  });

  it('freeze: the bottle is saved and removed when its budget is used up, and resumes with a new budget', async () => {
    const fx = policyRepo(upstream().port, 'frugal', 'freeze');
    try {
      const r = await overBudget(fx, 'frugal', 'budget-freeze');
      expect(r.code, r.stderr).toBe(0);
      const rec = JSON.parse(r.stdout) as LaunchRec;
      expect(rec.outcome).toBe('frozen');
      expect(rec.resumeCommand).toBe(`bot-bottle resume ${rec.identity}`);
      expect(leftovers(rec.slug)).toBe('');
      expect(await actionsOf(fx, rec.identity)).toEqual([
        expect.objectContaining({ action: 'freeze', used: PER_CALL, limit: 10 }),
      ]);
      const ps = await runBin(fx, ['ps', '--all', '--json']);
      expect(ps.stdout).toContain('"state": "frozen"');
      const resumed = await runBin(fx, [
        'resume',
        rec.identity,
        '--headless',
        '--prompt',
        'say hi',
        '--budget',
        '1m',
        '--json',
      ]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const again = JSON.parse(resumed.stdout) as LaunchRec;
      expect(again.outcome).toBe('ended');
      expect(again.output).toContain('hello from the fake upstream');
      expect((await runBin(fx, ['rm', rec.identity])).code).toBe(0);
    } finally {
      fx.cleanup();
    }
  });

  it('kill: the bottle is removed and nothing is kept', async () => {
    const fx = policyRepo(upstream().port, 'strict', 'kill');
    try {
      const r = await overBudget(fx, 'strict', 'budget-kill');
      const rec = JSON.parse(r.stdout) as LaunchRec;
      expect(rec.outcome).toBe('removed');
      expect(rec.resumeCommand).toBeNull();
      expect(leftovers(rec.slug)).toBe('');
      expect(await actionsOf(fx, rec.identity)).toEqual([
        expect.objectContaining({ action: 'kill', used: PER_CALL, limit: 10 }),
      ]);
      const ps = await runBin(fx, ['ps', '--all', '--json']);
      expect(ps.stdout).not.toContain(rec.identity);
    } finally {
      fx.cleanup();
    }
  });

  it('a global budget shared by two running bottles cuts both', async () => {
    const fx = bottleRepo(upstream().port);
    capsOff(fx, '  claude: 10\n');
    const before = upstream().requests.length;
    try {
      const runs = await Promise.all(
        ['shared-a', 'shared-b'].map((label) =>
          runBin(fx, [
            'start',
            'claude',
            '--headless',
            '--prompt',
            'RUN: echo hi',
            '--label',
            label,
            '--json',
          ]),
        ),
      );
      const recs = runs.map((r) => JSON.parse(r.stdout) as LaunchRec);
      for (const [i, rec] of recs.entries()) {
        // On failure, say why the launch ended (an error record has no output).
        expect(rec.output, `${runs[i]?.stdout ?? ''}\n${runs[i]?.stderr ?? ''}`).toContain(
          'global claude budget (per day) of 10 tokens is used up',
        );
        expect(await actionsOf(fx, rec.identity)).toEqual([
          expect.objectContaining({ action: 'cutoff', scope: 'global:claude', limit: 10 }),
        ]);
      }
      // Admission is serialised through the ledger: one call got through, for both bottles.
      const calls = metered(before);
      expect(calls).toBe(1);
      const usage = await usageOf(fx);
      expect(usage.providers.claude).toMatchObject({ events: calls, tokens: calls * PER_CALL });
    } finally {
      fx.cleanup();
    }
  });

  it('fails closed when the controller is gone: metered calls are refused, others pass', async () => {
    const fx = bottleRepo(upstream().port);
    const before = upstream().requests.length;
    let pid = 0;
    try {
      const run = runBin(
        fx,
        ['start', 'claude', '--headless', '--prompt', 'HOLD', '--label', 'orphan'],
        {
          onSpawn: (p) => (pid = p),
        },
      );
      await upstream().waitFor(
        (q) => upstream().requests.indexOf(q) >= before && q.path.startsWith('/v1/messages'),
        180_000,
      );
      const call = (path: string): Promise<string> =>
        inAgentAsync('orphan', [
          'node',
          '-e',
          viaProxyScript(
            'api.anthropic.com',
            `'POST ${path} HTTP/1.1\\r\\nHost: api.anthropic.com\\r\\nContent-Type: application/json\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\n{}'`,
          ),
        ]);
      // While the controller runs, a metered call goes through.
      expect(await call('/v1/messages')).toMatch(/^HTTP\/1\.1 200/);
      // From a second terminal: usage of the running bottle, an operator cutoff and its lift.
      const running = (await usageOf(fx)).launches.find((l) => l.identity.startsWith('orphan-'));
      expect(running).toMatchObject({ running: true, state: 'running', events: 1 });
      const cut = await runBin(fx, ['cutoff', 'orphan']);
      expect(cut.stdout).toContain('cut off the metered API calls of orphan');
      const refusedByOperator = await call('/v1/messages');
      expect(refusedByOperator).toMatch(/^HTTP\/1\.1 429/);
      expect(refusedByOperator).toContain('an operator cut off metered API calls');
      expect(
        (await usageOf(fx)).launches.find((l) => l.identity.startsWith('orphan-')),
      ).toMatchObject({
        cutOff: true,
      });
      expect((await runBin(fx, ['cutoff', 'orphan', '--lift'])).code).toBe(0);
      expect(await call('/v1/messages')).toMatch(/^HTTP\/1\.1 200/);
      process.kill(pid, 'SIGKILL');
      await run;
      await new Promise((r) => setTimeout(r, 1000));
      const refused = await call('/v1/messages');
      expect(refused).toMatch(/^HTTP\/1\.1 503/);
      expect(refused).toContain('"type":"api_error"');
      expect(refused).toContain("the bottle's controller");
      expect(metered(before)).toBe(3);
      // Not metered, so not the controller's business: count_tokens still reaches the API.
      expect(await call('/v1/messages/count_tokens')).not.toMatch(/^HTTP\/1\.1 503/);
      expect(upstream().requests.some((q) => q.path.startsWith('/v1/messages/count_tokens'))).toBe(
        true,
      );
      expect(metered(before)).toBe(3);
      const ps = await runBin(fx, ['ps', '--json']);
      expect(ps.stdout).toContain('"state": "orphaned"');
    } finally {
      await runBin(fx, ['prune']);
      fx.cleanup();
    }
  });
});

/**
 * The same cutoff over Codex's default transport: the Responses API on a
 * WebSocket (`supports_websockets = true` in the bottle's codex config, as
 * in every codex bottle). The refusal is an `error` event on the socket,
 * and the real CLI must show its text, not a vendor message of its own.
 */
describeDocker('budgets with the real Codex CLI over its WebSocket', () => {
  const upstream = useFakeUpstream();

  it('a response.create past the budget is refused on the socket; codex shows the budget message and stops', async () => {
    const fx = bottleRepo(upstream().port);
    const before = upstream().requests.length;
    try {
      const r = await overBudget(fx, 'codex', 'budget-codex-ws');
      const rec = JSON.parse(r.stdout) as LaunchRec & { exitCode: number };
      // Codex reports the failed turn as an error and exits non-zero.
      expect(rec.outcome).toBe('ended');
      expect(rec.exitCode).not.toBe(0);
      const shown = r.stderr.split('\n').filter((l) => l.startsWith('ERROR:'));
      expect(shown.length, r.stderr).toBeGreaterThan(0);
      for (const l of shown) {
        expect(l).toContain('bot-bottle: the launch budget (--budget) of 10 tokens is used up');
      }
      expect(rec.output).not.toContain('done:');
      // Every call went over the WebSocket; the fake answered only those admitted.
      const seen = upstream().requests.slice(before);
      const creates = seen.filter(
        (q) => (q.body as { type?: string } | null)?.type === 'response.create',
      );
      expect(creates.length).toBeGreaterThan(0);
      expect(seen.filter((q) => q.transport === 'http')).toEqual([]);
      const log = await runBin(fx, ['egress', 'log', rec.identity, '--json']);
      const refused = log.stdout.split('\n').filter((l) => l.includes('"rule":"budget-exhausted"'));
      expect(refused).toHaveLength(1);
      expect(refused[0]).toContain('"kind":"websocket"');
      // The ledger holds exactly the calls the fake answered, and the cutoff.
      const usage = await usageOf(fx);
      expect(usage.launches.find((l) => l.identity === rec.identity)).toMatchObject({
        events: creates.length,
        inputTokens: 12 * creates.length,
        outputTokens: 7 * creates.length,
      });
      expect(await actionsOf(fx, rec.identity)).toEqual([
        expect.objectContaining({
          action: 'cutoff',
          scope: `launch:${rec.identity}`,
          limit: 10,
        }),
      ]);
      expect(leftovers(rec.slug)).toBe('');
      expect((await runBin(fx, ['rm', rec.identity])).code).toBe(0);
    } finally {
      fx.cleanup();
    }
  });
});

/**
 * Output caps with the real Claude Code CLI. The fake counts each request's
 * input (o200k tokens of what it carries, independent of the proxy's
 * estimator), writes 20,000 tokens of output per answer unless the
 * request's max_tokens stops it sooner, and scripts a tool call per turn,
 * so the agent keeps calling. Uncapped, the call that crosses a budget
 * would finish whole (Claude Code asks for 32,000 tokens or more).
 */
describeDocker('budgets with output caps and the real Claude Code CLI', () => {
  const upstream = useFakeUpstream({ usage: 'counted', output: 20_000 });
  const BUDGET = 100_000;

  it('a launch driven past its budget ends at or under it, its last calls asked for less output', async () => {
    const fx = bottleRepo(upstream().port);
    const before = upstream().requests.length;
    const steps = Array.from({ length: 12 }, (_, i) => `STEP: RUN pwd # ${i}`).join('\n');
    try {
      const r = await runBin(fx, [
        'start',
        'claude',
        '--headless',
        '--prompt',
        `Work through these.\n${steps}`,
        '--label',
        'capped',
        '--budget',
        String(BUDGET),
        '--json',
      ]);
      const rec = JSON.parse(r.stdout) as LaunchRec;
      const trace = upstream()
        .requests.slice(before)
        .map(
          (q) =>
            `${q.path} cap=${String(q.cap)} ${JSON.stringify(q.usage)} ${JSON.stringify(q.body).slice(0, 400)}`,
        )
        .join('\n');
      expect(rec.output, `${r.stderr}\n${trace}`).toContain(
        `launch budget (--budget) of ${BUDGET} tokens has`,
      );
      const usage = await usageOf(fx);
      const mine = usage.launches.find((l) => l.identity === rec.identity);
      const used = (mine?.inputTokens ?? 0) + (mine?.outputTokens ?? 0);
      // The estimator errs high (docs/budgets.md): the budget is never overshot.
      expect(used).toBeLessThanOrEqual(BUDGET);
      expect(used).toBeGreaterThan(BUDGET / 2);
      const seen = upstream()
        .requests.slice(before)
        .filter((q) => q.method === 'POST' && q.path.split('?')[0] === '/v1/messages');
      // What the ledger says admission granted is what the upstream saw, and it was lowered.
      const rows = sqliteRows(join(fx.home, 'bot-bottle.db'), rec.identity);
      const lowered = rows.filter((x) => x.capRequested !== null && x.capGranted < x.capRequested);
      expect(lowered.length, JSON.stringify(rows)).toBeGreaterThan(0);
      const caps = seen.map((q) => q.cap);
      for (const x of lowered) expect(caps).toContain(x.capGranted);
      // The answer that met its lowered cap stopped there.
      const cut = seen.find((q) => q.cap === lowered[0]?.capGranted);
      expect(cut?.usage?.output_tokens).toBeLessThanOrEqual(lowered[0]?.capGranted ?? 0);
      const log = await runBin(fx, ['egress', 'log', rec.identity]);
      expect(log.stdout).toMatch(/cap max_tokens \d+ -> \d+/);
      expect(await actionsOf(fx, rec.identity)).toEqual([
        expect.objectContaining({ action: 'cutoff', limit: BUDGET }),
      ]);
    } finally {
      fx.cleanup();
    }
  });
});

function sqliteRows(
  db: string,
  identity: string,
): { capRequested: number | null; capGranted: number; inputEstimate: number }[] {
  const raw = new Database(db, { readonly: true });
  try {
    return (
      raw
        .prepare(
          'SELECT cap_requested, cap_granted, input_estimate FROM usage_events WHERE identity = ? AND cap_granted IS NOT NULL ORDER BY id',
        )
        .all(identity) as {
        cap_requested: number | null;
        cap_granted: number;
        input_estimate: number;
      }[]
    ).map((x) => ({
      capRequested: x.cap_requested,
      capGranted: x.cap_granted,
      inputEstimate: x.input_estimate,
    }));
  } finally {
    raw.close();
  }
}
