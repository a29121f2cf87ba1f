import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.js';
import {
  CONTROLLER_SOCKET_NAME,
  messageReader,
  sidecarMessageSchema,
  type ControllerMessage,
  type SidecarMessage,
} from '../egress/link-protocol.js';
import type { CutoffPolicy } from '../manifest/schema.js';
import type { EnforcementAction, LedgerStore, UsageEvent } from '../ledger/types.js';
import { botBottleHome } from '../paths.js';
import type { BottlePlan } from '../plan/schema.js';
import { answeredCall, unmeteredCharge } from '../egress/admission.js';
import type { MeteredApi, Usage } from '../egress/meter.js';
import { bottleNames, budgetWindow, describeBudget } from './budget.js';
import { operatorCutoff } from './enforcement.js';

/**
 * The controller's end of the link to its bottle's egress sidecar: a unix
 * socket in ~/.bot-bottle/run/<slug>/, bind-mounted into the sidecar only.
 * It admits metered calls against the effective budget (reserving before
 * they leave), writes their usage to the ledger, and fires the bottle's
 * cutoff policy the first time the budget is found used up.
 */

/** The uid/gid the sidecar runs as: the invoking user's own, or nobody when that is root. */
export function sidecarIds(): { uid: number; gid: number } {
  const uid = process.getuid?.() ?? 65534;
  const gid = process.getgid?.() ?? 65534;
  return uid === 0 ? { uid: 65534, gid: 65534 } : { uid, gid };
}

export function controllerDir(env: NodeJS.ProcessEnv, slug: string): string {
  return join(botBottleHome(env), 'run', slug);
}

/** sockaddr_un holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

/** An admitted call in flight: its reservation (none without a budget) and what it was admitted as. */
interface Held {
  reservation: number | null;
  api: MeteredApi;
  estimate: number;
}

export interface Crossing {
  policy: CutoffPolicy;
  action: EnforcementAction;
}

export interface ControlServer {
  dir: string;
  socketPath: string;
  /** The agent runs now: carry out policies and check shared budgets periodically. */
  armed(): void;
  /** The agent has ended: record crossings from now on, but carry nothing out. */
  disarmed(): void;
  /** Resolves when no enforcement is in progress. */
  idle(): Promise<void>;
  /** kind -> secrets redacted from this run's LLM requests. */
  redactions(): Record<string, number>;
  close(): Promise<void>;
}

export interface ControlServerOptions {
  env: NodeJS.ProcessEnv;
  ledger: LedgerStore;
  plan: BottlePlan;
  identity: string;
  startedAt: string;
  /** Carries out freeze or kill (cutoff needs nothing beyond refusing admissions). */
  enforce: (c: Crossing) => Promise<void>;
  log: (line: string) => void;
  /** How often an idle bottle checks a shared budget; tests shorten it. */
  pollMs?: number;
}

export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  const { plan, ledger, identity } = o;
  const slug = plan.slug;
  const dir = controllerDir(o.env, slug);
  const socketPath = join(dir, CONTROLLER_SOCKET_NAME);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new EnvironmentError(
      `the controller socket path ${socketPath} is longer than the ${MAX_SOCKET_PATH} bytes a unix socket allows`,
      'set BOT_BOTTLE_HOME to a shorter directory',
    );
  }
  // The directory becomes a docker --mount value, which is comma-separated.
  if (/[,"'\n\r]/.test(dir)) {
    throw new EnvironmentError(
      `the controller directory ${JSON.stringify(dir)} contains a comma, quote or newline, which docker mounts cannot carry`,
      'set BOT_BOTTLE_HOME to a plainer directory',
    );
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Slugs are unique among running bottles: a socket here is a crashed controller's.
  rmSync(socketPath, { force: true });
  const ids = sidecarIds();
  const bottles = bottleNames(plan);
  const launch = { identity, startedAt: new Date(o.startedAt).toISOString() };

  let fired = false;
  const redacted: Record<string, number> = {};
  /** Between `armed()` and `disarmed()`: the agent runs, policies are carried out. */
  let live = false;
  let enforcing: Promise<void> = Promise.resolve();
  const fire = (used: number, limit: number, scope: string): void => {
    if (fired) return;
    fired = true;
    const action: EnforcementAction = {
      at: new Date().toISOString(),
      slug,
      identity,
      action: plan.cutoff.policy,
      scope,
      used,
      limit,
      reason: `${describeBudget(plan)} of ${limit} tokens used up (${used} used)`,
    };
    // After the agent has ended the session saves and removes the bottle
    // itself; a freeze or kill then would race it. The row still records it.
    const act = live;
    if (!act) action.reason += ' (after the agent ended: nothing left to stop)';
    o.log(`${slug}: ${action.reason}; cutoff policy '${plan.cutoff.policy}'`);
    enforcing = ledger
      .recordAction(action)
      .then(() => (act ? o.enforce({ policy: plan.cutoff.policy, action }) : undefined))
      .catch((e: unknown) => {
        o.log(
          `${slug}: enforcing '${plan.cutoff.policy}' failed: ${e instanceof Error ? e.message : String(e)}`,
        );
      });
  };

  /** Checks the budget without admitting anything (after usage, and periodically). */
  const check = async (): Promise<void> => {
    const w = budgetWindow(plan, launch, new Date());
    if (w === undefined || fired || closed) return;
    const used = await ledger.used(w.filter);
    if (used >= w.limit) fire(used, w.limit, w.scope);
  };

  const admit = async (
    m: Extract<SidecarMessage, { t: 'admit' }>,
    held: Map<number, Held>,
  ): Promise<ControllerMessage> => {
    const refuse = (
      kind: 'exhausted' | 'held' | 'cutoff',
      message: string,
      retryAfter?: number,
    ): ControllerMessage => ({
      t: 'admit',
      id: m.id,
      ok: false,
      kind,
      message,
      ...(retryAfter === undefined ? {} : { retryAfter }),
    });
    if (await operatorCutoff(ledger, identity, launch.startedAt)) {
      return refuse(
        'cutoff',
        `an operator cut off metered API calls for bottle ${slug} (\`bot-bottle cutoff ${slug} --lift\` restores them)`,
      );
    }
    const w = budgetWindow(plan, launch, new Date());
    if (w === undefined) {
      held.set(m.id, { reservation: null, api: m.api, estimate: m.estimate });
      return { t: 'admit', id: m.id, ok: true };
    }
    const r = await ledger.admit(w, slug, m.estimate);
    if (r.verdict === 'admitted') {
      held.set(m.id, { reservation: r.reservation, api: m.api, estimate: m.estimate });
      return { t: 'admit', id: m.id, ok: true };
    }
    if (r.verdict === 'held') {
      return refuse(
        'held',
        `the ${describeBudget(plan)} (${w.limit} tokens, ${r.used} used) is held by calls in flight; retry shortly`,
        2,
      );
    }
    fire(r.used, w.limit, w.scope);
    return refuse(
      'exhausted',
      `the ${describeBudget(plan)} of ${w.limit} tokens is used up (${r.used} used); ` +
        `bottle ${slug} may make no more ${plan.budget.provider} API calls`,
    );
  };

  const record = async (reservation: number | null, u: Usage): Promise<void> => {
    const event: UsageEvent = {
      ...u,
      at: new Date().toISOString(),
      slug,
      identity,
      agent: plan.agent.name,
      provider: plan.budget.provider,
      bottles,
    };
    await ledger.settle(reservation, event);
    await check();
  };

  const usage = async (
    m: Extract<SidecarMessage, { t: 'usage' }>,
    held: Map<number, Held>,
  ): Promise<void> => {
    const h = m.id === null ? undefined : held.get(m.id);
    if (m.id !== null) held.delete(m.id);
    // Unread usage is charged at least what admission estimated for the call.
    const u = m.usage.unmetered ? unmeteredCharge(m.usage.api, h?.estimate ?? 0, m.usage) : m.usage;
    await record(h?.reservation ?? null, u);
  };

  /** A call that ended without usage: charged its estimate if the upstream took it, else freed. */
  const release = async (
    m: Extract<SidecarMessage, { t: 'release' }>,
    held: Map<number, Held>,
  ): Promise<void> => {
    const h = held.get(m.id);
    held.delete(m.id);
    if (h === undefined) return;
    if (answeredCall(m.status)) {
      await record(h.reservation, unmeteredCharge(h.api, h.estimate));
    } else if (h.reservation !== null) {
      await ledger.release(h.reservation);
    }
  };

  /** Serves one sidecar connection; resolves when it is closed and its work is done. */
  const serve = (sock: Socket): Promise<void> => {
    // Calls admitted on this connection; their reservations are released if it drops mid-call.
    const held = new Map<number, Held>();
    let chain: Promise<void> = Promise.resolve();
    const handle = async (m: SidecarMessage): Promise<void> => {
      if (m.t === 'hello') return;
      if (m.t === 'admit') {
        const reply = await admit(m, held);
        if (!sock.destroyed) sock.write(`${JSON.stringify(reply)}\n`);
      } else if (m.t === 'usage') {
        await usage(m, held);
      } else if (m.t === 'redacted') {
        for (const [k, n] of Object.entries(m.counts)) redacted[k] = (redacted[k] ?? 0) + n;
        await ledger.recordRedactions({
          at: new Date().toISOString(),
          slug,
          identity,
          counts: m.counts,
        });
      } else {
        await release(m, held);
      }
    };
    sock.on(
      'data',
      messageReader(sidecarMessageSchema, {
        message: (m) => {
          // One at a time per connection: a call's usage never overtakes its admission.
          chain = chain.then(() =>
            handle(m).catch((e: unknown) => {
              o.log(`${slug}: ledger error: ${e instanceof Error ? e.message : String(e)}`);
            }),
          );
        },
        bad: () => {
          o.log(`${slug}: ignored a malformed message from the egress sidecar`);
        },
        tooLong: () => {
          o.log(`${slug}: the egress sidecar sent an oversized line; dropping its connection`);
          sock.destroy();
        },
      }),
    );
    sock.on('error', () => undefined);
    return new Promise<void>((resolve) => {
      sock.on('close', () => {
        chain = chain.then(async () => {
          for (const h of held.values()) {
            if (h.reservation !== null) await ledger.release(h.reservation);
          }
          held.clear();
        });
        void chain.finally(resolve);
      });
    });
  };

  const open = new Map<Socket, Promise<void>>();
  const server: Server = createServer((sock) => {
    const done = serve(sock);
    open.set(sock, done);
    void done.then(() => open.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  if (process.getuid?.() === 0) {
    // Root on the host: hand the socket to the unprivileged user the sidecar runs as.
    chownSync(dir, ids.uid, ids.gid);
    chownSync(socketPath, ids.uid, ids.gid);
  }

  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  return {
    dir,
    socketPath,
    armed() {
      live = true;
      timer ??= setInterval(() => {
        void check().catch(() => undefined);
      }, o.pollMs ?? 2000);
      timer.unref();
    },
    disarmed() {
      live = false;
    },
    idle: () => enforcing,
    redactions: () => ({ ...redacted }),
    async close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      const draining = [...open.values()];
      for (const s of open.keys()) s.destroy();
      await Promise.all([...draining, enforcing]);
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
