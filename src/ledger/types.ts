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
  agent?: string;
  /** Events of bottles whose chain includes this bottle. */
  bottle?: string;
  since?: string;
}

export interface UsageTotals {
  events: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  /** input + output: what budgets count. */
  tokens: number;
}

export interface EnforcementAction {
  at: string;
  slug: string;
  action: 'cutoff' | 'freeze' | 'kill' | 'stop' | 'restore';
  scope: string;
  used: number;
  limit: number | null;
  reason: string;
}

export interface LedgerStore {
  recordUsage(e: UsageEvent): Promise<void>;
  totals(filter: UsageFilter): Promise<UsageTotals>;
  /** Hold `tokens` against `scope` before a request is admitted; returns the reservation id. */
  reserve(scope: string, slug: string, tokens: number): Promise<number>;
  release(id: number): Promise<void>;
  /** Tokens currently held by open reservations for `scope`. */
  reserved(scope: string): Promise<number>;
  recordAction(a: EnforcementAction): Promise<void>;
  actions(slug?: string): Promise<EnforcementAction[]>;
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
