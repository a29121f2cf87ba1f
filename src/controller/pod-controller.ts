import { readFileSync } from 'node:fs';
import { PostgresLedger } from '../ledger/postgres.js';
import type { LedgerStore } from '../ledger/types.js';
import { ledgerUrlProblem, redactedUrl } from '../ledger/url.js';
import { startControlServer } from './control-server.js';
import { keepLinked } from './engine-link.js';
import { parseLaunchDocument, type LaunchDocument } from './pod-launch.js';
import { unixSocketStream } from './pod-link.js';

/**
 * The in-cluster controller: the `controller` container of a bottle's
 * proxy pod (docs/kubernetes.md). It admits the egress container's metered
 * calls against the shared Postgres store and settles their usage there,
 * as `bot-bottle start` does on a host, over a unix socket in the volume
 * the two containers share. Of the cutoff policies it carries out `cutoff`
 * only (refusing admissions): freeze and kill need the cluster's API,
 * which the proxy pod is not given, so the renderer refuses them.
 */

/** What it reads from its environment (the renderer sets each one). */
export const POD_ENV = {
  launch: 'BOT_BOTTLE_CONTROLLER_LAUNCH',
  socket: 'BOT_BOTTLE_CONTROLLER_SOCKET',
  ledger: 'BOT_BOTTLE_LEDGER_URL',
} as const;

/** A start-up problem: the message says what is missing; the code is the exit status. */
export class PodStartError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** Exit codes, as the CLI's: 2 bad configuration, 3 the store does not answer. */
const BAD_CONFIG = 2;
const NO_STORE = 3;

export interface PodConfig {
  launch: LaunchDocument;
  socketPath: string;
  ledgerUrl: string;
}

function required(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const v = env[name]?.trim();
  if (v === undefined || v === '')
    throw new PodStartError(`${name} is not set: ${what}`, BAD_CONFIG);
  return v;
}

/** The configuration from the environment and the mounted launch file, or why not. */
export function podConfig(env: NodeJS.ProcessEnv): PodConfig {
  const ledgerUrl = required(
    env,
    POD_ENV.ledger,
    'the in-cluster controller needs the shared Postgres store (postgres://user:password@host:5432/db); a pod has no host ledger, so it does not start without one',
  );
  const problem = ledgerUrlProblem(ledgerUrl);
  if (problem !== undefined) {
    throw new PodStartError(`${POD_ENV.ledger} ${problem}`, BAD_CONFIG);
  }
  const file = required(env, POD_ENV.launch, 'the path of the mounted launch.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PodStartError(
      `cannot read the launch file ${file}: ${e instanceof Error ? e.message : String(e)}`,
      BAD_CONFIG,
    );
  }
  const parsed = parseLaunchDocument(text);
  if (!parsed.ok) throw new PodStartError(`launch file ${file}: ${parsed.error}`, BAD_CONFIG);
  const policy = parsed.launch.plan.cutoff.policy;
  if (policy !== 'cutoff') {
    throw new PodStartError(
      `cutoff policy '${policy}' cannot be carried out in a cluster (it needs the cluster API, which this pod does not have); only 'cutoff' can`,
      BAD_CONFIG,
    );
  }
  return {
    launch: parsed.launch,
    socketPath: required(env, POD_ENV.socket, "the path of the egress container's link socket"),
    ledgerUrl,
  };
}

export interface RunningController {
  /** Resolves when the egress container has said hello on the link. */
  linked: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Opens the store (its schema migrated; a store that does not answer
 * stops the start), then keeps the link to the egress container open and
 * serves it until stopped.
 */
export async function startPodController(
  config: PodConfig,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
  opts: { openStore?: (url: string) => LedgerStore; retryMs?: number } = {},
): Promise<RunningController> {
  const { launch } = config;
  const slug = launch.plan.slug;
  const ledger = (opts.openStore ?? ((u: string) => new PostgresLedger(u)))(config.ledgerUrl);
  try {
    const version = await ledger.schemaVersion();
    log(`${slug}: the shared store ${redactedUrl(config.ledgerUrl)} answers (schema ${version})`);
  } catch (e) {
    await ledger.close().catch(() => undefined);
    throw new PodStartError(
      `the shared store does not answer: ${e instanceof Error ? e.message : String(e)}`,
      NO_STORE,
    );
  }
  const control = startControlServer({
    env,
    ledger,
    plan: launch.plan,
    identity: launch.identity,
    startedAt: launch.startedAt,
    log,
    storeName: redactedUrl(config.ledgerUrl),
    // Only `cutoff` gets here (podConfig): refusing admissions is all it takes.
    enforce: () => Promise.resolve(),
  });
  // The agent's pod runs as long as this bottle exists: shared budgets are watched from now.
  control.armed();
  const kept = keepLinked({
    open: () => unixSocketStream(config.socketPath),
    server: control,
    what: `the egress container (${config.socketPath})`,
    log,
    ...(opts.retryMs === undefined ? {} : { retryMs: opts.retryMs }),
  });
  const linked = control.linked().then(() => {
    log(`${slug}: linked to the egress container; admitting metered calls as ${launch.identity}`);
  });
  return {
    linked,
    async stop() {
      await kept.stop();
      await control.close();
      await ledger.close();
    },
  };
}
