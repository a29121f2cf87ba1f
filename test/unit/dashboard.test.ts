import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActiveBottle } from '../../src/backend/backend.js';
import { recordOperator } from '../../src/controller/enforcement.js';
import { fleetView, parseSince, type LaunchRow } from '../../src/controller/fleet.js';
import { saveBottle } from '../../src/controller/state.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import type { UsageEvent } from '../../src/ledger/types.js';
import type { BottlePlan } from '../../src/plan/schema.js';
import { bar, Dashboard, type DashboardAction } from '../../src/tui/dashboard.js';
import { operatorView } from '../../src/controller/operator-view.js';
import { formatEgressLine } from '../../src/cli/egress-log.js';
import { usageReport } from '../../src/cli/usage.js';
import { dashboardAct } from '../../src/cli/dashboard.js';
import type { CliContext } from '../../src/cli/context.js';

const NOW = new Date();

function savedPlan(slug: string, tokens: number): BottlePlan {
  return {
    slug,
    agent: { name: 'claude', provider: 'claude' },
    bottles: [{ name: 'fake', chain: [{ name: 'fake' }] }],
    budget: { provider: 'claude', tokens, scope: 'global', from: 'settings.yml', period: 'day' },
    cutoff: { policy: 'cutoff', source: 'default', from: null },
  } as unknown as BottlePlan;
}

const active = (slug: string, identity: string): ActiveBottle => ({
  slug,
  label: slug,
  agent: 'claude',
  provider: 'claude',
  bottles: ['fake'],
  identity,
  startedAt: new Date(NOW.getTime() - 60_000).toISOString(),
  state: 'running',
  controllerPid: undefined,
  controllerHost: undefined,
});

const event = (slug: string, identity: string, input: number, output: number): UsageEvent => ({
  at: new Date(NOW.getTime() - 30_000).toISOString(),
  host: 'h1',
  eventId: `${identity}-${String(input)}-${String(output)}-${String(Math.random())}`,
  slug,
  identity,
  agent: 'claude',
  provider: 'claude',
  bottles: ['fake'],
  api: 'anthropic-messages',
  model: 'm',
  requestId: null,
  inputTokens: input,
  outputTokens: output,
  cacheCreationTokens: 0,
  cacheReadTokens: 0,
  estimated: false,
  unmetered: false,
});

const tick = (ms = 80): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The dashboard over a real ledger file and real launch records; only the
 * engine's list of running bottles is given (no containers here).
 */
describe('usage view and dashboard', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let ledger: SqliteLedger;
  const bottles = [
    active('alpha', 'alpha-20261121-100000'),
    active('beta', 'beta-20261121-100000'),
  ];

  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), 'bb-dash-'));
    env = { BOT_BOTTLE_HOME: home, BOT_BOTTLE_HOST_NAME: 'h1' };
    ledger = new SqliteLedger(join(home, 'bot-bottle.db'));
    for (const b of bottles) {
      saveBottle(env, {
        identity: b.identity,
        slug: b.slug,
        label: b.slug,
        agent: 'claude',
        provider: 'claude',
        bottles: ['fake'],
        color: null,
        image: 'img',
        reason: 'running',
        savedAt: b.startedAt,
        startedAt: b.startedAt,
        repo: null,
        baseCommit: null,
        branch: null,
        exitCode: null,
        plan: savedPlan(b.slug, 100),
      });
    }
    await ledger.recordUsage(event('alpha', 'alpha-20261121-100000', 24, 14));
    await ledger.recordUsage(event('beta', 'beta-20261121-100000', 12, 7));
    await ledger.recordUsage(event('old', 'old-20261120-100000', 1000, 1));
    await ledger.recordRedactions({
      at: NOW.toISOString(),
      slug: 'alpha',
      identity: 'alpha-20261121-100000',
      counts: { 'aws-access-key-id': 1, 'stripe-key': 2 },
    });
  });
  afterEach(async () => {
    await ledger.close();
    rmSync(home, { recursive: true, force: true });
  });

  const load = () => fleetView({ ledger, env, active: bottles, alive: () => true, now: NOW });
  const loadView = async () =>
    operatorView({
      fleet: await load(),
      queue: { items: [], problems: [] },
      since: new Date(NOW.getTime() - 3_600_000).toISOString(),
      refusals: () => Promise.resolve(null),
    });
  const noDecision = (): void => {
    throw new Error('no proposal was answered');
  };

  it('counts each launch and the shared budget it draws on', async () => {
    const v = await load();
    const alpha = v.launches.find((l) => l.slug === 'alpha');
    expect(alpha).toMatchObject({
      events: 1,
      tokens: 38,
      running: true,
      rate: 8,
      redactions: 3,
      redactionKinds: { 'aws-access-key-id': 1, 'stripe-key': 2 },
      enforcements: 0,
    });
    expect(v.launches.find((l) => l.slug === 'beta')?.redactions).toBe(0);
    // A global budget counts every bottle's usage today (the older launch was 30 s ago too).
    expect(alpha?.budget).toMatchObject({ limit: 100, used: 1058, scope: 'global:claude' });
    expect(v.launches.find((l) => l.slug === 'old')).toMatchObject({
      running: false,
      state: 'gone',
    });
    expect(v.providers.claude).toMatchObject({ events: 3, tokens: 1058 });
    await recordOperator(env, 'beta', 'beta-20261121-100000', 'cutoff', 't');
    expect((await load()).launches.find((l) => l.slug === 'beta')?.cutOff).toBe(true);
  });

  it('renders usage against budget and acts on the selected bottle', async () => {
    const acts: [DashboardAction, string][] = [];
    const act = (a: DashboardAction, r: LaunchRow): Promise<string> => {
      acts.push([a, r.slug]);
      return Promise.resolve(`did ${a} on ${r.slug}`);
    };
    const ui = render(
      createElement(Dashboard, { load: loadView, act, decide: noDecision, intervalMs: 50 }),
    );
    await tick(200);
    const frame = ui.lastFrame() ?? '';
    expect(frame).toContain('2 running');
    expect(frame).toContain('alpha');
    expect(frame).toContain('beta');
    expect(frame).not.toContain('old-');
    expect(frame).toContain('1058/100');
    expect(frame).toContain('38 own');
    expect(frame).toContain('█'.repeat(20));
    expect(frame).toContain('8/min');
    expect(frame).toContain('UTC · all-time claude 1058 · 3 redacted');
    expect(frame).not.toMatch(/beta.*redacted/);
    ui.stdin.write('c');
    await tick();
    expect(acts).toEqual([['cutoff', 'alpha']]);
    expect(ui.lastFrame()).toContain('did cutoff on alpha');
    ui.stdin.write('j');
    await tick();
    ui.stdin.write('x');
    await tick();
    expect(ui.lastFrame()).toContain('kill beta: remove it now, saving nothing? y/n');
    ui.stdin.write('n');
    await tick();
    expect(acts).toHaveLength(1);
    ui.stdin.write('x');
    await tick();
    ui.stdin.write('y');
    await tick();
    expect(acts).toEqual([
      ['cutoff', 'alpha'],
      ['kill', 'beta'],
    ]);
    ui.unmount();
  });

  it('names the host each launch ran on, from the ledger, and shows HOST once there are two', async () => {
    // A launch another host recorded in the shared ledger: no record of it here.
    await ledger.recordUsage({ ...event('far', 'far-20261121-100000', 5, 5), host: 'h2' });
    const v = await load();
    expect(v.launches.map((l) => [l.slug, l.host]).sort()).toEqual([
      ['alpha', 'h1'],
      ['beta', 'h1'],
      ['far', 'h2'],
      ['old', 'h1'],
    ]);
    const ui = render(
      createElement(Dashboard, {
        load: loadView,
        act: () => Promise.resolve(''),
        decide: noDecision,
        intervalMs: 50,
      }),
    );
    const deadline = Date.now() + 5000;
    while (!(ui.lastFrame() ?? '').includes('far') && Date.now() < deadline) await tick(20);
    const frame = ui.lastFrame() ?? '';
    expect(frame).toMatch(/alpha +h1 +claude +running/);
    // Not in this host's engine: shown from the ledger as another host's, still active.
    expect(frame).toMatch(/far +h2 +claude +remote /);
    ui.unmount();
  });

  it('shows unmetered calls in usage, usage --json and the dashboard', async () => {
    await ledger.recordUsage({
      ...event('alpha', 'alpha-20261121-100000', 300, 0),
      unmetered: true,
    });
    const v = await load();
    expect(v.launches.find((l) => l.slug === 'alpha')).toMatchObject({
      events: 2,
      unmeteredEvents: 1,
      tokens: 338,
    });
    expect(v.launches.find((l) => l.slug === 'beta')?.unmeteredEvents).toBe(0);
    expect(v.providers.claude).toMatchObject({ events: 4, unmeteredEvents: 1 });
    // What `usage --json` prints.
    const json = JSON.parse(JSON.stringify(v)) as typeof v;
    expect(json.launches.find((l) => l.slug === 'alpha')?.unmeteredEvents).toBe(1);
    expect(json.providers.claude?.unmeteredEvents).toBe(1);
    const text = usageReport(v).join('\n');
    expect(text).toMatch(/alpha .*2 \(1 unmetered!\)/);
    expect(text).toMatch(/beta .* 1 +12 /);
    expect(text).toContain('claude: 1,358 tokens (1,336 in, 22 out) in 4 calls, 1 unmetered');
    expect(text).toContain(
      "unmetered: 1 call was answered but its usage could not be read (an encoding or body the meter cannot decode); each is charged its request's estimate against every budget",
    );
    const ui = render(
      createElement(Dashboard, {
        load: loadView,
        act: () => Promise.resolve(''),
        decide: noDecision,
        intervalMs: 50,
      }),
    );
    const deadline = Date.now() + 5000;
    while (!(ui.lastFrame() ?? '').includes('own !1') && Date.now() < deadline) await tick(20);
    const frame = ui.lastFrame() ?? '';
    expect(frame).toContain('all-time claude 1358 (1 unmetered)');
    expect(frame.split('\n').filter((l) => l.includes('own !1'))).toEqual([
      expect.stringContaining('alpha'),
    ]);
    expect(frame).toContain('!N: N calls whose usage could not be read');
    ui.unmount();
  });

  it("lists every host's launches from a shared store, with each launch's host, and filters by host", async () => {
    // Another host's launches: one used tokens a minute ago, one yesterday.
    await ledger.recordUsage({ ...event('gamma', 'gamma-20261121-100000', 50, 5), host: 'h2' });
    await ledger.recordUsage({
      ...event('delta', 'delta-20261120-100000', 7, 1),
      host: 'h2',
      at: new Date(NOW.getTime() - 86_400_000).toISOString(),
    });
    const v = await load();
    expect(v.launches.find((l) => l.slug === 'alpha')).toMatchObject({
      host: 'h1',
      remote: false,
      state: 'running',
    });
    // Not in this host's engine: shown from the ledger, marked as another host's.
    expect(v.launches.find((l) => l.slug === 'gamma')).toMatchObject({
      host: 'h2',
      remote: true,
      running: true,
      state: 'remote',
      tokens: 55,
      budget: null,
    });
    expect(v.launches.find((l) => l.slug === 'delta')).toMatchObject({
      host: 'h2',
      running: false,
      state: 'remote, idle',
    });
    const text = usageReport(v).join('\n');
    expect(text).toMatch(/^HOST +SLUG +IDENTITY/);
    expect(text).toMatch(
      /\nh2 +gamma +gamma-20261121-100000 +claude +remote +1 +50 +5 +0\/0 +55 +11 +-\n/,
    );
    expect(text).toMatch(/\nh1 +alpha +alpha-20261121-100000 +claude +running /);
    // What `usage --json` prints carries the host of each launch.
    const json = JSON.parse(JSON.stringify(v)) as typeof v;
    expect(json.launches.map((l) => [l.slug, l.host])).toEqual(
      expect.arrayContaining([
        ['gamma', 'h2'],
        ['alpha', 'h1'],
      ]),
    );
    // --host: only that host's launches and totals; this host's running bottles only for itself.
    const h2 = await fleetView({
      ledger,
      env,
      active: bottles,
      alive: () => true,
      now: NOW,
      host: 'h2',
    });
    expect(h2.launches.map((l) => l.slug).sort()).toEqual(['delta', 'gamma']);
    expect(h2.providers.claude).toMatchObject({ events: 2, tokens: 63 });
    expect(h2.host).toBe('h2');
    const h1 = await fleetView({
      ledger,
      env,
      active: bottles,
      alive: () => true,
      now: NOW,
      host: 'h1',
    });
    expect(h1.launches.map((l) => l.slug).sort()).toEqual(['alpha', 'beta', 'old']);
    const none = await fleetView({
      ledger,
      env,
      active: bottles,
      alive: () => true,
      now: NOW,
      host: 'h9',
    });
    expect(usageReport(none)).toEqual(['no metered usage yet on host h9']);
  });

  it("cuts off another host's bottle through the shared ledger, and sends the rest to its host", async () => {
    await ledger.recordUsage({ ...event('gamma', 'gamma-20261121-100000', 50, 5), host: 'h2' });
    const row = (await load()).launches.find((l) => l.slug === 'gamma');
    if (row === undefined) throw new Error('no gamma row');
    const ctx = { env } as unknown as CliContext;
    expect(await dashboardAct(ctx, 'cutoff', row)).toBe(
      'cut off the metered calls of gamma on host h2 (c again lifts it)',
    );
    // What that host's controller reads at its next admission.
    expect(await ledger.actions({ identity: 'gamma-20261121-100000' })).toEqual([
      expect.objectContaining({ action: 'cutoff', scope: 'operator' }),
    ]);
    expect((await load()).launches.find((l) => l.slug === 'gamma')?.cutOff).toBe(true);
    await expect(dashboardAct(ctx, 'kill', row)).rejects.toThrow(
      'gamma runs on host h2: kill it there (bot-bottle kill gamma)',
    );
  });

  it('prints UNMETERED on the call and its usage line in egress log', () => {
    const call = formatEgressLine(
      JSON.stringify({
        at: 't',
        kind: 'https',
        method: 'POST',
        host: 'api.anthropic.com',
        port: 443,
        path: '/v1/messages?beta=',
        rule: 'allow api.anthropic.com',
        verdict: 'allowed',
        status: 200,
        unmetered: true,
        bytesUp: 10,
        bytesDown: 20,
        ms: 5,
      }),
    );
    expect(call).toContain('200 [allow api.anthropic.com] up 10 B down 20 B 5 ms UNMETERED');
    const usage = formatEgressLine(
      JSON.stringify({
        at: 't',
        kind: 'usage',
        host: 'api.anthropic.com',
        api: 'anthropic-messages',
        model: null,
        inputTokens: 250,
        outputTokens: 0,
        unmetered: true,
      }),
    );
    expect(usage).toContain('in 250 out 0');
    expect(usage).toContain("UNMETERED (usage unreadable: charged the request's estimate)");
    expect(
      formatEgressLine(JSON.stringify({ at: 't', kind: 'usage', inputTokens: 1 })),
    ).not.toContain('UNMETERED');
  });

  it('says nothing about unmetered calls when there are none', async () => {
    const text = usageReport(await load()).join('\n');
    expect(text).not.toContain('unmetered');
  });

  it('draws the bar by how much of the budget is used', () => {
    expect(bar(0, 100, 10)).toEqual({ text: '░'.repeat(10), color: 'green' });
    expect(bar(80, 100, 10)).toEqual({ text: `${'█'.repeat(8)}${'░'.repeat(2)}`, color: 'yellow' });
    expect(bar(500, 100, 10)).toEqual({ text: '█'.repeat(10), color: 'red' });
  });

  it('reads --since as a time or a span back from now', () => {
    const at = new Date('2026-11-21T12:00:00.000Z');
    expect(parseSince('24h', at)).toBe('2026-11-20T12:00:00.000Z');
    expect(parseSince('30m', at)).toBe('2026-11-21T11:30:00.000Z');
    expect(parseSince('2026-11-01', at)).toBe('2026-11-01T00:00:00.000Z');
    expect(parseSince('yesterday', at)).toBeUndefined();
    expect(parseSince('2026-13-45', at)).toBeUndefined();
  });
});
