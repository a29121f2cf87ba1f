import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchDocument } from '../../src/controller/pod-launch.js';
import {
  PodStartError,
  podConfig,
  startPodController,
  type RunningController,
} from '../../src/controller/pod-controller.js';
import { listenController, type ControllerLink } from '../../src/egress/controller-link.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import type { LedgerStore } from '../../src/ledger/types.js';
import type { BottlePlan } from '../../src/plan/schema.js';
import { k8sFixture } from '../helpers/k8s-bottle.js';

/**
 * The in-cluster controller's start (what it refuses, with what message
 * and exit code) and its link to the egress container over a unix socket,
 * as in the proxy pod. The store is SQLite here; the integration test runs
 * it against Postgres in its container.
 */

const URL = 'postgres://bb:pw@10.0.5.7:5432/ledger';
let dir: string;
let plan: BottlePlan;

beforeAll(async () => {
  const fx = k8sFixture();
  try {
    const r = await fx.run(['start', 'a', '--dry-run', '--json', '--budget', '10']);
    if (r.code !== 0) throw new Error(r.stdout + r.stderr);
    plan = JSON.parse(r.stdout) as BottlePlan;
    // Output caps off: the first call crosses the 10-token budget and the next is refused.
    plan.budget.capping = { enabled: false, floor: 1024 };
  } finally {
    fx.cleanup();
  }
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bb-pod-ctl-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function launchFile(p: BottlePlan = plan, text?: string): string {
  files += 1;
  const file = join(dir, `launch-${files}.json`);
  writeFileSync(file, text ?? launchDocument(p, 'a-20261201-120000', '2026-12-01T12:00:00.000Z'));
  return file;
}

function env(over: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    BOT_BOTTLE_LEDGER_URL: URL,
    BOT_BOTTLE_CONTROLLER_LAUNCH: over.BOT_BOTTLE_CONTROLLER_LAUNCH ?? launchFile(),
    BOT_BOTTLE_CONTROLLER_SOCKET: join(dir, 'controller.sock'),
    ...over,
  };
}

function refusal(e: NodeJS.ProcessEnv): PodStartError {
  try {
    podConfig(e);
  } catch (err) {
    if (err instanceof PodStartError) return err;
    throw err;
  }
  throw new Error('podConfig accepted it');
}

describe('in-cluster controller start', () => {
  it('refuses to start without the shared store, saying what it needs (exit 2)', () => {
    const e = refusal(env({ BOT_BOTTLE_LEDGER_URL: '' }));
    expect(e.code).toBe(2);
    expect(e.message).toContain('BOT_BOTTLE_LEDGER_URL is not set');
    expect(e.message).toContain('needs the shared Postgres store');
    const sqlite = refusal(env({ BOT_BOTTLE_LEDGER_URL: 'sqlite:///var/lib/x.db' }));
    expect(sqlite.message).toContain('must be a postgres:// or postgresql:// URL');
  });

  it('refuses a missing or malformed launch file, naming the file and the field', () => {
    const missing = refusal(env({ BOT_BOTTLE_CONTROLLER_LAUNCH: join(dir, 'nope.json') }));
    expect(missing.message).toContain(`cannot read the launch file ${join(dir, 'nope.json')}`);
    const bad = refusal(
      env({ BOT_BOTTLE_CONTROLLER_LAUNCH: launchFile(plan, '{"schemaVersion":1}') }),
    );
    expect(bad.code).toBe(2);
    expect(bad.message).toMatch(/launch file .*launch-\d+\.json: identity/);
  });

  it('refuses freeze and kill: it can carry out cutoff only', () => {
    const freeze = { ...plan, cutoff: { ...plan.cutoff, policy: 'freeze' as const } };
    const e = refusal(env({ BOT_BOTTLE_CONTROLLER_LAUNCH: launchFile(freeze) }));
    expect(e.message).toContain("cutoff policy 'freeze' cannot be carried out in a cluster");
  });

  it('stops with exit 3 when the store does not answer, never linking', async () => {
    const dead: LedgerStore = {
      schemaVersion: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.5.7:5432')),
      close: () => Promise.resolve(),
    } as unknown as LedgerStore;
    const err = await startPodController(podConfig(env({})), {}, () => undefined, {
      openStore: () => dead,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PodStartError);
    expect((err as PodStartError).code).toBe(3);
    expect((err as PodStartError).message).toContain('the shared store does not answer');
    expect((err as PodStartError).message).toContain('ECONNREFUSED');
  });
});

describe('in-cluster controller link', () => {
  let link: ControllerLink | undefined;
  let running: RunningController | undefined;
  afterEach(async () => {
    await running?.stop();
    link?.close();
    running = undefined;
    link = undefined;
  });

  it('links to a proxy that starts after it, and refuses a call over budget with the budget named', async () => {
    const cfg = podConfig(env({}));
    const lines: string[] = [];
    running = await startPodController(cfg, { BOT_BOTTLE_HOME: dir }, (l) => lines.push(l), {
      openStore: () => new SqliteLedger(join(dir, 'ledger.db')),
      retryMs: 20,
    });
    // The socket is not there yet: the controller keeps trying.
    await new Promise((r) => setTimeout(r, 100));
    link = listenController({ socketPath: cfg.socketPath, slug: plan.slug });
    await running.linked;
    expect(lines.some((l) => l.includes('linked to the egress container'))).toBe(true);
    const first = await link.admit({
      api: 'anthropic-messages',
      host: 'api.anthropic.com',
      estimate: 1,
    });
    expect(first.ok).toBe(true);
    if (first.ok) {
      first.ticket.answered(200);
      first.ticket.usage({
        api: 'anthropic-messages',
        model: 'm',
        requestId: null,
        inputTokens: 12,
        outputTokens: 7,
        cacheCreationTokens: 0,
        cacheReadTokens: 0,
        estimated: false,
        unmetered: false,
      });
    }
    await new Promise((r) => setTimeout(r, 200));
    const second = await link.admit({
      api: 'anthropic-messages',
      host: 'api.anthropic.com',
      estimate: 1,
    });
    expect(second.ok).toBe(false);
    if (!second.ok) {
      expect(second.refusal.kind).toBe('exhausted');
      expect(second.refusal.message).toContain('of 10 tokens is used up (19 used)');
    }
  });
});
