import type { Backend, ClusterBackend } from '../backend/backend.js';
import { createBackend, createClusterBackend, selectBackend } from '../backend/select.js';
import { runSession, type LaunchRecord, type SessionRequest } from '../controller/session.js';
import type { BackendName } from '../plan/schema.js';
import { clackUi, type Ui } from '../tui/pickers.js';
import type { CliContext } from './context.js';

/** What commands use beyond the filesystem; tests replace parts of it. */
export interface Services {
  backend: (name: BackendName) => Backend;
  /** The cluster backend (`--backend kubernetes`): renders and applies with kubectl. */
  cluster: () => ClusterBackend;
  runSession: (req: SessionRequest) => Promise<LaunchRecord>;
  ui: Ui;
  /** stdin and stdout are terminals: pickers may ask, the agent gets a TTY. */
  interactive: boolean;
}

export function services(ctx: CliContext): Services {
  return {
    backend: createBackend,
    cluster: createClusterBackend,
    runSession,
    ui: clackUi,
    interactive: process.stdin.isTTY && process.stdout.isTTY,
    ...ctx.services,
  };
}

/** The backend a command uses: `--backend` when it has one, else BOT_BOTTLE_BACKEND, else docker. */
export function backendName(ctx: CliContext, flag?: string): BackendName {
  return selectBackend(flag, ctx.env);
}
