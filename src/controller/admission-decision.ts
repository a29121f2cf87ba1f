import type { WindowState } from '../ledger/types.js';

/**
 * Whether a metered call may leave, decided over the states of the limits
 * that govern it (read inside the store's transaction). Pure: the store
 * runs it between reading the windows and holding the reservation.
 */

export interface AdmissionAsk {
  /** Rough size of the request in tokens, held against every window while it runs. */
  estimate: number;
}

export type AdmissionDecision =
  | { verdict: 'admitted'; reserve: number }
  /** exhausted: used >= limit. held: in-flight reservations fill the rest for now. */
  | { verdict: 'exhausted' | 'held'; state: WindowState; reserve?: undefined };

export function decideAdmission(
  states: readonly WindowState[],
  ask: AdmissionAsk,
): AdmissionDecision {
  for (const s of states) {
    if (s.used >= s.window.limit) return { verdict: 'exhausted', state: s };
  }
  for (const s of states) {
    if (s.used + s.reserved >= s.window.limit) return { verdict: 'held', state: s };
  }
  return { verdict: 'admitted', reserve: Math.max(0, Math.ceil(ask.estimate)) };
}
