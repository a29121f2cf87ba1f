import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { decideAdmission } from '../../src/controller/admission-decision.js';
import type { BudgetWindow, LedgerStore, UsageEvent } from '../../src/ledger/types.js';

/**
 * The ledger's behaviour, the same for every store: each store's test file
 * runs this battery with its own way to make an empty store and to write a
 * row as an older schema had it. The writer processes are the fixture
 * test/fixtures/ledger-writer.mjs (it runs the build: `npm run build`).
 */

export const WRITER = join(import.meta.dirname, '..', 'fixtures', 'ledger-writer.mjs');

export interface StoreUnderTest {
  /** An empty store for one test: a file path or a postgres:// URL, and how to remove it. */
  fresh(): Promise<{ target: string; cleanup: () => Promise<void> }>;
  open(target: string, opts?: { migrateTo?: number }): LedgerStore;
  latest: number;
  /** The schema version before the latest. */
  previous: number;
  /** Writes one usage event as a ledger at `previous` holds it: no host, no event id. */
  insertPreviousEvent(target: string, slug: string, tokens: [number, number]): Promise<void>;
  /** The store's own consistency check after a writer was killed. */
  checkIntegrity?(target: string): Promise<void>;
}

export const ev = (over: Partial<UsageEvent> = {}): UsageEvent => ({
  at: '2026-11-21T10:00:00.000Z',
  slug: 's1',
  identity: 's1-20261121-100000',
  agent: 'claude',
  provider: 'claude',
  bottles: ['base', 'git_hub%'],
  api: 'anthropic-messages',
  model: 'claude-x',
  requestId: 'r',
  inputTokens: 100,
  outputTokens: 10,
  cacheCreationTokens: 20,
  cacheReadTokens: 30,
  estimated: false,
  unmetered: false,
  host: 'h1',
  eventId: randomUUID(),
  ...over,
});

/** One admission against one budget, as the controller decides it. */
export async function admitOne(
  l: LedgerStore,
  budget: Omit<BudgetWindow, 'kind'>,
  slug: string,
  tokens: number,
): Promise<{ verdict: string; reservation: string | null; used: number; reserved: number }> {
  let used = 0;
  let reserved = 0;
  const { decision, reservation } = await l.admit([{ ...budget, kind: 'budget' }], slug, (st) => {
    used = st[0]?.used ?? 0;
    reserved = st[0]?.reserved ?? 0;
    return decideAdmission(st, { estimate: tokens });
  });
  return { verdict: decision.verdict, reservation, used, reserved };
}

export function runWriter(
  store: string,
  n: number,
  batch: number | 'admit' | 'cap',
  tag: string,
  limit?: number,
): Promise<{ code: number | null; stdout: string }> {
  const args = [
    WRITER,
    store,
    String(n),
    String(batch),
    tag,
    ...(limit === undefined ? [] : [String(limit)]),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (code) => {
      resolve({ code, stdout });
    }),
  );
}

/** Defines the battery's tests in the surrounding describe block. */
export function ledgerBattery(s: StoreUnderTest): void {
  let target = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  const opened: LedgerStore[] = [];
  const open = (opts?: { migrateTo?: number }): LedgerStore => {
    const l = s.open(target, opts);
    opened.push(l);
    return l;
  };
  beforeEach(async () => {
    ({ target, cleanup } = await s.fresh());
  });
  afterEach(async () => {
    for (const l of opened.splice(0)) await l.close();
    await cleanup();
  });

  it('creates the schema and sums usage by provider, slug, agent, bottle and time', async () => {
    const l = open();
    expect(await l.schemaVersion()).toBe(s.latest);
    await l.recordUsage(ev());
    await l.recordUsage(
      ev({ slug: 's2', agent: 'rev', bottles: ['base'], at: '2026-11-21T12:00:00.000Z' }),
    );
    await l.recordUsage(ev({ provider: 'codex', bottles: ['gitXhub'] }));
    expect(await l.totals({})).toMatchObject({
      events: 3,
      inputTokens: 300,
      outputTokens: 30,
      cacheCreationTokens: 60,
      cacheReadTokens: 90,
      tokens: 330,
    });
    expect((await l.totals({ provider: 'claude' })).events).toBe(2);
    expect((await l.totals({ slug: 's2' })).events).toBe(1);
    expect((await l.totals({ agent: 'rev' })).events).toBe(1);
    expect((await l.totals({ bottle: 'base' })).events).toBe(2);
    // LIKE wildcards in a bottle name match literally, never other names.
    expect((await l.totals({ bottle: 'git_hub%' })).events).toBe(1);
    expect((await l.totals({ since: '2026-11-21T11:00:00.000Z' })).events).toBe(1);
    await l.close();
  });

  it('migrates from the previous schema version in place, keeping its rows', async () => {
    const old = open({ migrateTo: s.previous });
    expect(await old.schemaVersion()).toBe(s.previous);
    await old.close();
    // Two old rows: events without an id do not collide with each other.
    await s.insertPreviousEvent(target, 'old', [7, 8]);
    await s.insertPreviousEvent(target, 'old', [1, 1]);
    const l = open();
    expect(await l.schemaVersion()).toBe(s.latest);
    expect(await l.totals({ slug: 'old' })).toMatchObject({
      events: 2,
      tokens: 17,
      unmeteredEvents: 0,
    });
    expect(await l.used({ provider: 'claude' })).toBe(17);
    // Old rows name no host; new ones carry theirs and their id.
    await l.recordUsage(
      ev({ slug: 'old', identity: 'old-1', agent: 'a', host: 'h2', unmetered: true }),
    );
    expect(await l.totals({ slug: 'old' })).toMatchObject({ events: 3, unmeteredEvents: 1 });
    expect((await l.byLaunch({ slug: 'old' }))[0]).toMatchObject({ host: 'h2', events: 3 });
    await l.close();
    // Opening again applies nothing twice.
    const again = open();
    expect(await again.schemaVersion()).toBe(s.latest);
    expect((await again.totals({ slug: 'old' })).events).toBe(3);
  });

  it('counts unmetered calls apart, and in every sum', async () => {
    const l = open();
    await l.recordUsage(ev());
    await l.recordUsage(ev({ inputTokens: 400, outputTokens: 0, unmetered: true }));
    const budget = { scope: 'global:claude', filter: { provider: 'claude' as const }, limit: 600 };
    const a = await admitOne(l, budget, 's2', 250);
    if (a.verdict !== 'admitted') throw new Error(`not admitted: ${a.verdict}`);
    await l.settle(
      a.reservation,
      ev({ slug: 's2', inputTokens: 250, outputTokens: 0, unmetered: true }),
    );
    expect(await l.reserved('global:claude')).toBe(0);
    expect(await l.totals({})).toMatchObject({ events: 3, unmeteredEvents: 2, tokens: 760 });
    expect(await l.totals({ slug: 's2' })).toMatchObject({ events: 1, unmeteredEvents: 1 });
    // The hourly sums budgets read include the estimate's charge.
    expect(await l.used({ provider: 'claude' })).toBe(760);
    expect((await admitOne(l, budget, 's1', 1)).verdict).toBe('exhausted');
    const [launch] = await l.byLaunch({ slug: 's1' });
    expect(launch).toMatchObject({ events: 2, unmeteredEvents: 1, tokens: 510 });
  });

  it('sums redactions per launch and kind, never mixing launches', async () => {
    const l = open();
    const at = '2026-11-21T10:00:00.000Z';
    await l.recordRedactions({
      at,
      slug: 's',
      identity: 's-1',
      counts: { 'aws-access-key-id': 1, 'stripe-key': 2 },
    });
    await l.recordRedactions({ at, slug: 's', identity: 's-1', counts: { 'stripe-key': 1 } });
    await l.recordRedactions({ at, slug: 's', identity: 's-2', counts: { jwt: 1 } });
    // Nonsense counts (from a misbehaving sidecar) are not rows.
    await l.recordRedactions({ at, slug: 's', identity: 's-1', counts: { x: -3, y: 0.5 } });
    expect(await l.redactions({ identity: 's-1' })).toEqual({
      'aws-access-key-id': 1,
      'stripe-key': 3,
    });
    expect(await l.redactions({ identity: 's-2' })).toEqual({ jwt: 1 });
    expect(await l.redactions({ identity: 's-1', since: '2026-11-22' })).toEqual({});
  });

  it('admits while used + reserved is under the limit, then holds, then refuses as exhausted', async () => {
    const l = open();
    const budget = { scope: 'global:claude', filter: { provider: 'claude' as const }, limit: 1000 };
    const a = await admitOne(l, budget, 's1', 500);
    expect(a).toMatchObject({ verdict: 'admitted', used: 0, reserved: 0 });
    const b = await admitOne(l, budget, 's2', 600);
    expect(b).toMatchObject({ verdict: 'admitted', used: 0, reserved: 500 });
    // Two requests in flight hold 1,100: a third waits for them.
    expect(await admitOne(l, budget, 's3', 1)).toMatchObject({ verdict: 'held', reserved: 1100 });
    if (a.verdict !== 'admitted' || b.verdict !== 'admitted') throw new Error('not admitted');
    await l.settle(a.reservation, ev({ inputTokens: 400, outputTokens: 100 }));
    await l.release(b.reservation ?? '');
    expect(await l.reserved('global:claude')).toBe(0);
    expect(await admitOne(l, budget, 's3', 1)).toMatchObject({ verdict: 'admitted', used: 500 });
    await l.settle(null, ev({ inputTokens: 500, outputTokens: 0 }));
    // Exhausted regardless of what is held; a budget on another provider is untouched.
    expect(await admitOne(l, budget, 's3', 1)).toMatchObject({ verdict: 'exhausted', used: 1000 });
    const codex = { scope: 'global:codex', filter: { provider: 'codex' as const }, limit: 1000 };
    expect((await admitOne(l, codex, 's4', 1)).verdict).toBe('admitted');
  });

  it('holds one reservation in every window of an admission, under one id', async () => {
    const l = open();
    const windows: BudgetWindow[] = [
      { scope: 'global:claude', filter: { provider: 'claude' }, limit: 1000, kind: 'budget' },
      {
        scope: 'rate:claude',
        filter: { provider: 'claude', since: '2026-11-21T09:59:00.000Z' },
        limit: 300,
        kind: 'rate',
      },
    ];
    await l.recordUsage(ev({ at: '2026-11-21T10:00:00.000Z', inputTokens: 50, outputTokens: 0 }));
    const first = await l.admit(windows, 's1', (st) => {
      expect(st.map((x) => [x.used, x.reserved, x.firstAt])).toEqual([
        [50, 0, null],
        [50, 0, '2026-11-21T10:00:00.000Z'],
      ]);
      return decideAdmission(st, { estimate: 250 });
    });
    expect(first.reservation).toEqual(expect.any(String));
    expect([await l.reserved('global:claude'), await l.reserved('rate:claude')]).toEqual([
      250, 250,
    ]);
    // The rate window is full with what is held: refused for the rate, and nothing more reserved.
    const second = await l.admit(windows, 's2', (st) => decideAdmission(st, { estimate: 100 }));
    expect(second).toMatchObject({ decision: { verdict: 'rate' }, reservation: null });
    await l.release(first.reservation ?? '');
    expect([await l.reserved('global:claude'), await l.reserved('rate:claude')]).toEqual([0, 0]);
  });

  it('counts a calendar budget from hourly totals exactly as from the events', async () => {
    const l = open();
    const hours = [
      '2026-11-20T23:59:59.999Z',
      '2026-11-21T00:00:00.000Z',
      '2026-11-21T09:30:00.000Z',
    ];
    for (const [i, at] of hours.entries()) {
      await l.recordUsage(ev({ at, agent: i === 2 ? 'rev' : 'claude' }));
      await l.recordUsage(ev({ at, provider: 'codex' }));
    }
    const day = '2026-11-21T00:00:00.000Z';
    for (const filter of [
      { provider: 'claude' as const, since: day },
      { provider: 'claude' as const },
      { provider: 'claude' as const, agent: 'rev', since: day },
      { provider: 'claude' as const, bottle: 'git_hub%', since: day },
    ]) {
      const exact = (await l.totals(filter)).tokens;
      const budget = { scope: 's', filter, limit: exact };
      // Exhausted exactly at the total: the rollup and the events agree.
      expect(await admitOne(l, budget, 's', 0)).toMatchObject({
        verdict: 'exhausted',
        used: exact,
      });
    }
    expect((await l.totals({ provider: 'claude', since: day })).tokens).toBe(220);
  });

  it('sums usage per launch and keeps enforcement actions per launch', async () => {
    const l = open();
    await l.recordUsage(ev({ at: '2026-11-21T10:00:00.000Z' }));
    await l.recordUsage(ev({ at: '2026-11-21T10:05:00.000Z' }));
    await l.recordUsage(ev({ slug: 's2', identity: 's2-1', at: '2026-11-21T10:01:00.000Z' }));
    const launches = await l.byLaunch({});
    expect(launches.map((x) => [x.identity, x.events, x.tokens, x.first, x.last])).toEqual([
      ['s1-20261121-100000', 2, 220, '2026-11-21T10:00:00.000Z', '2026-11-21T10:05:00.000Z'],
      ['s2-1', 1, 110, '2026-11-21T10:01:00.000Z', '2026-11-21T10:01:00.000Z'],
    ]);
    const action = {
      at: '2026-11-21T10:06:00.000Z',
      slug: 's1',
      identity: 's1-20261121-100000',
      action: 'cutoff',
      scope: 'global:claude',
      used: 1001,
      limit: 1000,
      reason: 'budget exhausted',
    } as const;
    await l.recordAction(action);
    await l.recordAction({ ...action, identity: 's1-later', at: '2026-11-22T00:00:00.000Z' });
    await l.recordAction({ ...action, action: 'stop', limit: null, scope: 'operator' });
    expect(await l.actions({ identity: 's1-20261121-100000' })).toEqual([
      action,
      { ...action, action: 'stop', limit: null, scope: 'operator' },
    ]);
    expect(await l.actions({ slug: 's1' })).toHaveLength(3);
    expect(await l.actions({ slug: 's1', since: '2026-11-21T12:00:00.000Z' })).toHaveLength(1);
  });

  it('sums exactly what 8 concurrent writer processes wrote (2,000 events each)', async () => {
    await open().close();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => runWriter(target, 2000, 1, String(i))),
    );
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(0));
    const l = open();
    expect(await l.totals({})).toMatchObject({
      events: 16_000,
      inputTokens: 48_000,
      outputTokens: 80_000,
    });
    for (let i = 0; i < 8; i++) expect((await l.totals({ slug: `w-${i}` })).events).toBe(2000);
    // The hourly rollup budgets read agrees with the events.
    expect(await l.used({ provider: 'claude' })).toBe(128_000);
  }, 180_000);

  it('admits across 8 processes sharing one budget without overshooting by more than one call', async () => {
    await open().close();
    // 8 tokens per call, a 1,000-token budget, 8 processes trying 400 calls each.
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => runWriter(target, 400, 'admit', String(i), 1000)),
    );
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(0));
    const l = open();
    const used = (await l.totals({ provider: 'claude' })).tokens;
    expect(used).toBeGreaterThanOrEqual(1000);
    expect(used).toBeLessThanOrEqual(1000 + 8);
    expect(await l.reserved('global:claude')).toBe(0);
  }, 180_000);

  it('with output caps, 8 processes sharing one budget end within the estimate error of it, never over', async () => {
    await open().close();
    // Each call's input is estimated 1,200 (truly 1,000) and it spends its whole granted cap.
    const limit = 100_000;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => runWriter(target, 400, 'cap', String(i), limit)),
    );
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(0));
    const l = open();
    const t = await l.totals({ provider: 'claude' });
    expect(t.tokens).toBeLessThanOrEqual(limit);
    // What is left is what the estimates overcounted, plus less than one call's input and the floor.
    expect(limit - t.tokens).toBeLessThanOrEqual(t.events * (1200 - 1000) + 1200 + 256);
    expect(t.events).toBeGreaterThanOrEqual(20);
    expect(await l.reserved('global:claude')).toBe(0);
  }, 180_000);

  it('loses nothing and doubles nothing when a writer is killed mid-transaction', async () => {
    await open().close();
    const child = spawn(process.execPath, [WRITER, target, '1000000', '100', 'k'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((r) => child.stdout.once('data', r));
    // Killed once a few batches are in, in the middle of a later one.
    const l = open();
    for (let tries = 0; (await l.totals({ slug: 'w-k' })).events < 300 && tries < 400; tries++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, 7));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const t = await l.totals({ slug: 'w-k' });
    expect(t.events).toBeGreaterThan(0);
    // Whole transactions only: a killed batch left no rows.
    expect(t.events % 100).toBe(0);
    await s.checkIntegrity?.(target);
    // The ledger stays writable (no lock was left behind), and what is written after is all there.
    expect((await runWriter(target, 50, 1, 'after')).code).toBe(0);
    expect((await l.totals({ slug: 'w-after' })).events).toBe(50);
    expect((await l.totals({ slug: 'w-k' })).events).toBe(t.events);
  }, 60_000);

  it('writes an event id once, and shows each launch with its host', async () => {
    const l = open();
    const once = ev({
      eventId: 'e-1',
      host: 'mac-1',
      inputEstimate: 90,
      capRequested: 64000,
      capGranted: 900,
    });
    await l.settle(null, once);
    // A write retried after an outage: nothing doubles, neither events nor budget sums.
    await l.settle(null, once);
    await l.recordUsage(once);
    await l.recordUsage({ ...once, inputTokens: 9999 });
    await l.recordUsage(ev({ identity: 'other', host: 'ci-2' }));
    expect(await l.totals({})).toMatchObject({ events: 2, tokens: 220 });
    expect(await l.used({ provider: 'claude' })).toBe(220);
    expect(await l.totals({ host: 'mac-1' })).toMatchObject({ events: 1 });
    const hosts = (await l.byLaunch({})).map((x) => [x.identity, x.host]).sort();
    expect(hosts).toEqual([
      ['other', 'ci-2'],
      ['s1-20261121-100000', 'mac-1'],
    ]);
  });
}
