import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordOperator } from '../../src/controller/enforcement.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import {
  parseSpool,
  spoolFileName,
  spoolLine,
  type SpoolEntry,
} from '../../src/ledger/spool-format.js';
import { appendSpool, flushSpool, spooled, spoolFiles } from '../../src/ledger/spool.js';
import type { LedgerStore, UsageEvent } from '../../src/ledger/types.js';

const ev = (over: Partial<UsageEvent> = {}): UsageEvent => ({
  at: new Date().toISOString(),
  slug: 's1',
  identity: 's1-20261121-100000',
  agent: 'claude',
  provider: 'claude',
  bottles: ['base'],
  api: 'anthropic-messages',
  model: 'claude-x',
  requestId: 'r',
  inputTokens: 100,
  outputTokens: 10,
  cacheCreationTokens: 0,
  cacheReadTokens: 0,
  estimated: false,
  unmetered: false,
  host: 'h1',
  eventId: randomUUID(),
  ...over,
});

/** A store whose writes fail `failures` times (an unreachable server), then reach `inner`. */
function flaky(inner: LedgerStore, failures: number): LedgerStore & { attempts: number } {
  let left = failures;
  const fail = (): Promise<never> => Promise.reject(new Error('connect ECONNREFUSED'));
  const s = {
    attempts: 0,
    ...Object.fromEntries(
      (Object.getOwnPropertyNames(Object.getPrototypeOf(inner)) as (keyof LedgerStore)[])
        .filter((k) => k !== ('constructor' as keyof LedgerStore))
        .map((k) => [k, (inner[k] as (...a: unknown[]) => unknown).bind(inner)]),
    ),
  } as unknown as LedgerStore & { attempts: number };
  for (const k of ['settle', 'recordUsage', 'recordAction', 'recordRedactions'] as const) {
    const real = (inner[k] as (...a: unknown[]) => Promise<void>).bind(inner);
    (s as unknown as Record<string, unknown>)[k] = (...a: unknown[]) => {
      s.attempts++;
      if (left > 0) {
        left--;
        return fail();
      }
      return real(...a);
    };
  }
  return s;
}

async function until(ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('spool format', () => {
  it('reads whole lines and ignores a torn last line', () => {
    const a: SpoolEntry = { op: 'settle', reservation: 'r1', event: ev() };
    const b: SpoolEntry = { op: 'release', reservation: 'r2' };
    const whole = spoolLine(a) + spoolLine(b);
    expect(parseSpool(whole)).toEqual({ entries: [a, b], torn: false, badLines: [] });
    const torn = whole + spoolLine(a).slice(0, 40);
    expect(parseSpool(torn)).toEqual({ entries: [a, b], torn: true, badLines: [] });
    // A whole line that is not an entry is skipped and reported by number.
    expect(parseSpool(`{"op":"nope"}\nnot json\n${spoolLine(b)}`)).toEqual({
      entries: [b],
      torn: false,
      badLines: [1, 2],
    });
    expect(parseSpool('')).toEqual({ entries: [], torn: false, badLines: [] });
  });

  it('names a file after its writer without leaving the directory', () => {
    expect(spoolFileName('demo-20261121-100000')).toBe('demo-20261121-100000.jsonl');
    expect(spoolFileName('../../etc/passwd')).toBe('__.._etc_passwd.jsonl');
    expect(spoolFileName('')).toBe('_.jsonl');
  });
});

describe('ledger spool', () => {
  let home: string;
  let dir: string;
  let ledger: SqliteLedger;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'bb-spool-'));
    dir = join(home, 'ledger-spool');
    ledger = new SqliteLedger(join(home, 'bot-bottle.db'));
  });
  afterEach(async () => {
    await ledger.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('keeps writes the store refuses and writes each once when it answers again', async () => {
    const store = flaky(ledger, 7);
    const logs: string[] = [];
    const s = spooled(store, {
      dir,
      name: 's1-20261121-100000',
      log: (l) => logs.push(l),
      retryMs: 20,
    });
    const events = Array.from({ length: 10 }, () => ev());
    for (const e of events) await s.settle(null, e);
    await s.recordAction({
      at: new Date().toISOString(),
      slug: 's1',
      identity: 's1-20261121-100000',
      action: 'cutoff',
      scope: 'global:claude',
      used: 1100,
      limit: 1000,
      reason: 'used up',
    });
    await s.recordRedactions({
      at: new Date().toISOString(),
      slug: 's1',
      identity: 's1-20261121-100000',
      counts: { 'aws-access-key-id': 2 },
    });
    // The retry loop writes them as soon as the store answers.
    await until(() => spoolFiles(dir).length === 0);
    expect(await ledger.totals({})).toMatchObject({ events: 10, tokens: 1100 });
    expect(await ledger.actions({})).toHaveLength(1);
    expect(await ledger.redactions({ identity: 's1-20261121-100000' })).toEqual({
      'aws-access-key-id': 2,
    });
    expect(logs[0]).toMatch(
      /ledger store did not take a write \(connect ECONNREFUSED\); kept in .*s1-20261121-100000\.jsonl/,
    );
    await s.close();
    expect(logs.some((l) => /^ledger store answers again: wrote \d+ spooled writes$/.test(l))).toBe(
      true,
    );
  });

  it('keeps the spool private: a 0700 directory and 0600 files', async () => {
    const path = await appendSpool(dir, 'x', [{ op: 'release', reservation: 'r' }]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('writes the whole lines of a spool whose last line was torn by a crash', async () => {
    const a = ev();
    const b = ev();
    await appendSpool(dir, 's1', [
      { op: 'settle', reservation: null, event: a },
      { op: 'usage', event: b },
    ]);
    const path = join(dir, 's1.jsonl');
    writeFileSync(path, spoolLine({ op: 'usage', event: ev() }).slice(0, 30), { flag: 'a' });
    // A later write (the launch resumed) still lands whole after the torn line.
    const c = ev();
    await appendSpool(dir, 's1', [{ op: 'usage', event: c }]);
    const read = parseSpool(readFileSync(path, 'utf8'));
    expect(read.entries).toHaveLength(3);
    expect(read.badLines).toEqual([3]);
    expect(await flushSpool(ledger, dir)).toEqual({ written: 3, left: 0 });
    expect((await ledger.totals({})).events).toBe(3);
    expect(spoolFiles(dir)).toEqual([]);
  });

  it('cannot double usage written again after a crash before the spool was emptied', async () => {
    const events = [ev(), ev(), ev()];
    await appendSpool(
      dir,
      's1',
      events.map((event) => ({ op: 'settle' as const, reservation: null, event })),
    );
    const path = join(dir, 's1.jsonl');
    copyFileSync(path, `${home}/kept`);
    expect(await flushSpool(ledger, dir)).toMatchObject({ written: 3, left: 0 });
    // As if the process died after the store took the writes, before the file went.
    copyFileSync(`${home}/kept`, path);
    expect(await flushSpool(ledger, dir)).toMatchObject({ written: 3, left: 0 });
    expect(await ledger.totals({})).toMatchObject({ events: 3, tokens: 330 });
  });

  it('stops at the first failure and keeps the rest in order', async () => {
    const events = [ev(), ev(), ev()];
    await appendSpool(
      dir,
      's1',
      events.map((event) => ({ op: 'usage' as const, event })),
    );
    let n = 0;
    const store = {
      ...flaky(ledger, 0),
      recordUsage: (e: UsageEvent) =>
        ++n === 2 ? Promise.reject(new Error('gone')) : ledger.recordUsage(e),
    } as LedgerStore;
    const r = await flushSpool(store, dir);
    expect(r).toMatchObject({ written: 1, left: 2 });
    expect(r.error).toBeInstanceOf(Error);
    const left = parseSpool(readFileSync(join(dir, 's1.jsonl'), 'utf8')).entries;
    expect(left.map((e) => (e.op === 'usage' ? e.event.eventId : ''))).toEqual([
      events[1]?.eventId,
      events[2]?.eventId,
    ]);
    expect(await flushSpool(store, dir)).toMatchObject({ written: 2, left: 0 });
    expect((await ledger.totals({})).events).toBe(3);
  });

  it('two controllers flushing the same spool at once write each entry once', async () => {
    const events = Array.from({ length: 40 }, () => ev());
    await appendSpool(
      dir,
      's1',
      events.map((event) => ({ op: 'usage' as const, event })),
    );
    // A store that keeps every write (no id check), so a second write would show.
    const writes: string[] = [];
    const counting = {
      ...flaky(ledger, 0),
      recordUsage: async (e: UsageEvent) => {
        await new Promise((r) => setTimeout(r, 2));
        writes.push(e.eventId);
      },
    } as LedgerStore;
    const one = spooled(counting, { dir, name: 'a' });
    const two = spooled(counting, { dir, name: 'b' });
    const [r1, r2] = await Promise.all([one.flush(), two.flush()]);
    expect(r1.written + r2.written).toBe(40);
    expect(writes).toHaveLength(40);
    expect(new Set(writes).size).toBe(40);
  });

  it('four processes flushing one spool at once write each entry once', async () => {
    const events = Array.from({ length: 200 }, () => ev());
    await appendSpool(
      dir,
      's1',
      events.map((event) => ({ op: 'settle' as const, reservation: null, event })),
    );
    const writes = join(home, 'writes');
    writeFileSync(writes, '');
    const flusher = join(import.meta.dirname, '..', 'fixtures', 'spool-flusher.mjs');
    const runs = await Promise.all(
      Array.from({ length: 4 }, () =>
        promisify(execFile)(process.execPath, [flusher, dir, writes], { timeout: 60_000 }),
      ),
    );
    const results = runs.map((r) => JSON.parse(r.stdout) as { written: number; left: number });
    expect(results.reduce((a, r) => a + r.written, 0)).toBe(200);
    const ids = readFileSync(writes, 'utf8').split('\n').filter(Boolean);
    expect(ids).toHaveLength(200);
    expect(new Set(ids)).toEqual(new Set(events.map((e) => e.eventId)));
    expect(spoolFiles(dir)).toEqual([]);
  });

  it("keeps an operator's action on the host when the store does not answer, and says so", async () => {
    // A Postgres URL on a port nothing listens on: the store is away.
    const env = {
      BOT_BOTTLE_HOME: home,
      BOT_BOTTLE_LEDGER_URL: 'postgres://bb:secret-pw@127.0.0.1:1/ledger',
    };
    const said: string[] = [];
    await recordOperator(env, 's1', 's1-20261121-100000', 'cutoff', 'cut off by test', (l) =>
      said.push(l),
    );
    expect(said).toEqual([
      expect.stringMatching(
        /^ledger store did not take a write \(ledger store \(Postgres at 127\.0\.0\.1:1\): cannot be reached .*\); kept in .*ledger-spool\/commands\.jsonl until it answers$/,
      ),
    ]);
    expect(said.join('')).not.toContain('secret-pw');
    const kept = parseSpool(readFileSync(join(dir, 'commands.jsonl'), 'utf8')).entries;
    expect(
      kept.map((e) => (e.op === 'action' ? [e.action.action, e.action.identity] : [])),
    ).toEqual([['cutoff', 's1-20261121-100000']]);
  });
});
