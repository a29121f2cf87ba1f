import type { Usage } from '../egress/meter.js';
import type { ProviderName } from '../manifest/schema.js';

/**
 * What the ledger keeps. The store behind it is an interface so that a
 * Postgres store (several hosts, one ledger) can replace the SQLite file;
 * every method is asynchronous for that reason, although SQLite answers at
 * once.
 */

/** One metered call (what the sidecar's meter read) and whose it was. */
export interface UsageEvent extends Omit<Usage, 'api'> {
  /** The metered API; a string, so rows written by other versions still read. */
  api: string;
  at: string;
  slug: string;
  identity: string;
  agent: string;
  provider: ProviderName;
  /** The composed bottles with their extends chains, e.g. ['base', 'github']. */
  bottles: readonly string[];
  /** The host whose controller recorded it: fleet views show each launch's host. */
  host: string;
  /**
   * Unique per metered call. A store ignores a second write of the same id,
   * so usage kept on the host while the store was away is written once.
   */
  eventId: string;
  /** What admission did to the call: its input estimate and the output cap asked for and granted. */
  inputEstimate?: number | null;
  capRequested?: number | null;
  capGranted?: number | null;
}

export interface UsageFilter {
  provider?: ProviderName;
  host?: string;
  slug?: string;
  identity?: string;
  agent?: string;
  /** Events of bottles whose chain includes this bottle. */
  bottle?: string;
  since?: string;
}

export interface UsageTotals {
  events: number;
  /** Calls whose usage could not be read, counted at their estimate (included in `events`). */
  unmeteredEvents: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  /** input + output: what budgets count. */
  tokens: number;
}

export const ENFORCEMENT_ACTIONS = ['cutoff', 'freeze', 'kill', 'stop', 'restore'] as const;

export interface EnforcementAction {
  at: string;
  slug: string;
  /** The launch it applies to (a slug is reused by later bottles). */
  identity: string;
  action: (typeof ENFORCEMENT_ACTIONS)[number];
  /** The budget that fired it (e.g. `global:claude`), or `operator` for a command. */
  scope: string;
  used: number;
  limit: number | null;
  reason: string;
}

/** Secrets redacted from one LLM request of a launch, by kind. */
export interface RedactionEvent {
  at: string;
  slug: string;
  identity: string;
  counts: Readonly<Record<string, number>>;
}

/**
 * One limit admission checks, as the ledger sees it: which usage it counts
 * and its limit. A `budget` counts its period; a `rate` counts a sliding
 * window (its filter's `since` is the window's start, e.g. a minute ago).
 */
export interface BudgetWindow {
  /** Reservation key shared by every bottle the limit covers, e.g. `global:claude`. */
  scope: string;
  filter: UsageFilter;
  limit: number;
  kind: 'budget' | 'rate';
}

/** A window as admission found it, inside the admitting transaction. */
export interface WindowState {
  window: BudgetWindow;
  /** Tokens (input + output) of the usage the window counts. */
  used: number;
  /** Tokens held by open reservations of the window's scope. */
  reserved: number;
  /** The earliest counted usage (rate windows only): when the window starts to free up. */
  firstAt: string | null;
}

/**
 * What admission decided over the windows' states: a pure function run
 * inside the store's transaction, so no other admission (on any host) sees
 * the states between the decision and its reservation. `reserve` (tokens)
 * holds a reservation in every window's scope; without it nothing is held.
 */
export type AdmitDecide<D extends { reserve?: number | undefined }> = (
  states: readonly WindowState[],
) => D;

export interface Admitted<D> {
  decision: D;
  /** The reservation held (one id for all its scopes), or null if none was. */
  reservation: string | null;
}

/** Usage of one launch, for `usage` and the dashboard. */
export interface LaunchUsage extends UsageTotals {
  host: string;
  slug: string;
  identity: string;
  agent: string;
  provider: string;
  first: string;
  last: string;
}

/** Reservations older than this are treated as abandoned (their controller died). */
export const RESERVATION_TTL_MS = 30 * 60 * 1000;

export interface LedgerStore {
  recordUsage(e: UsageEvent): Promise<void>;
  totals(filter: UsageFilter): Promise<UsageTotals>;
  /** Tokens (input + output) a budget counts: the cheap sum admission uses. */
  used(filter: UsageFilter): Promise<number>;
  /** Totals per launch, most recent activity first. */
  byLaunch(filter: UsageFilter): Promise<LaunchUsage[]>;
  /**
   * Atomically (across processes and hosts): read every window's usage and
   * open reservations, let `decide` choose, and hold its `reserve` in every
   * window's scope. Concurrent admissions see each other's reservations.
   */
  admit<D extends { reserve?: number | undefined }>(
    windows: readonly BudgetWindow[],
    slug: string,
    decide: AdmitDecide<D>,
  ): Promise<Admitted<D>>;
  /**
   * Record a metered call's usage and drop its reservation in one
   * transaction. A second settle of the same `eventId` changes nothing.
   */
  settle(reservation: string | null, e: UsageEvent): Promise<void>;
  /** Drop a reservation whose request ended without usage. */
  release(id: string): Promise<void>;
  /** Tokens held by open reservations for `scope`. */
  reserved(scope: string): Promise<number>;
  recordAction(a: EnforcementAction): Promise<void>;
  recordRedactions(e: RedactionEvent): Promise<void>;
  /** kind -> secrets redacted, over a launch's requests. */
  redactions(filter: { identity: string; since?: string }): Promise<Record<string, number>>;
  actions(filter?: {
    slug?: string;
    identity?: string;
    since?: string;
  }): Promise<EnforcementAction[]>;
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
