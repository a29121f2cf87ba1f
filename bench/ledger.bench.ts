import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { expect, it } from 'vitest';
import { SqliteLedger } from '../src/ledger/sqlite.js';

/**
 * Ledger write rate: one writer process vs 8 concurrent writer processes on
 * the same SQLite file (WAL, busy timeout), each event its own transaction,
 * as controllers write them; and admission (reserve + settle) the same way.
 * The writer is the test fixture the ledger tests use (needs `npm run build`).
 */

const WRITER = join(import.meta.dirname, '..', 'test', 'fixtures', 'ledger-writer.mjs');

function writers(
  db: string,
  n: number,
  each: number,
  mode: string,
  limit?: number,
): Promise<number> {
  const t0 = performance.now();
  return Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const args = [
            WRITER,
            db,
            String(each),
            mode,
            `${mode}-${i}`,
            ...(limit === undefined ? [] : [String(limit)]),
          ];
          const c = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
          c.on('exit', (code) => {
            if (code === 0) resolve();
            else reject(new Error(`writer exited ${String(code)}`));
          });
        }),
    ),
  ).then(() => performance.now() - t0);
}

it('writes usage from 8 processes at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bb-ledger-bench-'));
  try {
    const total = Number(process.env.BENCH_LEDGER_EVENTS ?? 16_000);
    const rate = (events: number, ms: number): number => events / (ms / 1000);
    const db1 = join(dir, 'one.db');
    const db8 = join(dir, 'eight.db');
    const dbA = join(dir, 'admit.db');
    for (const db of [db1, db8, dbA]) await new SqliteLedger(db).close();
    const one = rate(total, await writers(db1, 1, total, '1'));
    const eight = rate(total, await writers(db8, 8, total / 8, '1'));
    const admit = rate(total, await writers(dbA, 8, total / 8, 'admit', 1e12));
    const l = new SqliteLedger(db8);
    expect((await l.totals({})).events).toBe(total);
    await l.close();
    process.stdout.write(
      `\nledger, ${total} usage events, one transaction each: 1 writer ${one.toFixed(0)} events/s; ` +
        `8 concurrent writer processes ${eight.toFixed(0)} events/s (${(eight / one).toFixed(2)}x of one writer); ` +
        `8 processes admitting (reserve, then settle) ${admit.toFixed(0)} calls/s (${(admit / one).toFixed(2)}x)\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
