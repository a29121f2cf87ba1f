import type { WindowState } from '../ledger/types.js';

/**
 * Whether a metered call may leave, and with what output cap, decided over
 * the states of the limits that govern it (read inside the store's
 * transaction). Pure: the store runs it between reading the windows and
 * holding the reservation.
 *
 * With capping (the controller's default), a call is admitted only if the tightest
 * budget has room for its input estimate I plus at least `floor` output
 * tokens: R = min over budget windows of (limit - used - reserved), and the
 * call goes with cap = min(its own cap, R - I), reserving I + cap. The
 * budget can then be overshot only by the estimate's error. Without
 * capping, a call is admitted while used + reserved < limit and reserves
 * its size by bytes only: the call that crosses finishes whole.
 *
 * Rate windows (tokens per minute) do not lower the cap: a call is refused
 * (`rate`) while the last minute's usage and reservations fill the rate,
 * with a retry-after of the seconds until the window's first usage ages
 * out.
 */

/** The smallest output cap worth sending, unless settings say otherwise. */
export const DEFAULT_FLOOR = 1024;
/** Seconds a call refused for reservations in flight is told to wait. */
export const HELD_RETRY_S = 2;

export interface AdmissionAsk {
  /** Rough size of the request in tokens by its bytes (used when no input estimate came). */
  estimate: number;
  /** Input tokens estimated from the parsed body; absent when it could not be parsed. */
  input?: number | undefined;
  /** The request's own output cap (null: none). */
  cap?: number | null | undefined;
  /** The least cap the request stays valid with. */
  minCap?: number | undefined;
  /** Lower output caps to what is left (the controller turns it on unless settings say not). */
  capping?: boolean | undefined;
  /** The least cap worth admitting a call for (tokens). */
  floor?: number | undefined;
  /** Now, in ms since the epoch (rate windows' retry-after); the clock's if absent. */
  now?: number | undefined;
}

export type AdmissionDecision =
  /** `cap`: the output cap to send (null: the request goes unchanged). */
  | { verdict: 'admitted'; reserve: number; cap: number | null; input: number }
  /**
   * exhausted: the budget cannot fit this call even with nothing in flight.
   * held: in-flight reservations fill the rest for now.
   */
  | { verdict: 'exhausted' | 'held'; state: WindowState; reserve?: undefined }
  | { verdict: 'rate'; state: WindowState; retryAfter: number; reserve?: undefined };

const RATE_WINDOW_MS = 60_000;

/** Seconds until a rate window's first counted usage leaves it (at least 1). */
export function rateRetryAfter(s: WindowState, now: number): number {
  if (s.firstAt === null) return HELD_RETRY_S;
  const frees = Date.parse(s.firstAt) + RATE_WINDOW_MS;
  if (!Number.isFinite(frees)) return HELD_RETRY_S;
  return Math.min(60, Math.max(1, Math.ceil((frees - now) / 1000)));
}

export function decideAdmission(
  states: readonly WindowState[],
  ask: AdmissionAsk,
): AdmissionDecision {
  const budgets = states.filter((s) => s.window.kind === 'budget');
  const rates = states.filter((s) => s.window.kind === 'rate');
  for (const s of budgets) {
    if (s.used >= s.window.limit) return { verdict: 'exhausted', state: s };
  }
  for (const s of rates) {
    if (s.used + s.reserved >= s.window.limit) {
      return { verdict: 'rate', state: s, retryAfter: rateRetryAfter(s, ask.now ?? Date.now()) };
    }
  }
  const input = Math.max(0, Math.ceil(ask.input ?? ask.estimate));
  if (ask.capping !== true || budgets.length === 0) {
    for (const s of budgets) {
      if (s.used + s.reserved >= s.window.limit) return { verdict: 'held', state: s };
    }
    // As before capping: the call holds its size by bytes while it runs.
    return { verdict: 'admitted', reserve: Math.max(0, Math.ceil(ask.estimate)), cap: null, input };
  }
  // The tightest budget decides: the least room left after what is used and held.
  const tight = budgets.reduce((a, s) => (room(s) < room(a) ? s : a));
  const left = room(tight) - input;
  const need = Math.max(ask.floor ?? DEFAULT_FLOOR, ask.minCap ?? 1);
  if (left < need) {
    // Without the reservations in flight would it fit? Then it waits; else the budget is spent.
    const free = tight.window.limit - tight.used - input;
    return { verdict: free >= need ? 'held' : 'exhausted', state: tight };
  }
  const cap = ask.cap === null || ask.cap === undefined ? left : Math.min(ask.cap, left);
  return { verdict: 'admitted', reserve: input + cap, cap, input };
}

function room(s: WindowState): number {
  return s.window.limit - s.used - s.reserved;
}
