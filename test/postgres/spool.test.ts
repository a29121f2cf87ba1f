import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresLedger } from '../../src/ledger/postgres.js';
import { spooled, spoolFiles } from '../../src/ledger/spool.js';
import { ev } from '../helpers/ledger-battery.js';
import {
  describePostgres,
  startPrivatePostgres,
  type PrivatePostgres,
} from '../helpers/postgres.js';

/**
 * The spool over a real Postgres server that goes away: a private cluster
 * (stopping it touches no other test's server).
 */
describePostgres('ledger spool over a Postgres store that goes away', () => {
  let pg: PrivatePostgres | undefined;
  let home: string;
  beforeAll(async () => {
    pg = await startPrivatePostgres();
    home = mkdtempSync(join(tmpdir(), 'bb-pgspool-'));
  });
  afterAll(() => {
    pg?.dispose();
    rmSync(home, { recursive: true, force: true });
  });

  it('refuses admission while the server is stopped, keeps usage on the host, and writes it once when it is back', async () => {
    if (pg === undefined) throw new Error('no private cluster');
    const dir = join(home, 'ledger-spool');
    const store = new PostgresLedger(pg.url, { connectTimeoutMs: 1000 });
    const logs: string[] = [];
    const s = spooled(store, { dir, name: 'p1-20261121-100000', log: (l) => logs.push(l) });
    const window = {
      scope: 'global:claude',
      filter: { provider: 'claude' as const },
      limit: 10_000,
      kind: 'budget' as const,
    };
    const held = await s.admit([window], 'p1', () => ({ reserve: 200 }));
    expect(held.reservation).not.toBeNull();
    await s.recordUsage(ev({ identity: 'p1-20261121-100000', slug: 'p1' }));
    pg.stop('fast');
    // Admission fails (the caller refuses); writes are kept in the spool.
    await expect(s.admit([window], 'p1', () => ({ reserve: 200 }))).rejects.toThrow(
      /ledger store \(Postgres at 127\.0\.0\.1:\d+\)/,
    );
    const settled = ev({ identity: 'p1-20261121-100000', slug: 'p1' });
    await s.settle(held.reservation, settled);
    await s.recordUsage(ev({ identity: 'p1-20261121-100000', slug: 'p1' }));
    expect(spoolFiles(dir)).toHaveLength(1);
    expect(logs[0]).toMatch(/^ledger store did not take a write \(ledger store \(Postgres at/);
    expect((await s.flush()).left).toBe(2);
    pg.start();
    expect(await s.flush()).toMatchObject({ written: 2, left: 0 });
    expect(spoolFiles(dir)).toEqual([]);
    expect(await s.totals({ identity: 'p1-20261121-100000' })).toMatchObject({
      events: 3,
      tokens: 330,
    });
    // The settle freed its reservation.
    expect(await s.reserved('global:claude')).toBe(0);
    // Written again (a crash before the spool was emptied): the store keeps one.
    await store.settle(held.reservation, settled);
    expect((await s.totals({ identity: 'p1-20261121-100000' })).events).toBe(3);
    await s.close();
  });
});
