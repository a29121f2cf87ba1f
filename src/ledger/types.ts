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
}

export interface UsageFilter {
  provider?: ProviderName;
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

/** One budget as the ledger sees it: which usage it counts and its limit. */
export interface BudgetWindow {
  /** Reservation key shared by every bottle the budget covers, e.g. `global:claude`. */
  scope: string;
  filter: UsageFilter;
  limit: number;
}

export type Admission =
  | { verdict: 'admitted'; reservation: number; used: number; reserved: number }
  /** exhausted: used >= limit. held: in-flight reservations fill the rest for now. */
  | { verdict: 'exhausted' | 'held'; used: number; reserved: number };

/** Usage of one launch, for `usage` and the dashboard. */
export interface LaunchUsage extends UsageTotals {
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
   * Atomically (across processes): count the budget's usage and open
   * reservations, and if used + reserved < limit hold `tokens` for a request
   * about to be sent. So concurrent requests overshoot by one at most.
   */
  admit(budget: BudgetWindow, slug: string, tokens: number): Promise<Admission>;
  /** Record a metered call's usage and drop its reservation in one transaction. */
  settle(reservation: number | null, e: UsageEvent): Promise<void>;
  /** Drop a reservation whose request ended without usage. */
  release(id: number): Promise<void>;
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
