import {
  admissionFailure,
  estimateTokens,
  shapedRefusal,
  type AdmissionRequest,
  type Refusal,
  type Ticket,
} from '../admission.js';
import { meteredAcceptEncoding, meteredApi, type MeteredApi } from '../meter.js';
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
  return { kind: 'admit', api, request: { api, host: f.host, estimate }, acceptEncoding };
}

/** The controller's answer (or its failure) as a verdict; refusals in the API's own error shape. */
export function admissionVerdict(
  api: MeteredApi,
  answer: { ok: true; ticket: Ticket } | { ok: false; refusal: Refusal } | { error: unknown },
): { kind: 'admitted'; ticket: Ticket } | Refuse {
  if ('error' in answer) {
    return admissionVerdict(api, { ok: false, refusal: admissionFailure(answer.error) });
  }
  if (answer.ok) return { kind: 'admitted', ticket: answer.ticket };
  const shaped = shapedRefusal(api, answer.refusal);
  return {
    ...refusal(`budget-${answer.refusal.kind}`, answer.refusal.message, shaped.status),
    shaped,
  };
}
