import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
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
import { ledgerHost } from '../ledger/host.js';
import { decideAdmission, DEFAULT_FLOOR, HELD_RETRY_S } from './admission-decision.js';
import {
  admissionWindows,
  bottleNames,
  budgetWindow,
  describeBudget,
  describeRate,
} from './budget.js';
import { operatorCutoff } from './operator-cutoff.js';

/**
 * The controller's end of the link to its bottle's egress sidecar. It owns
 * no socket: the caller attaches byte streams (the engine `exec` stream of
 * the sidecar's relay, see engine-link.ts) and this serves them. It admits metered calls against the effective budget (reserving before
 * they leave), writes their usage to the ledger, and fires the bottle's
 * cutoff policy the first time the budget is found used up.
 */

export function controllerDir(env: NodeJS.ProcessEnv, slug: string): string {
  return join(botBottleHome(env), 'run', slug);
}

/** An admitted call in flight: its reservation (none without a budget) and what it was admitted as. */
interface Held {
  reservation: string | null;
  api: MeteredApi;
  estimate: number;
  /** What admission did, recorded on the call's usage event. */
  inputEstimate: number | null;
  capRequested: number | null;
  capGranted: number | null;
}

export interface Crossing {
  policy: CutoffPolicy;
  action: EnforcementAction;
}

/** One connection to the sidecar: bytes in, bytes out. */
export interface LinkStream {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Ends the connection (an oversized line, or the controller closing). */
  destroy(): void;
}

export interface ControlServer {
  /** Serve one connection; resolves when it has closed and its work is done. */
  attach(stream: LinkStream): Promise<void>;
  /** Resolves when a sidecar has said hello on some connection. */
  linked(): Promise<void>;
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
  /** The ledger store as refusals name it (e.g. `postgres://db.example:5432/ledger`). */
  storeName?: string;
  /** How often an idle bottle checks a shared budget; tests shorten it. */
  pollMs?: number;
}

export function startControlServer(o: ControlServerOptions): ControlServer {
  const { plan, ledger, identity } = o;
  const slug = plan.slug;
  const dir = controllerDir(o.env, slug);
  const bottles = bottleNames(plan);
  const launch = { identity, startedAt: new Date(o.startedAt).toISOString() };
  const host = ledgerHost(o.env);
  const store = o.storeName ?? 'the configured store';

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
      kind: 'exhausted' | 'held' | 'cutoff' | 'rate',
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
    const now = new Date();
    const windows = admissionWindows(plan, launch, now);
    const asked = { inputEstimate: m.input ?? null, capRequested: m.cap ?? null };
    if (windows.length === 0) {
      held.set(m.id, {
        reservation: null,
        api: m.api,
        estimate: m.estimate,
        ...asked,
        capGranted: null,
      });
      return { t: 'admit', id: m.id, ok: true };
    }
    const capping = plan.budget.capping ?? { enabled: true, floor: DEFAULT_FLOOR };
    const { decision: d, reservation } = await ledger.admit(windows, slug, (states) =>
      decideAdmission(states, {
        estimate: m.estimate,
        input: m.input,
        cap: m.cap,
        minCap: m.minCap,
        capping: capping.enabled,
        floor: capping.floor,
        now: now.getTime(),
      }),
    );
    if (d.verdict === 'admitted') {
      held.set(m.id, {
        reservation,
        api: m.api,
        estimate: m.estimate,
        inputEstimate: m.input ?? d.input,
        capRequested: m.cap ?? null,
        capGranted: d.cap,
      });
      return { t: 'admit', id: m.id, ok: true, ...(d.cap === null ? {} : { cap: d.cap }) };
    }
    const w = d.state.window;
    const used = d.state.used;
    if (d.verdict === 'rate') {
      // A rate limit is not the budget: it never fires the cutoff policy.
      return refuse(
        'rate',
        `the ${describeRate(w)} is used for now (${used} used in the last minute` +
          `${d.state.reserved > 0 ? `, ${d.state.reserved} held by calls in flight` : ''}); ` +
          `retry in ${d.retryAfter} s`,
        d.retryAfter,
      );
    }
    if (d.verdict === 'held') {
      return refuse(
        'held',
        `the ${describeBudget(plan)} (${w.limit} tokens, ${used} used) is held by calls in flight; retry shortly`,
        HELD_RETRY_S,
      );
    }
    fire(used, w.limit, w.scope);
    const left = Math.max(0, w.limit - used);
    return refuse(
      'exhausted',
      used >= w.limit
        ? `the ${describeBudget(plan)} of ${w.limit} tokens is used up (${used} used); ` +
            `bottle ${slug} may make no more ${plan.budget.provider} API calls`
        : `the ${describeBudget(plan)} of ${w.limit} tokens has ${left} left (${used} used), ` +
            `too few for this call's input and the least output it may be given; ` +
            `bottle ${slug} may make no more ${plan.budget.provider} API calls`,
    );
  };

  const record = async (reservation: string | null, u: Usage, h?: Held): Promise<void> => {
    const event: UsageEvent = {
      ...u,
      ...(h === undefined
        ? {}
        : {
            inputEstimate: h.inputEstimate,
            capRequested: h.capRequested,
            capGranted: h.capGranted,
          }),
      at: new Date().toISOString(),
      host,
      eventId: randomUUID(),
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
    await record(h?.reservation ?? null, u, h);
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
      await record(h.reservation, unmeteredCharge(h.api, h.estimate), h);
    } else if (h.reservation !== null) {
      await ledger.release(h.reservation);
    }
  };

  /**
   * Admission could not ask the store (unreachable, or it failed): the call
   * is refused at once as unavailable, never left waiting or let through.
   */
  const storeDown = (id: number, e: unknown): ControllerMessage => {
    const why = e instanceof Error ? e.message : String(e);
    o.log(`${slug}: the ledger store (${store}) did not answer admission: ${why}`);
    return {
      t: 'admit',
      id,
      ok: false,
      kind: 'unavailable',
      message: `the usage ledger (${store}) did not answer: ${why}; metered calls are refused until it answers`,
    };
  };

  let sayHello: () => void = () => undefined;
  const hello = new Promise<void>((resolve) => {
    sayHello = resolve;
  });
  const open = new Set<LinkStream>();

  /** Serves one sidecar connection; resolves when it is closed and its work is done. */
  const serve = (sock: LinkStream): Promise<void> => {
    // Calls admitted on this connection; their reservations are released if it drops mid-call.
    const held = new Map<number, Held>();
    let chain: Promise<void> = Promise.resolve();
    const handle = async (m: SidecarMessage): Promise<void> => {
      if (m.t === 'hello') {
        sayHello();
        return;
      }
      if (m.t === 'admit') {
        const reply = await admit(m, held).catch((e: unknown) => storeDown(m.id, e));
        if (open.has(sock)) sock.output.write(`${JSON.stringify(reply)}\n`);
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
    open.add(sock);
    sock.input.on(
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
    sock.input.on('error', () => undefined);
    sock.output.on('error', () => undefined);
    return new Promise<void>((resolve) => {
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        open.delete(sock);
        chain = chain.then(async () => {
          for (const h of held.values()) {
            if (h.reservation !== null) await ledger.release(h.reservation);
          }
          held.clear();
        });
        void chain.finally(resolve);
      };
      sock.input.on('end', end);
      sock.input.on('close', end);
    });
  };
  const serving = new Set<Promise<void>>();

  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  return {
    attach(stream) {
      if (closed) {
        stream.destroy();
        return Promise.resolve();
      }
      const done = serve(stream);
      serving.add(done);
      void done.then(() => serving.delete(done));
      return done;
    },
    linked: () => hello,
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
      const draining = [...serving];
      for (const s of open) s.destroy();
      await Promise.all([...draining, enforcing]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
