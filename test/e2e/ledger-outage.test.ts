import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresLedger } from '../../src/ledger/postgres.js';
import { parseSpool } from '../../src/ledger/spool-format.js';
import { bottleRepo, runBin, useFakeUpstream, type BinRun } from '../helpers/bottle-repo.js';
import { describeDocker } from '../helpers/docker.js';
import type { Fixture } from '../helpers/fixture.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/postgres.js';

interface LaunchRec {
  outcome: string;
  slug: string;
  identity: string;
  output: string;
}

interface UsageJson {
  launches: { identity: string; host: string; events: number; tokens: number }[];
}

async function until(what: string, ok: () => boolean, ms = 240_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The shared store goes away while a bottle runs: the real Claude Code CLI
 * in a bottle whose ledger is a private Postgres cluster (stopping it
 * touches no other test), over the fake upstream, which keeps the agent
 * calling (LOOP). While the store is down metered calls are refused, the
 * call in flight keeps its usage on the host, and once the store is back
 * that usage lands exactly once.
 */
describeDocker('a shared ledger store that goes away mid-run', () => {
  const upstream = useFakeUpstream();
  let pg: PrivatePostgres | undefined;
  let fx: Fixture | undefined;
  beforeAll(async () => {
    pg = await startPrivatePostgres();
  });
  afterAll(() => {
    fx?.cleanup();
    pg?.dispose();
  });

  const metered = (): number =>
    upstream().requests.filter(
      (q) => q.method === 'POST' && q.path.split('?')[0] === '/v1/messages',
    ).length;

  it('refuses metered calls while the store is down, spools the call in flight, and writes it once when the store is back', async () => {
    if (pg === undefined) throw new Error('no private Postgres cluster');
    const store = pg;
    fx = bottleRepo(upstream().port, {
      env: { BOT_BOTTLE_LEDGER_URL: store.url, BOT_BOTTLE_HOST_NAME: 'outage-host' },
    });
    const repo = fx;
    const home = fx.home;
    writeFileSync(join(home, 'settings.yml'), 'budget:\n  claude: 1000000\n');
    const served0 = { ...upstream().served };

    const run: Promise<BinRun> = runBin(fx, [
      'start',
      'claude',
      '--headless',
      '--prompt',
      'LOOP: echo tick',
      '--label',
      'store-outage',
      '--json',
    ]);
    let ended: BinRun | undefined;
    void run.then((r) => (ended = r));
    await until('three answered calls', () => {
      if (ended !== undefined)
        throw new Error(`the run ended early:\n${ended.stdout}\n${ended.stderr}`);
      return upstream().served.calls - served0.calls >= 3;
    });

    // A call is in flight (admitted, at the upstream) when the store stops.
    const release = upstream().pause();
    const before = metered();
    await until('a call in flight', () => metered() > before, 60_000);
    store.stop('fast');
    const downAt = Date.now();
    release();

    const r = await run;
    // Claude Code stops on the refusal (exit 1: an API error it does not retry).
    const rec = JSON.parse(r.stdout) as LaunchRec;
    expect(rec.outcome).toBe('ended');
    // The next call was refused in the API's shape, naming the store (its password hidden).
    expect(rec.output).toContain('503');
    expect(rec.output).toMatch(
      /the usage ledger \(postgres:\/\/botbottle:\*\*\*@127\.0\.0\.1:\d+\/postgres\) did not answer/,
    );
    expect(rec.output).not.toContain(store.url);
    // Nothing reached the upstream while the store was down.
    const whileDown = upstream().requests.filter(
      (q) => q.method === 'POST' && q.path.startsWith('/v1/messages') && q.at > downAt,
    );
    expect(whileDown).toEqual([]);
    const log = await runBin(fx, ['egress', 'log', rec.identity, '--json']);
    expect(log.stdout).toContain('"rule":"budget-unavailable"');

    // The call in flight kept its usage on the host.
    const spoolDir = join(home, 'ledger-spool');
    const files = readdirSync(spoolDir).filter((n) => n.endsWith('.jsonl'));
    expect(files).toEqual([`${rec.identity}.jsonl`]);
    const spooled = parseSpool(readFileSync(join(spoolDir, files[0] ?? ''), 'utf8')).entries;
    expect(spooled.map((e) => e.op)).toEqual(['settle']);

    // The store is back: the next command writes the spool, once.
    store.start();
    const served = {
      calls: upstream().served.calls - served0.calls,
      tokens:
        upstream().served.inputTokens -
        served0.inputTokens +
        upstream().served.outputTokens -
        served0.outputTokens,
    };
    const usage = async (): Promise<UsageJson['launches'][number] | undefined> => {
      const u = await runBin(repo, ['usage', '--json']);
      expect(u.code, u.stderr).toBe(0);
      return (JSON.parse(u.stdout) as UsageJson).launches.find((l) => l.identity === rec.identity);
    };
    expect(await usage()).toMatchObject({
      host: 'outage-host',
      events: served.calls,
      tokens: served.tokens,
    });
    expect(existsSync(join(spoolDir, files[0] ?? ''))).toBe(false);
    expect(await usage()).toMatchObject({ events: served.calls, tokens: served.tokens });
    // The store's own rows say the same.
    const ledger = new PostgresLedger(store.url);
    try {
      expect(await ledger.totals({ identity: rec.identity })).toMatchObject({
        events: served.calls,
        tokens: served.tokens,
      });
      expect(await ledger.reserved('global:claude')).toBe(0);
    } finally {
      await ledger.close();
    }

    // New calls are admitted again.
    const again = await runBin(fx, [
      'start',
      'claude',
      '--headless',
      '--prompt',
      'say hi',
      '--json',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as LaunchRec).output).toContain(
      'hello from the fake upstream',
    );
  });
});
