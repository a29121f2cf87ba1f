import type { QueueProblem } from '../supervise/queue.js';
import type { PendingItem, QueueView } from '../supervise/answer.js';
import type { EgressRefusals } from './egress-refusals.js';
import type { FleetView, LaunchRow } from './fleet.js';

/**
 * The one operator view: each bottle's usage against its budget (the
 * ledger), what its egress proxy refused (its egress log), what was
 * redacted, and the proposals it is waiting on (the supervise queue). The
 * rows are the ledger's launches, so a shared ledger makes it the fleet's
 * view; running bottles come first, then launches active since `since`.
 */

export interface OperatorRow extends LaunchRow {
  /** null when the bottle's egress log is not readable here (another host, or gone). */
  egressRefusals: EgressRefusals | null;
  /** Its pending proposals, oldest first. */
  pending: PendingItem[];
}

export interface OperatorView {
  at: string;
  /** Launches that are not running are shown when active since then. */
  since: string;
  rows: OperatorRow[];
  providers: FleetView['providers'];
  /** Queue files that could not be read. */
  problems: QueueProblem[];
  /** Why the view is partial (the engine did not answer), when it is. */
  warning?: string;
}

/** Which launches the view shows, in order: running first, then the recently active. */
export function shownLaunches(fleet: FleetView, since: string): LaunchRow[] {
  const running = fleet.launches.filter((r) => r.running);
  const recent = fleet.launches.filter((r) => !r.running && (r.last ?? '') >= since);
  return [...running, ...recent];
}

export async function operatorView(o: {
  fleet: FleetView;
  queue: QueueView;
  since: string;
  refusals: (row: LaunchRow) => Promise<EgressRefusals | null>;
}): Promise<OperatorView> {
  const rows: OperatorRow[] = [];
  for (const r of shownLaunches(o.fleet, o.since)) {
    rows.push({
      ...r,
      egressRefusals: await o.refusals(r),
      pending: r.running ? o.queue.items.filter((i) => i.identity === r.identity) : [],
    });
  }
  return {
    at: o.fleet.at,
    since: o.since,
    rows,
    providers: o.fleet.providers,
    problems: o.queue.problems,
  };
}

/** Hosts the rows ran on; a HOST column is worth showing when there is more than one. */
export function hostsOf(rows: readonly LaunchRow[]): string[] {
  return [...new Set(rows.map((r) => r.host).filter((h): h is string => h !== null))].sort();
}
