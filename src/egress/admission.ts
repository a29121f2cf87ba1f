import type { MeteredApi, Usage } from './meter.js';

/**
 * Admission of metered LLM calls. Before a metered request leaves, the
 * sidecar asks the bottle's controller (on the host) whether the budget has
 * room; the controller holds a reservation for it until the call's usage
 * (or its end without usage) comes back on the ticket. The proxy knows
 * nothing about budgets; it only forwards or refuses.
 */

export interface AdmissionRequest {
  api: MeteredApi;
  host: string;
  /** Rough size of the request in tokens (held against the budget while it runs). */
  estimate: number;
}

export type RefusalKind = 'exhausted' | 'held' | 'cutoff' | 'unavailable';

export interface Refusal {
  kind: RefusalKind;
  message: string;
  /** Seconds after which a retry may succeed (only `held`). */
  retryAfter?: number;
}

/** One admitted call: report its usage, then close it (closing twice is harmless). */
export interface Ticket {
  usage(u: Usage): void;
  done(): void;
}

export type Admit = (
  req: AdmissionRequest,
) => Promise<{ ok: true; ticket: Ticket } | { ok: false; refusal: Refusal }>;

/** A ticket for calls nobody accounts for (no controller configured). */
export const NO_TICKET: Ticket = { usage: () => undefined, done: () => undefined };

/** Estimated tokens of a request body: about four bytes per token for text and JSON. */
export function estimateTokens(bytes: number): number {
  return Math.ceil(Math.max(0, bytes) / 4);
}

export interface ShapedError {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The refusal in the metered API's own error shape, so the agent's CLI shows
 * it as an API error instead of failing to parse it. Only `held` invites a
 * retry; the others say not to (`x-should-retry`, honoured by the official
 * SDKs), because retrying an exhausted budget cannot succeed.
 */
export function shapedRefusal(api: MeteredApi, r: Refusal): ShapedError {
  const retry = r.kind === 'held';
  const status = r.kind === 'unavailable' ? 503 : 429;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-should-retry': retry ? 'true' : 'false',
    'x-bot-bottle-refusal': r.kind,
  };
  if (r.retryAfter !== undefined) headers['retry-after'] = String(r.retryAfter);
  const message = `bot-bottle: ${r.message}`;
  let body: unknown;
  if (api === 'anthropic-messages') {
    body = {
      type: 'error',
      error: { type: status === 503 ? 'api_error' : 'rate_limit_error', message },
    };
  } else {
    const code =
      r.kind === 'held'
        ? 'rate_limit_exceeded'
        : r.kind === 'unavailable'
          ? 'server_error'
          : 'insufficient_quota';
    body = { error: { message, type: code, param: null, code } };
  }
  return { status, headers, body: JSON.stringify(body) };
}

/** The same refusal as an OpenAI Responses WebSocket event. */
export function shapedWsRefusal(r: Refusal): string {
  const e = shapedRefusal('openai-responses', r);
  const inner = (JSON.parse(e.body) as { error: Record<string, unknown> }).error;
  return JSON.stringify({ type: 'error', status: e.status, error: inner });
}
