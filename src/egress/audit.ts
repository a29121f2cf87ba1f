/**
 * One JSON line per decision, on the sidecar's stdout. Docker's json-file
 * driver keeps and rotates it (the backend sets max-size/max-file), and
 * `bot-bottle egress log <slug>` reads it back.
 */
export interface AuditEntry {
  at: string;
  slug: string;
  kind: 'http' | 'https' | 'connect' | 'tunnel' | 'websocket' | 'control';
  method: string;
  host: string;
  port: number;
  /** The path with query values removed (`/search?q=&page=`): values can carry data. */
  path: string;
  rule: string;
  /** `redacted`: an LLM request sent on with secrets replaced by markers. */
  verdict: 'allowed' | 'refused' | 'flagged' | 'redacted';
  status: number;
  reason?: string;
  findings?: string[];
  /** A metered call whose usage could not be read: it was charged its estimate. */
  unmetered?: boolean;
  /** The output cap admission wrote into the request, e.g. `max_tokens 64000 -> 8800`. */
  cap?: string;
  /**
   * Where admission's input tokens came from (with `budget.count: provider`):
   * the provider's count, or the local estimate and why the count was not used.
   */
  input?: { source: 'count' | 'estimate'; tokens: number; why?: string };
  /** kind -> secrets replaced in the request (LLM API calls only). */
  redactions?: Record<string, number>;
  bytesUp: number;
  bytesDown: number;
  ms: number;
}

/** `/a/b?x=1&y=2` -> `/a/b?x=&y=`; fragments dropped. */
export function redactPath(path: string): string {
  const noFrag = path.split('#', 1)[0] ?? '';
  const q = noFrag.indexOf('?');
  if (q < 0) return noFrag.slice(0, 512);
  const keys = noFrag
    .slice(q + 1)
    .split('&')
    .filter((kv) => kv !== '')
    .map((kv) => `${kv.split('=', 1)[0] ?? ''}=`);
  return `${noFrag.slice(0, Math.min(q, 512))}?${keys.join('&').slice(0, 256)}`;
}
