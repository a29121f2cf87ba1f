import { EnvironmentError } from '../errors.js';

/**
 * The Postgres ledger failed: the server cannot be reached, refused the
 * login, or a statement failed. The message names the server's host:port
 * (never the URL's password), so an operator knows which store to look at.
 */
export class LedgerStoreError extends EnvironmentError {
  /** Postgres SQLSTATE or the system error code (ECONNREFUSED), when known. */
  readonly code: string | undefined;
  /** True when the server could not be reached or did not answer in time. */
  readonly unreachable: boolean;

  constructor(endpoint: string, detail: string, code: string | undefined, unreachable: boolean) {
    super(
      `ledger store (Postgres at ${endpoint}): ${detail}`,
      unreachable
        ? `check that the Postgres server at ${endpoint} is running and reachable, and that ledger.url in settings.yml (or BOT_BOTTLE_LEDGER_URL) names it`
        : undefined,
      { store: 'postgres', endpoint, ...(code === undefined ? {} : { code }) },
    );
    this.code = code;
    this.unreachable = unreachable;
  }
}

/** System error codes of a server that cannot be reached at all. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

/** SQLSTATEs of a server that is up but will not serve (starting, shutting down, too many clients). */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '08006', '08001', '08004']);

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

/** What went wrong, in words, and whether it means the server is out of reach. */
function describe(
  e: unknown,
  timeoutMs: number,
): { detail: string; code?: string; unreachable: boolean } {
  const err: Error & { code?: unknown } = e instanceof Error ? e : new Error(String(e));
  const code = typeof err.code === 'string' ? err.code : undefined;
  const msg = err.message;
  if (/timeout expired|connection timeout|Query read timeout/i.test(msg)) {
    return {
      detail: `did not answer within ${Math.round(timeoutMs / 1000)} s (${msg})`,
      ...(code === undefined ? {} : { code }),
      unreachable: true,
    };
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return { detail: `cannot be reached (${msg})`, code, unreachable: true };
  }
  if (/Connection terminated|connection closed|ended unexpectedly/i.test(msg)) {
    return {
      detail: `the connection was lost (${msg})`,
      ...(code === undefined ? {} : { code }),
      unreachable: true,
    };
  }
  if (code !== undefined && UNAVAILABLE_STATES.has(code)) {
    return { detail: `the server is not serving (${msg})`, code, unreachable: true };
  }
  if (code === '28P01' || code === '28000') {
    return { detail: `refused the login (${msg})`, code, unreachable: false };
  }
  if (code === '3D000') return { detail: msg, code, unreachable: false };
  if (code === '57014') {
    // statement_timeout: a lock held elsewhere (or a server too busy) kept this one waiting.
    return { detail: `a statement did not finish in time (${msg})`, code, unreachable: true };
  }
  return { detail: msg, ...(code === undefined ? {} : { code }), unreachable: false };
}

/** A store error for `e`, its text rid of every form of the password. */
export function storeError(
  e: unknown,
  endpoint: string,
  secrets: readonly string[],
  timeoutMs: number,
): LedgerStoreError {
  if (e instanceof LedgerStoreError) return e;
  const d = describe(e, timeoutMs);
  return new LedgerStoreError(endpoint, scrub(d.detail, secrets), d.code, d.unreachable);
}
