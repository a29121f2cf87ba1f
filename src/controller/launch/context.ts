import { join } from 'node:path';
import type { Backend, LaunchSpec } from '../../backend/backend.js';
import type { CaMaterial } from '../../egress/ca.js';
import { InterruptedError } from '../../errors.js';
import type { LedgerStore } from '../../ledger/types.js';
import { botBottleHome } from '../../paths.js';
import type { BottlePlan } from '../../plan/schema.js';
import type { GuestSetup } from '../../providers/guest-config.js';
import type { BottleChanges } from '../../supervise/changes.js';
import type { CurrentConfig } from '../../supervise/host.js';
import { CleanupStack } from '../../util/cleanup.js';
import type { ControlServer } from '../control-server.js';
import type { configurePayload } from '../egress.js';
import type { KeptLink } from '../engine-link.js';
import { teardownBottle } from '../egress-archive.js';
import type { SavedBottle } from '../state.js';
import type { SecretAsker } from '../values.js';
import type { WorkHomeResult } from '../work-home.js';

/**
 * One launch as it goes through its phases. The context holds what the
 * request asked, what each phase produced (read back with `need`, which
 * names the phase that should have run) and the disposables: everything
 * acquired is pushed there and released in reverse on any exit.
 */

export interface SessionRequest {
  plan: BottlePlan;
  backend: Backend;
  env: NodeJS.ProcessEnv;
  /** Literal `env` values (the plan holds none). */
  literals: ReadonlyMap<string, string>;
  /** The agent file's Markdown body. */
  agentPrompt: string;
  /** Run one prompt non-interactively; the CLI exits when it is done. */
  headlessPrompt: string | undefined;
  /** Attach the caller's terminal to the agent. */
  tty: boolean;
  /** Capture the agent's stdout into the launch record instead of passing it through. */
  captureOutput: boolean;
  /** Continue a saved bottle instead of starting from the recipe image. */
  resume: SavedBottle | undefined;
  ask: SecretAsker | undefined;
  progress: (line: string) => void;
  /** Run the supervise sidecar (MCP tools for asking the operator for access). */
  supervise: boolean;
  /**
   * `--rm`: keep nothing once the work is home (no saved image, no saved
   * state; a resumed bottle's earlier save goes too). A freeze still saves.
   */
  discard?: boolean;
}

/** What `prepare` resolved before anything exists. */
export interface Prepared {
  userEnv: Record<string, string>;
  workspace: string;
  repo: string | null;
  base: string | null;
  ca: CaMaterial;
  payload: ReturnType<typeof configurePayload>;
  superviseTimeout: number | undefined;
}

export interface Images {
  agent: string;
  egress: string;
}

/** The running bottle, after `containers`. */
export interface Bottle {
  spec: LaunchSpec;
  guest: GuestSetup;
  control: ControlServer;
  ledger: LedgerStore;
  currentConfig: CurrentConfig | undefined;
}

export interface AgentRun {
  exitCode: number;
  output: string | undefined;
}

export interface Stages {
  prepared: Prepared;
  images: Images;
  bottle: Bottle;
  agent: AgentRun;
  work: WorkHomeResult;
  savedImage: string | null;
}

export type Outcome = 'ended' | 'frozen' | 'removed';

export class LaunchContext {
  readonly req: SessionRequest;
  readonly backend: Backend;
  readonly env: NodeJS.ProcessEnv;
  readonly plan: BottlePlan;
  readonly changes: BottleChanges | undefined;
  readonly slug: string;
  readonly identity: string;
  readonly started: Date;
  readonly logDir: string;
  readonly progress: (line: string) => void;
  /** Released in reverse order when the session ends, however it ends. */
  readonly disposables = new CleanupStack();
  /** Links into the sidecars; closed before the bottle is removed. */
  readonly links: KeptLink[] = [];
  /** Set by a phase that ends the session early (frozen or removed under it). */
  outcome: Outcome | undefined;
  interrupted: NodeJS.Signals | undefined;
  readonly #stages: Partial<Stages> = {};

  constructor(
    req: SessionRequest,
    plan: BottlePlan,
    changes: BottleChanges | undefined,
    identity: string,
    started: Date,
  ) {
    this.req = req;
    this.backend = req.backend;
    this.env = req.env;
    this.plan = plan;
    this.changes = changes;
    this.slug = plan.slug;
    this.identity = identity;
    this.started = started;
    this.logDir = join(botBottleHome(req.env), 'logs');
    this.progress = req.progress;
  }

  set<K extends keyof Stages>(key: K, value: Stages[K]): Stages[K] {
    this.#stages[key] = value;
    return value;
  }

  /** What an earlier phase produced; a missing one is a phase-order bug. */
  need<K extends keyof Stages>(key: K): Stages[K] {
    const v = this.#stages[key];
    if (v === undefined) throw new Error(`launch phase order: '${key}' is not there yet`);
    return v;
  }

  has(key: keyof Stages): boolean {
    return this.#stages[key] !== undefined;
  }

  /** Throws once a signal has arrived, so the next step does not start. */
  checkpoint(): void {
    if (this.interrupted !== undefined) throw new InterruptedError(this.interrupted);
  }

  async stopLinks(): Promise<void> {
    await Promise.all(this.links.splice(0).map((l) => l.stop()));
  }

  /** Remove the bottle (idempotent: a signal, a policy and the session may all ask). */
  async teardownBottle(): Promise<void> {
    try {
      // Closed first, so their end is not reported as a dropped link.
      await this.stopLinks();
      await teardownBottle(this.backend, this.env, this.slug, this.identity, this.progress);
    } catch (e) {
      this.progress(
        `teardown of ${this.slug} failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
}

/** The saved-bottle fields every save of this launch shares. */
export function savedBase(
  ctx: LaunchContext,
): Omit<SavedBottle, 'image' | 'reason' | 'savedAt' | 'branch' | 'exitCode'> {
  const { plan } = ctx;
  const { repo, base } = ctx.need('prepared');
  return {
    identity: ctx.identity,
    slug: ctx.slug,
    label: plan.label,
    agent: plan.agent.name,
    provider: plan.agent.provider,
    bottles: plan.bottles.map((b) => b.name),
    color: plan.color,
    startedAt: ctx.started.toISOString(),
    repo,
    baseCommit: base,
    plan,
  };
}
