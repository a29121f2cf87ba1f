import type { Admit } from './admission.js';
import type { AuditEntry } from './audit.js';
import type { LeafMinter } from './ca.js';
import type { EgressPolicyConfig } from './config.js';
import type { CookieLedger } from './cookies.js';
import type { Scanner } from './dlp.js';
import type { Usage } from './meter.js';
import type { Upstream } from './upstream.js';

export interface ProxyState {
  policy: EgressPolicyConfig;
  scanner: Scanner;
  minter: LeafMinter;
  upstream: Upstream;
  /** route host -> header name -> value (prefix included). */
  routeValues: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /**
   * The cookie values each site set on this bottle (one ledger per proxy,
   * carried over by every policy change, so a live update forgets nothing).
   */
  cookies: CookieLedger;
}

export interface ProxyOptions {
  state: () => ProxyState;
  log: (entry: AuditEntry) => void;
  /** Token usage read from a metered LLM response (after the agent got its bytes). */
  usage?: (record: UsageRecord) => void;
  /**
   * Asks whether a metered call may leave (the controller's budget check).
   * Absent: metered calls are only measured, never refused.
   */
  admit?: Admit;
  /** Secrets redacted from one LLM request, by kind (for the controller's counts). */
  redacted?: (counts: Readonly<Record<string, number>>) => void;
}

export interface UsageRecord extends Usage {
  at: string;
  slug: string;
  host: string;
  transport: 'http' | 'websocket';
}

export interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

export const HEALTH_PATH = '/__bot-bottle/health';
/** Request bodies up to this size are held whole and scanned before any byte leaves. */
export const BODY_HOLD_LIMIT = 8 * 1024 * 1024;
/**
 * The most a compressed body may decode to before it is refused (or, in
 * `audit`, forwarded unscanned): a gzip bomb is cut here, not in memory.
 */
export const DECODED_BODY_LIMIT = 8 * BODY_HOLD_LIMIT;
