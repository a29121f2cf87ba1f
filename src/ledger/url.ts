/**
 * Ledger store URLs: which ones are accepted, and how they are shown.
 * A URL may carry a password; nothing the product prints or logs shows it.
 */

export const LEDGER_URL_SCHEMES = ['postgres:', 'postgresql:'] as const;

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** Why a ledger URL is refused, or undefined when it is a usable Postgres URL. */
export function ledgerUrlProblem(url: string): string | undefined {
  const u = parse(url);
  if (u === undefined) return 'must be a URL such as postgres://user:password@host:5432/db';
  if (!(LEDGER_URL_SCHEMES as readonly string[]).includes(u.protocol)) {
    return `must be a postgres:// or postgresql:// URL (got a ${u.protocol}// URL; the SQLite ledger is the default and needs no URL)`;
  }
  if (u.hostname === '')
    return 'must name the server host, e.g. postgres://user@db.example:5432/db';
  return undefined;
}

/** The URL as shown to people: the password replaced by `***`. */
export function redactedUrl(url: string): string {
  const u = parse(url);
  if (u === undefined) return '(unparseable URL)';
  if (u.password !== '') u.password = '***';
  return u.toString();
}

/** host:port of the server (5432 when the URL names none). */
export function urlEndpoint(url: string): string {
  const u = parse(url);
  if (u === undefined) return '(unparseable URL)';
  return `${u.hostname}:${u.port === '' ? '5432' : u.port}`;
}

/** The URL's password in the forms it may appear in text (as written and decoded). */
export function urlSecrets(url: string): string[] {
  const u = parse(url);
  if (u === undefined || u.password === '') return [];
  let decoded = u.password;
  try {
    decoded = decodeURIComponent(u.password);
  } catch {
    // A malformed escape: the raw form is all there is.
  }
  return [...new Set([u.password, decoded])].filter((s) => s.length > 0);
}
