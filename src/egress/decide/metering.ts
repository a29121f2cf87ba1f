import {
  admissionFailure,
  estimateTokens,
  shapedRefusal,
  type AdmissionRequest,
  type Admitted,
  type Refusal,
  type Ticket,
} from '../admission.js';
import { meteredAcceptEncoding, meteredApi, type MeteredApi } from '../meter.js';
import { applyCap, capAsk, uncappableWhy, type ParsedBody } from '../cap.js';
import { llmRefuse } from './llm.js';
import { refusal, type Refuse } from './verdict.js';

/** What the transport knows when a call is about to leave. */
export interface MeteringFacts {
  method: string;
  /** The path as it goes upstream. */
  path: string;
  host: string;
  /** Size of the request body in bytes (declared or held). */
  bodyBytes: number;
  /** Someone reads usage (the usage log or the controller). */
  measuring: boolean;
  /** A controller admits metered calls. */
  admitting: boolean;
  /** The agent's Accept-Encoding. */
  acceptEncoding?: string | readonly string[] | undefined;
  /** The parsed request, for its input estimate and output cap (absent: no body). */
  parsed?: ParsedBody | undefined;
}

/**
 * Whether a call is metered, and if so whether it must be admitted first:
 * `free` (not an LLM call, or nobody listens), `measure` (usage read, no
 * admission), or `admit` with the question to ask the controller. A
 * metered call carries its estimate (what it is charged if its usage
 * cannot be read) and the Accept-Encoding to send upstream: only codings
 * the meter decodes.
 */
export type MeteringVerdict =
  | { kind: 'free' }
  | { kind: 'measure'; api: MeteredApi; estimate: number; acceptEncoding: string }
  | { kind: 'admit'; api: MeteredApi; request: AdmissionRequest; acceptEncoding: string };

export function meteringVerdict(f: MeteringFacts): MeteringVerdict {
  if (!f.measuring && !f.admitting) return { kind: 'free' };
  const api = meteredApi(f.method, f.path);
  if (api === undefined) return { kind: 'free' };
  const estimate = estimateTokens(f.bodyBytes);
  const acceptEncoding = meteredAcceptEncoding(f.acceptEncoding);
  if (!f.admitting) return { kind: 'measure', api, estimate, acceptEncoding };
  const capping = f.parsed?.ok === true ? capAsk(api, f.parsed.json) : undefined;
  return { kind: 'admit', api, request: { api, host: f.host, estimate, capping }, acceptEncoding };
}

/**
 * The body that goes upstream under an admitted cap: rewritten with it
 * (always re-serialized), unchanged without a cap or without a body, or
 * refused when a cap is in force but the body could not be parsed to write
 * it in (fail closed).
 */
export function cappedBody(
  api: MeteredApi,
  parsed: ParsedBody | undefined,
  cap: number | null | undefined,
): { kind: 'pass' } | { kind: 'capped'; body: Buffer; change: string } | Refuse {
  // No body (a GET): nothing asks for output, nothing to cap.
  if (cap === null || cap === undefined || parsed === undefined) return { kind: 'pass' };
  if (!parsed.ok) return llmRefuse(api, 'budget-uncappable', uncappableWhy(parsed.why));
  const c = applyCap(api, parsed.json, cap);
  return { kind: 'capped', body: c.body, change: c.change };
}

/** The controller's answer (or its failure) as a verdict; refusals in the API's own error shape. */
export function admissionVerdict(
  api: MeteredApi,
  answer: Admitted | { ok: false; refusal: Refusal } | { error: unknown },
): { kind: 'admitted'; ticket: Ticket; cap: number | null } | Refuse {
  if ('error' in answer) {
    return admissionVerdict(api, { ok: false, refusal: admissionFailure(answer.error) });
  }
  if (answer.ok) return { kind: 'admitted', ticket: answer.ticket, cap: answer.cap ?? null };
  const shaped = shapedRefusal(api, answer.refusal);
  return {
    ...refusal(`budget-${answer.refusal.kind}`, answer.refusal.message, shaped.status),
    shaped,
  };
}
