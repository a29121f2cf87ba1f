import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { auditEntrySchema, type AuditEntry } from '../../src/supervise/audit.js';
import {
  BIN,
  bottleRepo,
  leftovers,
  runBin,
  useFakeUpstream,
  type BinRun,
} from '../helpers/bottle-repo.js';
import { probeScript } from '../helpers/in-agent.js';
import { describeDocker, dockerOut } from '../helpers/docker.js';
import { md, type Fixture } from '../helpers/fixture.js';
import type { RecordedRequest } from '../fixtures/fake-llm.js';

/**
 * The supervise plane end to end: the real Claude Code CLI (and the Codex
 * CLI) in a bottle calls the supervise MCP tools (scripted by the fake
 * upstream) through the CLI's own MCP registration, the test answers
 * as the operator through `supervise answer`, and the agent's next step
 * shows whether the change is in force.
 */

const DOCS = 'docs.fake-llm.test';

const PROBE = probeScript(DOCS);

interface Pending {
  id: string;
  slug: string;
  tool: string;
  stale: boolean;
  diff: string;
  justification: string;
}

/** Every fixture made, removed (with its saved images) after the file's tests. */
const made: Fixture[] = [];

/** A repository whose agent `sup` (Claude Code) and `sup-codex` (Codex CLI) use bottle `sup`. */
function supRepo(port: number): Fixture {
  const fx = bottleRepo(port, {
    repo: {
      'probe.cjs': PROBE,
      '.bot-bottle/bottles/sup.md': md(
        `extends: fake\negress:\n  hosts:\n    ${DOCS}: host-gateway:${port}`,
      ),
      '.bot-bottle/agents/sup.md': md('provider: claude\nbottle: sup', 'You are terse.\n'),
      '.bot-bottle/agents/sup-codex.md': md('provider: codex\nbottle: sup\nmodel: gpt-fake'),
    },
  });
  made.push(fx);
  return fx;
}

function start(fx: Fixture, label: string, steps: string[], agent = 'sup'): Promise<BinRun> {
  return runBin(fx, [
    'start',
    agent,
    '--headless',
    '--supervise',
    '--json',
    '--label',
    label,
    '--prompt',
    steps.map((s) => `STEP: ${s}`).join('\n'),
  ]);
}

/** The first proposal in the queue; fails at once if the run ends without one. */
async function pending(fx: Fixture, run?: Promise<BinRun>, timeoutMs = 240_000): Promise<Pending> {
  const until = Date.now() + timeoutMs;
  let ended: BinRun | undefined;
  void run?.then((r) => (ended = r));
  for (;;) {
    const r = await runBin(fx, ['supervise', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = (JSON.parse(r.stdout) as { pending: Pending[] }).pending[0];
    if (p !== undefined) return p;
    if (ended !== undefined) {
      throw new Error(`the agent ended without a proposal:\n${ended.stdout}\n${ended.stderr}`);
    }
    if (Date.now() > until) throw new Error('no proposal arrived');
    await new Promise((res) => setTimeout(res, 1000));
  }
}

function audit(fx: Fixture, slug: string): AuditEntry[] {
  return readFileSync(join(fx.home, 'audit', `${slug}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => auditEntrySchema.parse(JSON.parse(l)));
}

const egressProposal = (justification: string): string =>
  `TOOL mcp__supervise__egress-block ${JSON.stringify({
    proposed_file: `allow:\n  - api.anthropic.com\n  - api.openai.com\n  - ${DOCS}\n`,
    justification,
  })}`;

const egressId = (slug: string): string =>
  dockerOut(['ps', '-q', '--no-trunc', '--filter', `name=^bot-bottle-${slug}-egress$`]).trim();

/** The operator approves `id`; it applies live: the egress proxy is not restarted. */
async function approveLive(fx: Fixture, slug: string, id: string): Promise<void> {
  const proxyBefore = egressId(slug);
  const a = await runBin(fx, [
    'supervise',
    'answer',
    id,
    'approve',
    '--notes',
    'fine for this task',
  ]);
  expect(a.code, a.stderr).toBe(0);
  expect(a.stdout).toContain('approved');
  expect(egressId(slug)).toBe(proxyBefore);
}

describeDocker('supervise plane with Claude Code (e2e)', () => {
  afterAll(() => {
    for (const fx of made.splice(0)) fx.cleanup();
  });
  const fake = useFakeUpstream();

  it('an approved egress-block takes effect live: the next request to the host passes, the proxy is not restarted, the audit log holds the diff', async () => {
    const fx = supRepo(fake().port);
    const run = start(fx, 'sup-approve', [
      'RUN node probe.cjs',
      egressProposal('read the docs'),
      'RUN node probe.cjs',
    ]);
    const p = await pending(fx);
    expect(p.tool).toBe('egress-block');
    expect(p.slug).toBe('sup-approve');
    expect(p.stale).toBe(false);
    expect(p.justification).toBe('read the docs');
    expect(p.diff).toContain(`+  - ${DOCS}`);
    await approveLive(fx, 'sup-approve', p.id);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as { output: string; outcome: string };
    expect(rec.outcome).toBe('ended');
    // The first probe was refused by the proxy; the one after the approval reached the host.
    expect(rec.output).toContain(`done: STATUS 200 hello from ${DOCS}`);
    expect(
      fake().requests.filter((q) => q.path === '/hello' && q.headers.host === DOCS),
    ).toHaveLength(1);
    const toolResult = JSON.stringify(fake().requests.map((q) => q.body));
    expect(toolResult).toContain('approved');
    expect(toolResult).toContain('fine for this task');
    const [entry] = audit(fx, 'sup-approve');
    expect(entry).toMatchObject({
      action: 'approved',
      component: 'egress',
      proposalId: p.id,
      notes: 'fine for this task',
      applied: 'run',
      stale: false,
    });
    expect(entry?.diff).toContain(`+  - ${DOCS}`);
    expect(leftovers('sup-approve')).toBe('');
  });

  it('a rejected egress-block changes nothing: the request is still refused and the notes reach the agent', async () => {
    const fx = supRepo(fake().port);
    const before = fake().requests.filter((q) => q.path === '/hello').length;
    const run = start(fx, 'sup-reject', [
      'RUN echo start',
      egressProposal('want docs'),
      'RUN node probe.cjs',
    ]);
    const p = await pending(fx);
    const a = await runBin(fx, [
      'supervise',
      'answer',
      p.id,
      'reject',
      '--notes',
      'use the internal mirror',
    ]);
    expect(a.code, a.stderr).toBe(0);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as { output: string };
    expect(rec.output).toContain('done: STATUS 403 refused');
    expect(fake().requests.filter((q) => q.path === '/hello')).toHaveLength(before);
    const bodies = JSON.stringify(fake().requests.map((q) => q.body));
    expect(bodies).toContain('rejected');
    expect(bodies).toContain('use the internal mirror');
    expect(audit(fx, 'sup-reject')).toMatchObject([
      { action: 'rejected', applied: 'none', notes: 'use the internal mirror' },
    ]);
  });

  it('an approved capability-block with rebuild now ends with the tool in the resumed bottle and the workspace intact', async () => {
    const fx = supRepo(fake().port);
    const cap = `TOOL mcp__supervise__capability-block ${JSON.stringify({
      proposed_file:
        "RUN printf '#!/bin/sh\\necho newtool-ok\\n' > /usr/local/bin/newtool && chmod 755 /usr/local/bin/newtool",
      justification: 'needs newtool',
    })}`;
    const run = start(fx, 'sup-cap', [
      'RUN echo kept > note.txt',
      cap,
      'RUN newtool && cat note.txt',
    ]);
    const p = await pending(fx);
    expect(p.tool).toBe('capability-block');
    expect(p.diff).toContain('+RUN printf');
    // The notes hold the fake's HOLD marker: the agent waits quietly while it is rebuilt.
    const a = await runBin(fx, [
      'supervise',
      'answer',
      p.id,
      'approve',
      '--rebuild',
      'now',
      '--notes',
      'HOLD for the rebuild',
    ]);
    expect(a.code, a.stderr).toBe(0);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('rebuilding');
    const rec = JSON.parse(r.stdout) as {
      output: string;
      outcome: string;
      branch: string;
      identity: string;
    };
    expect(rec.outcome).toBe('ended');
    // After the rebuild the same session ran the new tool and read the file written before it.
    expect(rec.output).toContain('done: newtool-ok');
    const last = JSON.stringify(fake().requests.at(-1)?.body);
    expect(last).toContain('kept');
    expect(
      dockerOut([
        'run',
        '--rm',
        '--entrypoint',
        'newtool',
        `bot-bottle-saved:${rec.identity}`,
      ]).trim(),
    ).toBe('newtool-ok');
    expect(audit(fx, 'sup-cap')).toMatchObject([
      { action: 'approved', component: 'capability', applied: 'rebuild-now' },
    ]);
  });

  it('the supervise TUI, driven in a real terminal (tmux), approves one proposal and rejects the next', async () => {
    const fx = supRepo(fake().port);
    const second = `TOOL mcp__supervise__egress-block ${JSON.stringify({
      proposed_file: 'allow:\n  - api.anthropic.com\n  - evil.example.com\n',
      justification: 'second ask',
    })}`;
    const run = start(fx, 'sup-tui', [
      'RUN echo start',
      egressProposal('first ask'),
      second,
      'RUN node probe.cjs',
    ]);
    await pending(fx);
    // The TUI runs in tmux with the fixture's environment only, as an operator's terminal
    // would: not the test runner's (with CI set, ink would print only its final frame).
    const script = `${fx.home}/supervise.sh`;
    writeFileSync(
      script,
      `${Object.entries(fx.env)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `export ${k}='${String(v).replace(/'/g, "'\\''")}'`)
        .join('\n')}\ncd '${fx.repo}'\nexec '${process.execPath}' '${BIN}' supervise\n`,
    );
    const session = `bbtui${process.pid}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
    tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '160',
      '-y',
      '50',
      'env',
      '-i',
      'TERM=xterm-256color',
      'sh',
      script,
    );
    const screen = (): string => tmux('capture-pane', '-p', '-t', session);
    const waitFor = async (text: string): Promise<string> => {
      const until = Date.now() + 120_000;
      for (;;) {
        const s = screen();
        if (s.includes(text)) return s;
        if (Date.now() > until)
          throw new Error(`the TUI never showed ${JSON.stringify(text)}:\n${s}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    };
    try {
      const first = await waitFor('why: first ask');
      expect(first).toContain('1 pending');
      expect(first).toContain(`+  - ${DOCS}`);
      tmux('send-keys', '-t', session, 'a');
      await waitFor("approve: also save to the bottle's file?");
      tmux('send-keys', '-t', session, 'n');
      await waitFor('approve: notes for the agent');
      tmux('send-keys', '-t', session, '-l', 'ok by me');
      tmux('send-keys', '-t', session, 'Enter');
      const next = await waitFor('why: second ask');
      expect(next).toContain('approved sup-tui egress (run)');
      expect(next).toContain('+  - evil.example.com');
      tmux('send-keys', '-t', session, 'r');
      await waitFor('reject: notes for the agent');
      tmux('send-keys', '-t', session, '-l', 'not that host');
      tmux('send-keys', '-t', session, 'Enter');
      await waitFor('rejected sup-tui egress (none)');
      tmux('send-keys', '-t', session, 'q');
    } finally {
      execFileSync('tmux', ['kill-session', '-t', session], { stdio: 'ignore' });
    }
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    // The approval is in force, the rejection changed nothing.
    expect((JSON.parse(r.stdout) as { output: string }).output).toContain('done: STATUS 200');
    expect(audit(fx, 'sup-tui')).toMatchObject([
      { action: 'approved', notes: 'ok by me', applied: 'run' },
      { action: 'rejected', notes: 'not that host', applied: 'none' },
    ]);
  });
});

/** The input items of a Responses call the fake received (HTTP body or WebSocket `response.create`). */
function responsesInput(q: RecordedRequest): Record<string, unknown>[] {
  const b = q.body as { input?: unknown } | null;
  if (!q.path.startsWith('/v1/responses') || !Array.isArray(b?.input)) return [];
  return b.input as Record<string, unknown>[];
}

describeDocker('supervise plane with the Codex CLI (e2e)', () => {
  afterAll(() => {
    for (const fx of made.splice(0)) fx.cleanup();
  });
  const fake = useFakeUpstream();

  it('codex calls egress-block through its MCP registration; the approval is live, the tool result and the next request show it', async () => {
    const fx = supRepo(fake().port);
    const before = fake().requests.length;
    const run = start(
      fx,
      'sup-codex',
      ['RUN node probe.cjs', egressProposal('read the docs'), 'RUN node probe.cjs'],
      'sup-codex',
    );
    const p = await pending(fx, run);
    expect(p).toMatchObject({
      tool: 'egress-block',
      slug: 'sup-codex',
      stale: false,
      justification: 'read the docs',
    });
    expect(p.diff).toContain(`+  - ${DOCS}`);
    await approveLive(fx, 'sup-codex', p.id);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as { output: string; outcome: string; identity: string };
    expect(rec.outcome).toBe('ended');
    // The probe after the approval reached the host through the proxy.
    expect(rec.output).toContain(`done: STATUS 200 hello from ${DOCS}`);
    expect(
      fake()
        .requests.slice(before)
        .filter((q) => q.path === '/hello' && q.headers.host === DOCS),
    ).toHaveLength(1);
    const seen = fake().requests.slice(before);
    // Codex listed the registered server's tools to the model, under its own naming.
    const offered = seen
      .flatMap((q) => (q.body as { tools?: Record<string, unknown>[] } | null)?.tools ?? [])
      .find((t) => t.type === 'namespace' && t.name === 'mcp__supervise') as
      { tools: { name: string }[] } | undefined;
    expect(offered?.tools.map((t) => t.name)).toContain('egress_block');
    // The model's call of that tool (the fake's answer) and the MCP server's answer Codex sent back.
    const asked = seen
      .flatMap((q) => (q.output ?? []) as Record<string, unknown>[])
      .find((i) => i.type === 'function_call' && i.name === 'egress_block');
    expect(asked).toMatchObject({ namespace: 'mcp__supervise' });
    const result = seen
      .flatMap(responsesInput)
      .find((i) => i.type === 'function_call_output' && i.call_id === asked?.call_id);
    const resultText = String(result?.output);
    expect(resultText).toContain('"status":"approved"');
    expect(resultText).toContain('fine for this task');
    // Before the approval the proxy refused the host; after it, the same probe got through.
    const outputs = seen
      .flatMap(responsesInput)
      .filter((i) => i.type === 'function_call_output')
      .map((i) => String(i.output));
    expect(outputs).toHaveLength(3);
    expect(outputs[0]).toContain('STATUS 403 refused');
    expect(outputs[2]).toContain(`STATUS 200 hello from ${DOCS}`);
    const [entry] = audit(fx, 'sup-codex');
    expect(entry).toMatchObject({
      action: 'approved',
      component: 'egress',
      proposalId: p.id,
      notes: 'fine for this task',
      applied: 'run',
      stale: false,
    });
    expect(entry?.diff).toContain(`+  - ${DOCS}`);
    expect(leftovers('sup-codex')).toBe('');
    expect((await runBin(fx, ['rm', rec.identity])).code).toBe(0);
  });
});
