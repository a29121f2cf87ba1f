import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { viewJson } from '../../src/cli/dashboard.js';
import { RefusalReader, summarizeRefusals } from '../../src/controller/egress-refusals.js';
import type { FleetView, LaunchRow } from '../../src/controller/fleet.js';
import {
  operatorView,
  type OperatorRow,
  type OperatorView,
} from '../../src/controller/operator-view.js';
import type { PendingItem } from '../../src/supervise/answer.js';
import { Dashboard } from '../../src/tui/dashboard.js';
import type { TuiDecision } from '../../src/tui/proposal-answer.js';
import { SuperviseQueue } from '../../src/tui/supervise.js';

const AT = '2026-11-21T10:00:00.000Z';

const launch = (slug: string, over: Partial<LaunchRow> = {}): LaunchRow => ({
  slug,
  identity: `${slug}-20261121-100000`,
  agent: 'claude',
  provider: 'claude',
  host: null,
  remote: false,
  state: 'running',
  running: true,
  startedAt: AT,
  last: AT,
  rate: 19,
  budget: { limit: 1000, used: 250, scope: 'global:claude', describe: '1k/day' },
  cutOff: false,
  lastAction: null,
  redactions: 0,
  redactionKinds: {},
  enforcements: 0,
  events: 2,
  unmeteredEvents: 0,
  inputTokens: 24,
  outputTokens: 14,
  cacheCreationTokens: 0,
  cacheReadTokens: 0,
  tokens: 38,
  ...over,
});

const item = (slug: string, id: string, over: Partial<PendingItem> = {}): PendingItem => ({
  proposal: {
    id,
    bottleSlug: slug,
    tool: 'egress-block',
    proposedFile: 'allow:\n  - api.anthropic.com\n  - docs.example.com\n',
    justification: `${id.slice(0, 4)} wants the docs`,
    arrivalTimestamp: '2026-11-21T10:00:05.000Z',
    currentFileHash: '0'.repeat(64),
  },
  slug,
  identity: `${slug}-20261121-100000`,
  component: 'egress',
  file: 'egress.yaml',
  current: 'allow:\n  - api.anthropic.com\n',
  proposedFull: 'allow:\n  - api.anthropic.com\n  - docs.example.com\n',
  diff: '--- egress.yaml\n+++ egress.yaml\n@@ -1,2 +1,3 @@\n allow:\n   - api.anthropic.com\n+  - docs.example.com',
  stale: false,
  ...over,
});

const ID1 = '11111111-1111-4111-8111-111111111111';
const ID2 = '22222222-2222-4222-8222-222222222222';
const ID3 = '33333333-3333-4333-8333-333333333333';

function rows(): OperatorRow[] {
  return [
    {
      ...launch('alpha', {
        redactions: 3,
        redactionKinds: { 'stripe-key': 2, 'aws-access-key-id': 1 },
        enforcements: 1,
        lastAction: {
          at: '2026-11-21T10:00:09.000Z',
          slug: 'alpha',
          identity: 'alpha-20261121-100000',
          action: 'cutoff',
          scope: 'launch:alpha-20261121-100000',
          used: 1200,
          limit: 1000,
          reason: 'used up',
        },
        budget: { limit: 1000, used: 1200, scope: 'launch:x', describe: '1k' },
        cutOff: true,
      }),
      egressRefusals: {
        count: 2,
        latest: {
          at: '2026-11-21T10:00:07.000Z',
          host: 'evil.example.com',
          port: 443,
          status: 403,
          reason: 'not in the allowlist',
        },
      },
      pending: [item('alpha', ID1), item('alpha', ID2, { stale: true })],
    },
    { ...launch('beta'), egressRefusals: { count: 0, latest: null }, pending: [] },
    {
      ...launch('gamma', { state: 'ended', running: false, budget: null, rate: 0 }),
      egressRefusals: null,
      pending: [],
    },
  ];
}

const view = (r: OperatorRow[] = rows()): OperatorView => ({
  at: AT,
  since: '2026-11-20T10:00:00.000Z',
  rows: r,
  providers: {},
  problems: [],
});

const tick = (ms = 60): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(ui: ReturnType<typeof render>, text: string): Promise<string> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const f = ui.lastFrame() ?? '';
    if (f.includes(text)) return f;
    if (Date.now() > deadline) throw new Error(`never showed ${JSON.stringify(text)}:\n${f}`);
    await tick(20);
  }
}

function dashboard(v: OperatorView = view()) {
  const decided: TuiDecision[] = [];
  const acted: string[] = [];
  const ui = render(
    createElement(Dashboard, {
      load: () => Promise.resolve(v),
      act: (a, r) => {
        acted.push(`${a} ${r.slug}`);
        return Promise.resolve(`did ${a}`);
      },
      decide: (d) => decided.push(d),
      intervalMs: 40,
    }),
  );
  return { ui, decided, acted };
}

describe('the dashboard as the one operator view', () => {
  it('shows each bottle with its bar, refusals, redactions and pending proposals', async () => {
    const { ui } = dashboard();
    const frame = await until(ui, 'alpha');
    expect(frame).toContain('2 running · 2 pending');
    const lines = frame.split('\n');
    const alpha = lines.find((l) => l.includes('alpha') && l.includes('own')) ?? '';
    expect(alpha).toContain(`${'█'.repeat(20)} 1200/1000`);
    expect(alpha).toContain('cut off');
    expect(alpha).toContain('38 own');
    expect(alpha).toContain('19/min');
    expect(frame).toContain(
      'egress refused 2, latest 10:00:07 evil.example.com 403: not in the allowlist',
    );
    expect(frame).toContain(
      'budget refused 1, latest 10:00:09 cutoff launch:alpha-20261121-100000 1200/1000',
    );
    expect(frame).toContain('redacted 3: aws-access-key-id 1, stripe-key 2');
    expect(frame).toMatch(/\? egress-block 10:00:05 1111 wants the docs/);
    expect(frame).toMatch(/\? egress-block 10:00:05 STALE 2222 wants the docs/);
    const beta = lines.find((l) => l.includes('beta')) ?? '';
    expect(beta).toContain(`${'█'.repeat(5)}${'░'.repeat(15)} 250/1000`);
    // An ended launch from the ledger: no bar, no rate.
    const gamma = lines.find((l) => l.includes('gamma')) ?? '';
    expect(gamma).toContain('ended');
    expect(gamma).not.toContain('/min');
    expect(gamma).not.toContain('█');
    // The bottle selected first shows the proposal a/m/r would answer: its oldest.
    expect(frame).toContain('alpha: egress-block egress.yaml');
    expect(frame).toContain('why: 1111 wants the docs');
    expect(frame).toContain('+  - docs.example.com');
    expect(frame).toContain('a approve · m modify ($EDITOR) · r reject');
    ui.unmount();
  });

  it('approves the selected proposal with the questions supervise asks, then hands it out', async () => {
    const { ui, decided } = dashboard();
    await until(ui, 'alpha');
    ui.stdin.write('a');
    await until(ui, "approve: also save to the bottle's file? (y/n; n: this bottle only)");
    ui.stdin.write('n');
    await until(ui, 'approve: notes for the agent (Enter for none):');
    ui.stdin.write('ok by me');
    await until(ui, 'ok by me');
    ui.stdin.write('\r');
    await tick();
    expect(decided).toHaveLength(1);
    expect(decided[0]?.decision).toBe('approve');
    expect(decided[0]?.item.proposal.id).toBe(ID1);
    expect(decided[0]?.answers).toEqual({ save: 'n', notes: 'ok by me' });
  });

  it('rejects or modifies the proposal the cursor is on', async () => {
    const first = dashboard();
    await until(first.ui, 'alpha');
    first.ui.stdin.write('j');
    await until(first.ui, 'why: 1111');
    first.ui.stdin.write('r');
    await until(first.ui, 'reject: notes for the agent');
    first.ui.stdin.write('use the mirror\r');
    await tick();
    expect(first.decided.map((d) => [d.decision, d.item.proposal.id, d.answers])).toEqual([
      ['reject', ID1, { notes: 'use the mirror' }],
    ]);
    const second = dashboard(
      view([{ ...launch('beta'), egressRefusals: null, pending: [item('beta', ID3)] }]),
    );
    await until(second.ui, 'beta');
    second.ui.stdin.write('m');
    await until(second.ui, "modify: also save to the bottle's file?");
    second.ui.stdin.write('y');
    await until(second.ui, 'modify: notes');
    second.ui.stdin.write('\r');
    await tick();
    expect(second.decided.map((d) => [d.decision, d.item.proposal.id, d.answers])).toEqual([
      ['modify', ID3, { save: 'y', notes: '' }],
    ]);
  });

  it('a stale proposal is applied only after y to "apply anyway"; n leaves it pending', async () => {
    const { ui, decided } = dashboard();
    await until(ui, 'alpha');
    ui.stdin.write('j');
    await tick();
    ui.stdin.write('j');
    const frame = await until(ui, 'why: 2222');
    expect(frame).toContain('egress.yaml has changed since the agent read it');
    ui.stdin.write('a');
    await until(ui, 'approve: made against an older config: apply anyway? (y/n)');
    ui.stdin.write('n');
    await until(ui, `not applied: ${ID2} was made against an older egress.yaml`);
    expect(decided).toEqual([]);
    ui.stdin.write('a');
    await until(ui, 'apply anyway?');
    ui.stdin.write('y');
    await until(ui, 'also save');
    ui.stdin.write('n');
    await until(ui, 'notes');
    ui.stdin.write('\r');
    await tick();
    expect(decided.map((d) => [d.item.proposal.id, d.answers])).toEqual([
      [ID2, { force: 'y', save: 'n', notes: '' }],
    ]);
  });

  it('says so when a bottle has nothing to answer or is not running; Esc cancels a question', async () => {
    const { ui, decided, acted } = dashboard();
    await until(ui, 'alpha');
    ui.stdin.write('a');
    await until(ui, 'also save');
    ui.stdin.write('\u001b');
    await until(ui, 'approve cancelled');
    for (const k of ['j', 'j', 'j']) {
      ui.stdin.write(k);
      await tick();
    }
    ui.stdin.write('a');
    await until(ui, 'beta has no pending proposal');
    ui.stdin.write('j');
    await tick();
    ui.stdin.write('c');
    await until(ui, 'gamma is not running (ended)');
    ui.stdin.write('k');
    await tick();
    ui.stdin.write('c');
    await until(ui, 'did cutoff');
    expect(acted).toEqual(['cutoff beta']);
    expect(decided).toEqual([]);
    ui.unmount();
  });

  it('shows a HOST column only when the rows ran on more than one host', async () => {
    const one = dashboard(view(rows().map((r) => ({ ...r, host: 'build-1' }))));
    expect(await until(one.ui, 'alpha')).not.toContain('build-1');
    one.ui.unmount();
    const two = dashboard(
      view(rows().map((r, i) => ({ ...r, host: i === 0 ? 'build-1' : 'build-2' }))),
    );
    const frame = await until(two.ui, 'alpha');
    expect(frame).toMatch(/alpha +build-1 +claude/);
    expect(frame).toMatch(/beta +build-2 +claude/);
    two.ui.unmount();
  });

  it('supervise, the focused view, answers with the same questions', async () => {
    const decided: (TuiDecision | undefined)[] = [];
    const ui = render(
      createElement(SuperviseQueue, {
        load: () => Promise.resolve({ items: [item('alpha', ID2, { stale: true })], problems: [] }),
        status: '',
        onDecision: (d) => decided.push(d),
        intervalMs: 40,
      }),
    );
    await until(ui, 'why: 2222');
    ui.stdin.write('a');
    await until(ui, 'approve: made against an older config: apply anyway? (y/n)');
    ui.stdin.write('n');
    await until(ui, 'not applied');
    ui.stdin.write('r');
    await until(ui, 'reject: notes for the agent');
    ui.stdin.write('no\r');
    await tick();
    expect(decided.map((d) => [d?.decision, d?.answers])).toEqual([['reject', { notes: 'no' }]]);
  });
});

describe('refusals and the --json snapshot', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'bb-dashview-'));
  });
  afterEach(() => {
    rmSync(home, { recursive: true, force: true });
  });

  const entry = (over: Record<string, unknown>): string =>
    JSON.stringify({ at: AT, kind: 'https', host: 'api.anthropic.com', port: 443, ...over });

  it('counts the refused entries of an egress log and keeps the latest', () => {
    expect(
      summarizeRefusals([
        entry({ verdict: 'allowed', status: 200 }),
        entry({ verdict: 'refused', host: 'a.example', status: 403, reason: 'not allowed' }),
        'not json "refused"',
        entry({ kind: 'usage', inputTokens: 1 }),
        entry({
          verdict: 'refused',
          at: '2026-11-21T10:00:03.000Z',
          host: 'b.example',
          port: 8443,
          status: 403,
          reason: 'denied by deny b.example',
        }),
        entry({ verdict: 'redacted', status: 200 }),
      ]),
    ).toEqual({
      count: 2,
      latest: {
        at: '2026-11-21T10:00:03.000Z',
        host: 'b.example',
        port: 8443,
        status: 403,
        reason: 'denied by deny b.example',
      },
    });
    expect(summarizeRefusals([])).toEqual({ count: 0, latest: null });
  });

  it('reads a running log at most once per interval, and null when it is not readable', async () => {
    let reads = 0;
    let now = 0;
    const backend = {
      egressLogText: (slug: string) => {
        reads += 1;
        return Promise.resolve(
          slug === 'gone'
            ? undefined
            : { text: `${entry({ verdict: 'refused', status: 403 })}\n`, sidecarId: 'x' },
        );
      },
    } as unknown as Backend;
    const reader = new RefusalReader(backend, { BOT_BOTTLE_HOME: home }, 1000, () => now);
    const b = { slug: 'alpha', identity: 'alpha-1', running: true };
    expect((await reader.read(b))?.count).toBe(1);
    expect((await reader.read(b))?.count).toBe(1);
    expect(reads).toBe(1);
    now = 1500;
    await reader.read(b);
    expect(reads).toBe(2);
    expect(await reader.read({ slug: 'gone', identity: 'gone-1', running: true })).toBeNull();
    // An ended launch with no archived log here (e.g. it ran on another host).
    expect(await reader.read({ slug: 'old', identity: 'old-1', running: false })).toBeNull();
  });

  it('shows running bottles and recently active launches, proposals on their bottle', async () => {
    const fleet: FleetView = {
      at: AT,
      since: null,
      host: null,
      providers: {},
      launches: [
        launch('old', { running: false, state: 'gone', last: '2026-11-01T00:00:00.000Z' }),
        launch('alpha'),
        launch('recent', { running: false, state: 'ended', last: '2026-11-21T09:00:00.000Z' }),
      ],
    };
    const v = await operatorView({
      fleet,
      queue: { items: [item('alpha', ID1)], problems: [{ file: 'x.json', message: 'bad' }] },
      since: '2026-11-20T10:00:00.000Z',
      refusals: (r) => Promise.resolve(r.running ? { count: 0, latest: null } : null),
    });
    expect(v.rows.map((r) => [r.slug, r.pending.length, r.egressRefusals])).toEqual([
      ['alpha', 1, { count: 0, latest: null }],
      ['recent', 0, null],
    ]);
    expect(v.problems).toEqual([{ file: 'x.json', message: 'bad' }]);
  });

  it('prints usage, refusals, redactions and proposals per bottle in --json', () => {
    const json = JSON.parse(
      JSON.stringify(viewJson(view(rows().map((r) => ({ ...r, host: 'build-1' }))))),
    ) as {
      hosts: string[];
      bottles: Record<string, unknown>[];
    };
    expect(json.hosts).toEqual(['build-1']);
    const alpha = json.bottles[0];
    expect(alpha).toMatchObject({
      slug: 'alpha',
      host: 'build-1',
      tokens: 38,
      rate: 19,
      budget: { limit: 1000, used: 1200 },
      cutOff: true,
      refusals: {
        egress: { count: 2, latest: { host: 'evil.example.com', status: 403 } },
        budget: { count: 1, latest: { action: 'cutoff', used: 1200, limit: 1000 } },
      },
      redactions: { total: 3, byKind: { 'aws-access-key-id': 1, 'stripe-key': 2 } },
      pending: [
        { id: ID1, tool: 'egress-block', stale: false, justification: '1111 wants the docs' },
        { id: ID2, stale: true },
      ],
    });
    expect(alpha).not.toHaveProperty('egressRefusals');
    expect(alpha).not.toHaveProperty('redactionKinds');
    expect(json.bottles[2]).toMatchObject({
      slug: 'gamma',
      running: false,
      refusals: { egress: null, budget: { count: 0, latest: null } },
      redactions: { total: 0, byKind: {} },
      pending: [],
    });
  });
});
