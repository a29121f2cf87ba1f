import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresLedger } from '../../src/ledger/postgres.js';
import type { RecordedRequest } from '../fixtures/fake-llm.js';
import { bottleRepo, runBin, useFakeUpstream, type BinRun } from '../helpers/bottle-repo.js';
import type { Fixture } from '../helpers/fixture.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { describeRemote, remote } from '../helpers/remote-engine.js';

interface LaunchRec {
  outcome: string;
  slug: string;
  identity: string;
  output: string;
}

interface UsageJson {
  host: string | null;
  launches: { identity: string; host: string; remote: boolean; state: string; events: number }[];
}

const BUDGET = 600;

async function until(what: string, ok: () => Promise<boolean>, ms = 300_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Two hosts, one store: this machine's engine and the second engine (which
 * shares no files with it) each run a headless Claude Code bottle, each
 * launched with its own home and host name, both pointed at one Postgres
 * ledger with one global team budget. The fake upstream keeps both agents
 * calling (LOOP) until the budget cuts them.
 */
describeRemote('two hosts on one shared ledger store and one team budget', () => {
  const upstream = useFakeUpstream();
  let db: TestDatabase | undefined;
  const fixtures: Fixture[] = [];
  beforeAll(async () => {
    db = await freshDatabase('bbt_fleet');
  });
  afterAll(async () => {
    for (const fx of fixtures.splice(0)) fx.cleanup();
    await db?.drop();
  });

  it('cuts the bottles of both hosts when the team budget is used up, and the store holds exactly what the upstream served', async () => {
    if (remote === undefined || db === undefined) throw new Error('no remote engine or store');
    const url = db.url;
    const hostA = bottleRepo(upstream().port, {
      env: { BOT_BOTTLE_LEDGER_URL: url, BOT_BOTTLE_HOST_NAME: 'host-a' },
    });
    const hostB = bottleRepo(upstream().port, {
      runtime: 'runc',
      upstream: remote.upstreamAddress,
      env: {
        DOCKER_HOST: remote.dockerHost,
        BOT_BOTTLE_LEDGER_URL: url,
        BOT_BOTTLE_HOST_NAME: 'host-b',
      },
    });
    fixtures.push(hostA, hostB);
    for (const fx of [hostA, hostB]) {
      // Output caps off: calls are admitted until the budget is crossed, as this test counts.
      writeFileSync(join(fx.home, 'settings.yml'), `budget:\n  claude: ${BUDGET}\n  cap: false\n`);
    }
    // The second engine's containers reach this machine through its own address.
    const remoteFrom = new URL(remote.dockerHost.replace(/^tcp:/, 'http:')).hostname;
    const served0 = { ...upstream().served };
    const seen0 = upstream().requests.length;
    const start = (fx: Fixture, label: string): Promise<BinRun> =>
      runBin(fx, [
        'start',
        'claude',
        '--headless',
        '--prompt',
        // A few seconds a turn: neither host uses up the budget while the other starts.
        'LOOP: sleep 3; echo tick',
        '--label',
        label,
        '--json',
      ]);

    const store = new PostgresLedger(url);
    try {
      // The second host first (its engine is slower to start); this host
      // joins once the second host's usage is in the store.
      const runB = start(hostB, 'fleet-b');
      let endedB: BinRun | undefined;
      void runB.then((r) => (endedB = r));
      await until('the second host’s first call', async () => {
        if (endedB !== undefined) {
          throw new Error(`host-b ended early:\n${endedB.stdout}\n${endedB.stderr}`);
        }
        return (await store.totals({ host: 'host-b' })).events > 0;
      });
      const runA = start(hostA, 'fleet-a');
      const [a, b] = await Promise.all([runA, runB]);
      const recs = [a, b].map((r) => JSON.parse(r.stdout) as LaunchRec);
      for (const [i, rec] of recs.entries()) {
        const run = [a, b][i];
        expect(rec.output, `${run?.stdout ?? ''}\n${run?.stderr ?? ''}`).toContain(
          `global claude budget (per day) of ${BUDGET} tokens is used up`,
        );
        expect(rec.output).toContain('429');
        expect(await store.actions({ identity: rec.identity })).toEqual([
          expect.objectContaining({ action: 'cutoff', scope: 'global:claude', limit: BUDGET }),
        ]);
      }

      // What the upstream served, per host, against the store's rows.
      const metered = upstream()
        .requests.slice(seen0)
        .filter(
          (q: RecordedRequest) => q.method === 'POST' && q.path.split('?')[0] === '/v1/messages',
        );
      const servedCalls = upstream().served.calls - served0.calls;
      const servedTokens =
        upstream().served.inputTokens -
        served0.inputTokens +
        upstream().served.outputTokens -
        served0.outputTokens;
      expect(metered).toHaveLength(servedCalls);
      const fromB = metered.filter((q) => q.from === remoteFrom).length;
      const fromA = servedCalls - fromB;
      const where = `calls from ${JSON.stringify(metered.map((q) => q.from))}; host-b is ${remoteFrom}`;
      expect(fromA, where).toBeGreaterThan(0);
      expect(fromB).toBeGreaterThan(0);
      expect(await store.totals({})).toMatchObject({ events: servedCalls, tokens: servedTokens });
      expect((await store.totals({ host: 'host-a' })).events).toBe(fromA);
      expect((await store.totals({ host: 'host-b' })).events).toBe(fromB);
      // Admission through the shared store overshoots by at most a call per host in flight.
      expect(servedTokens).toBeGreaterThanOrEqual(BUDGET);
      expect(servedTokens).toBeLessThan(BUDGET + 2 * 19 + 19);
      expect(await store.reserved('global:claude')).toBe(0);

      // Either host's `usage` lists both launches, each with its host.
      const usage = async (fx: Fixture, ...args: string[]): Promise<UsageJson> => {
        const r = await runBin(fx, ['usage', '--json', ...args]);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as UsageJson;
      };
      const [recA, recB] = recs;
      const fromHostA = await usage(hostA);
      expect(fromHostA.launches).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            identity: recA?.identity,
            host: 'host-a',
            remote: false,
            events: fromA,
          }),
          expect.objectContaining({
            identity: recB?.identity,
            host: 'host-b',
            remote: true,
            events: fromB,
          }),
        ]),
      );
      const onlyB = await usage(hostA, '--host', 'host-b');
      expect(onlyB.launches.map((l) => l.identity)).toEqual([recB?.identity]);
      const fromHostB = await usage(hostB);
      expect(fromHostB.launches.find((l) => l.identity === recA?.identity)).toMatchObject({
        host: 'host-a',
        remote: true,
      });
    } finally {
      await store.close();
    }
  });
});
