import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { expect, it } from 'vitest';
import { PostgresLedger } from '../src/ledger/postgres.js';
import { SqliteLedger } from '../src/ledger/sqlite.js';
import type { LedgerStore } from '../src/ledger/types.js';
import { freshDatabase, testbedUrl } from '../test/helpers/postgres.js';

/**
 * Ledger write rate and admission latency, SQLite against Postgres in one
 * run: one writer process, 8 concurrent writer processes (each event its
 * own transaction, as controllers write them), and 8 processes admitting
 * calls (reserve, then settle) against one budget, each admission timed;
 * then one process admitting alone, for the latency without contention.
 * Postgres is the test bed's server (scripts/testbed-postgres.sh), a new
 * database per measurement; every number is also shown as a ratio to
 * SQLite's in the same run. The writer is the test fixture the ledger tests
 * use (needs `npm run build`).
 */

const WRITER = join(import.meta.dirname, '..', 'test', 'fixtures', 'ledger-writer.mjs');

interface Run {
  ms: number;
  admitMs: number[];
}

function writers(
  store: string,
  n: number,
  each: number,
  mode: string,
  limit?: number,
): Promise<Run> {
  const t0 = performance.now();
  const admitMs: number[] = [];
  return Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const args = [
            WRITER,
            store,
            String(each),
            mode,
            `${mode}-${i}`,
            ...(limit === undefined ? [] : [String(limit)]),
          ];
          const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.on('close', (code) => {
            const line = out.split('\n').find((l) => l.startsWith('admit-ms '));
            if (line !== undefined) admitMs.push(...(JSON.parse(line.slice(9)) as number[]));
            if (code === 0) resolve();
            else reject(new Error(`writer exited ${String(code)}`));
          });
        }),
    ),
  ).then(() => ({ ms: performance.now() - t0, admitMs }));
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

interface StoreResult {
  one: number;
  eight: number;
  admit: number;
  p50: number;
  p99: number;
  solo50: number;
  solo99: number;
}

/** The measurements on one kind of store; `fresh` makes an empty one and returns its cleanup. */
async function measure(
  fresh: () => Promise<{ target: string; open: () => LedgerStore; drop: () => Promise<void> }>,
  total: number,
  admits: number,
): Promise<StoreResult> {
  const rate = (events: number, ms: number): number => events / (ms / 1000);
  const run = async <T>(
    fn: (target: string, open: () => LedgerStore) => Promise<T>,
  ): Promise<T> => {
    const s = await fresh();
    try {
      await s.open().close();
      return await fn(s.target, s.open);
    } finally {
      await s.drop();
    }
  };
  const one = await run(async (t) => rate(total, (await writers(t, 1, total, '1')).ms));
  const eight = await run(async (t, open) => {
    const r = rate(total, (await writers(t, 8, total / 8, '1')).ms);
    const l = open();
    expect((await l.totals({})).events).toBe(total);
    await l.close();
    return r;
  });
  const admitted = await run((t) => writers(t, 8, admits / 8, 'admit', 1e12));
  const solo = await run((t) => writers(t, 1, admits / 8, 'admit', 1e12));
  return {
    solo50: quantile(solo.admitMs, 0.5),
    solo99: quantile(solo.admitMs, 0.99),
    one,
    eight,
    admit: rate(admits, admitted.ms),
    p50: quantile(admitted.admitMs, 0.5),
    p99: quantile(admitted.admitMs, 0.99),
  };
}

it('writes usage and admits calls from 8 processes at once, SQLite and Postgres', async () => {
  const total = Number(process.env.BENCH_LEDGER_EVENTS ?? 16_000);
  const admits = Number(process.env.BENCH_LEDGER_ADMITS ?? 8_000);
  const dir = mkdtempSync(join(tmpdir(), 'bb-ledger-bench-'));
  let k = 0;
  try {
    const sqlite = await measure(
      () => {
        const target = join(dir, `l${String(k++)}.db`);
        return Promise.resolve({
          target,
          open: () => new SqliteLedger(target),
          drop: () => Promise.resolve(),
        });
      },
      total,
      admits,
    );
    const pgUrl = testbedUrl();
    const postgres =
      pgUrl === undefined
        ? undefined
        : await measure(
            async () => {
              const db = await freshDatabase('bbbench');
              return { target: db.url, open: () => new PostgresLedger(db.url), drop: db.drop };
            },
            total,
            admits,
          );
    const f = (x: number): string => x.toFixed(0);
    const ms = (x: number): string => `${x.toFixed(2)} ms`;
    const ratio = (x: number, base: number): string => `${(x / base).toFixed(2)}x`;
    const rows: [string, (r: StoreResult) => number, (x: number) => string][] = [
      ['1 writer, events/s', (r) => r.one, f],
      ['8 concurrent writer processes, events/s', (r) => r.eight, f],
      ['8 processes admitting (reserve, settle), calls/s', (r) => r.admit, f],
      ['admission latency p50 (1 process)', (r) => r.solo50, ms],
      ['admission latency p99 (1 process)', (r) => r.solo99, ms],
      ['admission latency p50 (8 processes)', (r) => r.p50, ms],
      ['admission latency p99 (8 processes)', (r) => r.p99, ms],
    ];
    let out = `\nledger, ${String(total)} usage events (one transaction each), ${String(admits)} admitted calls:\n`;
    for (const [name, get, fmt] of rows) {
      const base = get(sqlite);
      out += `  ${name.padEnd(50)} SQLite ${fmt(base).padStart(9)}`;
      out +=
        postgres === undefined
          ? '  Postgres (no test bed: scripts/testbed-postgres.sh)\n'
          : `  Postgres ${fmt(get(postgres)).padStart(9)} (${ratio(get(postgres), base)} of SQLite)\n`;
    }
    process.stdout.write(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 1_200_000);
