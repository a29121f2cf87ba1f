import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { auditEntrySchema } from '../../src/supervise/audit.js';
import {
  BIN,
  bottleRepo,
  leftovers,
  runBin,
  useFakeUpstream,
  type BinRun,
} from '../helpers/bottle-repo.js';
import { probeScript } from '../helpers/in-agent.js';
import { describeDocker } from '../helpers/docker.js';
import { md, type Fixture } from '../helpers/fixture.js';

/**
 * `bot-bottle dashboard` in a real terminal (tmux) while a real Claude Code
 * bottle runs against the fake upstream: its usage grows on screen, the
 * secret its LLM request carried shows as a redaction, the request its
 * proxy refused shows as a refusal, and the egress-block proposals it makes
 * through the supervise MCP tool are answered from the dashboard with keys:
 * the first approved, the second modified in $EDITOR; the agent's tool
 * results say so and its next request to the host passes.
 */

const DOCS = 'docs.fake-llm.test';
const SLUG = 'dash-e2e';
const MIRROR = 'mirror.fake-llm.test';

const PROBE = probeScript(DOCS);

const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const awsKey = (): string =>
  `AKIA${Array.from({ length: 16 }, () => UPPER_DIGITS[randomInt(UPPER_DIGITS.length)]).join('')}`;

/** The dashboard in a detached tmux session with only the fixture's environment, as a user's terminal. */
function openDashboard(
  fx: Fixture,
  env: NodeJS.ProcessEnv,
): {
  screen: () => string;
  keys: (...k: string[]) => void;
  type: (text: string) => void;
  /** Whether the dashboard has exited (its tmux session is gone). */
  exited: () => boolean;
  close: () => void;
} {
  const script = join(fx.home, 'dashboard.sh');
  writeFileSync(
    script,
    `${Object.entries({ ...fx.env, ...env })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `export ${k}='${String(v).replace(/'/g, "'\\''")}'`)
      .join('\n')}\ncd '${fx.repo}'\nexec '${process.execPath}' '${BIN}' dashboard\n`,
  );
  const session = `bbdash${process.pid}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
  // Not the test runner's environment: with CI set, ink would print only its final frame.
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '160',
    '-y',
    '60',
    'env',
    '-i',
    'TERM=xterm-256color',
    'sh',
    script,
  );
  return {
    screen: () => tmux('capture-pane', '-p', '-t', session),
    keys: (...k) => void tmux('send-keys', '-t', session, ...k),
    type: (text) => void tmux('send-keys', '-t', session, '-l', text),
    exited: () => {
      try {
        execFileSync('tmux', ['has-session', '-t', session], { stdio: 'ignore' });
        return false;
      } catch {
        return true;
      }
    },
    close: () => {
      try {
        execFileSync('tmux', ['kill-session', '-t', session], { stdio: 'ignore' });
      } catch {
        // After q the dashboard has exited, and its session with it.
      }
    },
  };
}

/** The newest frame on the screen: the view is drawn again below an answer's report. */
const lastFrame = (screen: string): string =>
  screen.slice(Math.max(0, screen.lastIndexOf('bot-bottle dashboard ·')));

/** The bottle's own tokens in the newest frame (`57 own`), with its row line; undefined before it shows. */
function ownTokens(screen: string): { tokens: number; line: string } | undefined {
  const line = lastFrame(screen)
    .split('\n')
    .find((l) => l.includes(SLUG) && l.includes(' own'));
  const m = line === undefined ? null : /(\d+) own/.exec(line);
  return m === null || line === undefined ? undefined : { tokens: Number(m[1]), line };
}

describeDocker('the dashboard, the one operator view (e2e, tmux)', () => {
  const fake = useFakeUpstream();
  const made: Fixture[] = [];
  afterAll(() => {
    for (const fx of made.splice(0)) fx.cleanup();
  });

  it('shows usage growing, a redaction and a refusal; approves one proposal and modifies the next with keys, both in force', async () => {
    const aws = awsKey();
    const fx = bottleRepo(fake().port, {
      repo: {
        'probe.cjs': PROBE,
        'config/test.env': `AWS_ACCESS_KEY_ID=${aws}\n`,
        '.bot-bottle/bottles/dash.md': md(
          `extends: fake\negress:\n  hosts:\n    ${DOCS}: host-gateway:${fake().port}`,
        ),
        '.bot-bottle/agents/dash.md': md('provider: claude\nbottle: dash', 'You are terse.\n'),
      },
    });
    made.push(fx);
    // Output caps off: the fake's 19-token calls stay within a 5,000-token budget, whatever
    // Claude Code's estimated input (with caps on it alone would not fit).
    writeFileSync(join(fx.home, 'settings.yml'), 'budget:\n  cap: false\n');
    const proposal = `TOOL mcp__supervise__egress-block ${JSON.stringify({
      proposed_file: `allow:\n  - api.anthropic.com\n  - api.openai.com\n  - ${DOCS}\n`,
      justification: 'read the docs',
    })}`;
    const second = `TOOL mcp__supervise__egress-block ${JSON.stringify({
      proposed_file: `allow:\n  - api.anthropic.com\n  - api.openai.com\n  - ${DOCS}\n  - evil.example.com\n`,
      justification: 'one more host',
    })}`;
    const steps = [
      'RUN cat config/test.env',
      'RUN node probe.cjs',
      proposal,
      second,
      'RUN node probe.cjs',
    ];
    // The operator's editor for modify: it allows the mirror instead of the host asked for.
    const editor = join(fx.home, 'edit.sh');
    writeFileSync(
      editor,
      `#!/bin/sh\nprintf 'allow:\\n  - api.anthropic.com\\n  - api.openai.com\\n  - ${DOCS}\\n  - ${MIRROR}\\n' > "$1"\n`,
      { mode: 0o755 },
    );
    const before = fake().requests.length;
    let ended: BinRun | undefined;
    let pid: number | undefined;
    const run = runBin(
      fx,
      [
        'start',
        'dash',
        '--headless',
        '--supervise',
        '--json',
        '--label',
        SLUG,
        '--budget',
        '5000',
        '--prompt',
        steps.map((s) => `STEP: ${s}`).join('\n'),
      ],
      { onSpawn: (p) => (pid = p) },
    ).then((r) => (ended = r));
    const ui = openDashboard(fx, { EDITOR: editor });
    const waitFor = async (what: string, ok: (s: string) => boolean): Promise<string> => {
      const until = Date.now() + 240_000;
      for (;;) {
        const s = ui.screen();
        if (ok(s)) return s;
        if (ended !== undefined) {
          throw new Error(
            `the bottle ended before the dashboard showed ${what}:\n${s}\n${ended.stdout}\n${ended.stderr}`,
          );
        }
        if (Date.now() > until) throw new Error(`the dashboard never showed ${what}:\n${s}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    };
    const shows = (text: string) => (s: string) => s.includes(text);
    try {
      // The proposal waits for the operator: the agent is blocked, its usage is still.
      const asking = await waitFor('the pending proposal', shows('why: read the docs'));
      expect(asking).toMatch(/\? egress-block \d\d:\d\d:\d\d read the docs/);
      expect(asking).toContain(`+  - ${DOCS}`);
      const first = ownTokens(asking);
      expect(first?.tokens).toBeGreaterThan(0);
      expect(first?.line).toMatch(/running +█*░+ \d+\/5000 +\d+ own +\d+\/min/);
      // The probe before the approval was refused by the proxy; the secret was redacted.
      const seen = await waitFor(
        'the refusal and the redaction',
        (s) => s.includes('egress refused') && /redacted \d+: aws-access-key-id \d+/.test(s),
      );
      expect(seen).toMatch(
        new RegExp(
          `egress refused \\d+, latest \\d\\d:\\d\\d:\\d\\d ${DOCS.replace(/\./g, '\\.')} 403`,
        ),
      );

      ui.keys('a');
      await waitFor('the scope question', shows("approve: also save to the bottle's file?"));
      ui.keys('n');
      await waitFor('the notes question', shows('approve: notes for the agent'));
      ui.type('ok from the dashboard');
      ui.keys('Enter');
      const approved = await waitFor('the outcome', shows(`approved ${SLUG} egress (run)`));
      // The answer was applied with the view closed (as supervise does): its report, then the view again.
      expect(approved).toContain('told the agent: ok from the dashboard');

      // The next proposal: a second capture while it still runs counts the calls made since.
      const later = await waitFor('the next proposal', (s) =>
        lastFrame(s).includes('why: one more host'),
      );
      const grown = ownTokens(later);
      expect(grown?.tokens).toBeGreaterThan(first?.tokens ?? 0);
      expect(grown?.line).toMatch(/running +█*░+ \d+\/5000/);

      // Modify: the same questions, then $EDITOR on the proposed file; the edit is applied.
      ui.keys('m');
      await waitFor('the scope question', (s) =>
        lastFrame(s).includes("modify: also save to the bottle's file?"),
      );
      ui.keys('n');
      await waitFor('the notes question', (s) => lastFrame(s).includes('modify: notes'));
      ui.type('use the mirror');
      ui.keys('Enter');
      await waitFor('the outcome', shows(`modified ${SLUG} egress (run)`));
      ui.keys('q');
      const quitBy = Date.now() + 10_000;
      while (!ui.exited() && Date.now() < quitBy) await new Promise((r) => setTimeout(r, 200));
      expect(ui.exited(), 'q quits the dashboard').toBe(true);
    } catch (e) {
      // A failed check leaves no bottle behind: the CLI tears it down on SIGTERM.
      if (ended === undefined && pid !== undefined) process.kill(pid, 'SIGTERM');
      await run;
      throw e;
    } finally {
      ui.close();
    }

    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as { output: string; outcome: string; identity: string };
    expect(rec.outcome).toBe('ended');
    // The request after the approval reached the host through the proxy.
    expect(rec.output).toContain(`done: STATUS 200 hello from ${DOCS}`);
    const mine = fake().requests.slice(before);
    expect(mine.filter((q) => q.path === '/hello' && q.headers.host === DOCS)).toHaveLength(1);
    const sent = JSON.stringify(mine.map((q) => q.body));
    expect(sent).not.toContain(aws);
    expect(sent).toContain('approved');
    expect(sent).toContain('ok from the dashboard');
    const audit = readFileSync(join(fx.home, 'audit', `${SLUG}.jsonl`), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => auditEntrySchema.parse(JSON.parse(l)));
    expect(audit).toMatchObject([
      { action: 'approved', component: 'egress', notes: 'ok from the dashboard', applied: 'run' },
      { action: 'modified', component: 'egress', notes: 'use the mirror', applied: 'run' },
    ]);
    expect(audit[1]?.diff).toContain(`+  - ${MIRROR}`);
    expect(audit[1]?.diff).not.toContain('evil.example.com');
    expect(sent).toContain('modified');
    expect(sent).toContain('use the mirror');

    // The ended launch stays in the one view, from the ledger and its archived log.
    const snap = await runBin(fx, ['dashboard', '--json']);
    expect(snap.code, snap.stderr).toBe(0);
    const bottle = (
      JSON.parse(snap.stdout) as {
        bottles: {
          identity: string;
          running: boolean;
          tokens: number;
          refusals: { egress: { count: number } | null };
          redactions: { byKind: Record<string, number> };
          pending: unknown[];
        }[];
      }
    ).bottles.find((b) => b.identity === rec.identity);
    expect(bottle).toMatchObject({
      running: false,
      pending: [],
    });
    expect(bottle?.refusals.egress?.count).toBeGreaterThanOrEqual(1);
    expect(bottle?.redactions.byKind['aws-access-key-id']).toBeGreaterThanOrEqual(1);
    expect(bottle?.tokens).toBeGreaterThan(0);
    expect(leftovers(SLUG)).toBe('');
    expect((await runBin(fx, ['rm', rec.identity])).code).toBe(0);
  });

  it('--json: a launch its budget cut off shows the budget refusal from the ledger and the refused call from its log', async () => {
    const fx = bottleRepo(fake().port);
    made.push(fx);
    // Output caps off: the first call crosses the 10-token budget and the next is refused.
    writeFileSync(join(fx.home, 'settings.yml'), 'budget:\n  cap: false\n');
    const r = await runBin(fx, [
      'start',
      'claude',
      '--headless',
      '--prompt',
      'RUN: echo hi',
      '--label',
      'dash-budget',
      '--budget',
      '10',
      '--json',
    ]);
    const rec = JSON.parse(r.stdout) as { identity: string; outcome: string };
    expect(rec.outcome, r.stderr).toBe('ended');
    const snap = await runBin(fx, ['dashboard', '--json', '--since', '1h']);
    expect(snap.code, snap.stderr).toBe(0);
    const bottle = (
      JSON.parse(snap.stdout) as {
        bottles: {
          identity: string;
          state: string;
          refusals: {
            egress: { count: number; latest: { status: number; host: string } | null } | null;
            budget: {
              count: number;
              latest: { action: string; scope: string; limit: number } | null;
            };
          };
        }[];
      }
    ).bottles.find((b) => b.identity === rec.identity);
    expect(bottle?.state).toBe('ended');
    expect(bottle?.refusals.budget).toMatchObject({
      count: 1,
      latest: { action: 'cutoff', scope: `launch:${rec.identity}`, limit: 10 },
    });
    // The call after the crossing was refused by the proxy in the API's shape.
    expect(bottle?.refusals.egress?.count).toBeGreaterThanOrEqual(1);
    expect(bottle?.refusals.egress?.latest).toMatchObject({
      host: 'api.anthropic.com',
      status: 429,
    });
    expect((await runBin(fx, ['rm', rec.identity])).code).toBe(0);
  });
});
