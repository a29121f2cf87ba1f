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
  /** Rough size of the request in tokens by its bytes: what it is charged if its usage goes unread. */
  estimate: number;
  /**
   * What capping needs (see cap.ts): the input tokens estimated from the
   * parsed body, the output cap the request asks for and the least it can
   * take. Absent when the body could not be parsed.
   */
  capping?: { input: number; cap: number | null; minCap: number } | undefined;
}

/** `rate`: a tokens-per-minute limit is used for now (retry after `retryAfter`). */
export type RefusalKind = 'exhausted' | 'held' | 'cutoff' | 'unavailable' | 'rate';

export interface Refusal {
  kind: RefusalKind;
  message: string;
  /** Seconds after which a retry may succeed (only `held` and `rate`). */
  retryAfter?: number;
}

/**
 * One admitted call: say how the upstream answered, report its usage, then
 * close it (closing twice is harmless). Closing a call that was answered
 * 2xx without usage must charge it, never release it (see `callEnd`).
 */
export interface Ticket {
  /** The upstream's status for the call (101 for a call sent on an open WebSocket). */
  answered(status: number): void;
  usage(u: Usage): void;
  done(): void;
}

/**
 * An admitted call's ticket and the output cap granted (null: the request
 * goes as it is; a number: its body must be rewritten with that cap).
 */
export interface Admitted {
  ok: true;
  ticket: Ticket;
  cap?: number | null | undefined;
}

export type Admit = (req: AdmissionRequest) => Promise<Admitted | { ok: false; refusal: Refusal }>;

/** A ticket for calls nobody accounts for (no controller configured). */
export const NO_TICKET: Ticket = {
  answered: () => undefined,
  usage: () => undefined,
  done: () => undefined,
};

/**
 * The status a call ends with when the agent hung up after its whole request
 * had left but before any answer (nginx's "client closed request"): the
 * upstream may be spending tokens on it all the same.
 */
export const ABANDONED = 499;

/** The upstream took the call (or may have): it may have spent tokens on it. */
export function answeredCall(status: number | undefined): boolean {
  return (
    status !== undefined &&
    ((status >= 200 && status < 300) || status === 101 || status === ABANDONED)
  );
}

/**
 * How a metered call ends: `read` (its usage was reported), `charge` (the
 * upstream took it but no usage could be read: charge the estimate) or
 * `release` (it was refused upstream or never reached it: nothing spent).
 */
export function callEnd(
  status: number | undefined,
  usageSeen: boolean,
): 'read' | 'charge' | 'release' {
  if (usageSeen) return 'read';
  return answeredCall(status) ? 'charge' : 'release';
}

/**
 * The usage charged for a call whose tokens could not be read: at least the
 * request's estimate as input (whatever was read, if more), marked
 * `unmetered`. Output is unknown and not guessed.
 */
export function unmeteredCharge(api: MeteredApi, estimate: number, seen?: Usage): Usage {
  return {
    api,
    model: seen?.model ?? null,
    requestId: seen?.requestId ?? null,
    inputTokens: Math.max(Math.ceil(Math.max(0, estimate)), seen?.inputTokens ?? 0),
    outputTokens: seen?.outputTokens ?? 0,
    cacheCreationTokens: 0,
    cacheReadTokens: 0,
    estimated: false,
    unmetered: true,
  };
}

/** A metered call's ticket that also tells whether the call was charged unread. */
export interface CallTicket extends Ticket {
  /** The unmetered charge made for the call, if its usage could not be read. */
  charged(): Usage | undefined;
}

/**
 * Accounting for one metered call around its ticket: usage the meter read
 * unmetered is replaced by the estimate's charge, and a call that ends after
 * a 2xx answer without any usage is charged too. Every usage that goes to
 * the ticket is also given to `report` (the sidecar's usage log).
 */
export function accountCall(
  ticket: Ticket,
  o: { api: MeteredApi; estimate: number; report: (u: Usage) => void },
): CallTicket {
  let status: number | undefined;
  let seen = false;
  let closed = false;
  let charged: Usage | undefined;
  const take = (u: Usage): void => {
    seen = true;
    o.report(u);
    ticket.usage(u);
  };
  return {
    answered(s) {
      status ??= s;
      ticket.answered(s);
    },
    usage(u) {
      // Late usage (after `done`) still counts: the tokens were spent.
      if (u.unmetered) {
        charged = unmeteredCharge(o.api, o.estimate, u);
        take(charged);
      } else {
        take(u);
      }
    },
    done() {
      if (closed) return;
      if (callEnd(status, seen) === 'charge') {
        charged = unmeteredCharge(o.api, o.estimate);
        take(charged);
      }
      closed = true;
      ticket.done();
    },
    charged: () => charged,
  };
}

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
 * it as an API error instead of failing to parse it. Only `held` and `rate`
 * (the provider's own rate-limit shape, with retry-after) invite a retry; the others say not to (`x-should-retry`, honoured by the official
 * SDKs), because retrying an exhausted budget cannot succeed.
 */
export function shapedRefusal(api: MeteredApi, r: Refusal): ShapedError {
  const retry = r.kind === 'held' || r.kind === 'rate';
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
    const code = retry
      ? 'rate_limit_exceeded'
      : r.kind === 'unavailable'
        ? 'server_error'
        : 'insufficient_quota';
    body = { error: { message, type: code, param: null, code } };
  }
  return { status, headers, body: JSON.stringify(body) };
}

/**
 * The same refusal as an OpenAI Responses WebSocket event. Codex reads a
 * 429 event by its code: `insufficient_quota` becomes its own "Quota
 * exceeded. Check your plan and billing details." and any other code a
 * rate limit it retries until "exceeded retry limit", so neither shows
 * the budget's text. A refusal that no retry can lift (exhausted, cutoff)
 * is therefore sent as a 400 invalid request, which Codex does not retry
 * and shows with its message; `held` stays a 429 so Codex retries it.
 */
export function shapedWsRefusal(r: Refusal): string {
  if (r.kind !== 'exhausted' && r.kind !== 'cutoff') {
    return wsErrorEvent(shapedRefusal('openai-responses', r));
  }
  const code = `budget_${r.kind}`;
  return JSON.stringify({
    type: 'error',
    status: 400,
    error: {
      message: `bot-bottle: ${r.message}`,
      type: 'invalid_request_error',
      param: null,
      code,
    },
  });
}

/**
 * An API error as an OpenAI Responses WebSocket error event: the call is
 * answered on the socket, as the API reports its own errors there.
 */
export function wsErrorEvent(e: ShapedError): string {
  const inner = (JSON.parse(e.body) as { error?: Record<string, unknown> }).error;
  return JSON.stringify({ type: 'error', status: e.status, error: inner });
}

/** A controller that could not be asked: the call is refused as unavailable, never let through. */
export function admissionFailure(e: unknown): Refusal {
  return {
    kind: 'unavailable',
    message: `admission failed: ${e instanceof Error ? e.message : String(e)}`,
  };
}
