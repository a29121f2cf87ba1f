import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { ShapedError } from '../admission.js';
import type { Finding } from '../dlp.js';
import { meteredApi, type MeteredApi } from '../meter.js';
import { describeRedactions, redactBody } from '../redact.js';
import type { ProxyState } from '../types.js';
import { scannerFor } from './cookies.js';
import { codingOf, type Coding } from './encoding.js';
import { places, ruleOf } from './findings.js';
import { refusal, type Flag, type Refuse } from './verdict.js';

/**
 * The bottle's own LLM API (its metered calls) under `egress.llm`
 * (DESIGN 4b): the conversation carries everything the agent has read, so
 * a secret-looking string in a request body is redacted and the call goes
 * on (`redact`), or the call is refused (`refuse`), or forwarded and logged
 * (`audit`). What must be refused there is written in the API's own error
 * shape (400 invalid_request_error, 413 for size): a 403 reads to the
 * agent's CLI as bad credentials and ends the session.
 */

/** The LLM APIs' own request size limit: bodies up to it are held and judged whole. */
export const LLM_BODY_LIMIT = 32 * 1024 * 1024;

/** An LLM request that goes on with its body replaced by the redacted one. */
export interface Redact {
  kind: 'redact';
  /** Decoded and redacted: sent without the request's content-encoding. */
  body: Buffer;
  redactions: Record<string, number>;
  why: string;
}

export type LlmBodyVerdict = { kind: 'pass' } | Redact | Flag | Refuse;

/**
 * Which LLM API a request calls, if any: the metered calls, and Anthropic's
 * token counting, which carries the same conversation (a 403 there would
 * end the session just as well).
 */
export function llmApi(method: string, path: string): MeteredApi | undefined {
  const api = meteredApi(method, path);
  if (api !== undefined) return api;
  const p = (path.split('?')[0] ?? '').replace(/\/+$/, '');
  return method === 'POST' && p.endsWith('/v1/messages/count_tokens')
    ? 'anthropic-messages'
    : undefined;
}

/** A refusal on an LLM route, in the API's shape. */
export function llmRefuse(
  api: MeteredApi,
  rule: string,
  why: string,
  status = 400,
  findings?: readonly Finding[],
): Refuse {
  return { ...refusal(rule, why, status, findings), shaped: llmRefusal(api, status, why) };
}

/**
 * Any refusal on an LLM route (a thrown check, a missing policy) gets the
 * API's shape, and a 403 becomes a 400: the CLIs read 401/403 as bad
 * credentials.
 */
export function shapeForLlm(api: MeteredApi, v: Refuse): Refuse {
  if (v.shaped !== undefined) return v;
  const status = v.status === 413 || v.status >= 500 ? v.status : 400;
  return { ...v, status, shaped: llmRefusal(api, status, v.why) };
}

/** URL and headers cannot be redacted (the route's own credential headers are not scanned). */
export function llmHeadVerdict(
  state: ProxyState,
  f: { api: MeteredApi; findings: readonly Finding[] },
): { kind: 'pass' } | Flag | Refuse {
  if (f.findings.length === 0) return { kind: 'pass' };
  const why = `the request's URL or headers carry what looks like a secret (${places(f.findings)})`;
  if (state.policy.llm === 'audit') {
    return { kind: 'flag', rule: ruleOf(f.findings), why, findings: [...f.findings] };
  }
  return llmRefuse(
    f.api,
    ruleOf(f.findings),
    `${why}; only the body of an LLM request can be redacted`,
    400,
    [...f.findings],
  );
}

type Decoded = { ok: true; body: Buffer } | { ok: false; why: string };

/** A sync decoder's output with its engine, whose bytesWritten tells what the decoder consumed. */
interface Info {
  buffer: Buffer;
  engine: { bytesWritten: number };
}
const SYNC_OPTS = { maxOutputLength: LLM_BODY_LIMIT, info: true };
const SYNC_DECODERS: Record<Exclude<Coding, 'identity'>, (b: Buffer) => Info> = {
  gzip: (b) => gunzipSync(b, SYNC_OPTS) as unknown as Info,
  deflate: (b) => inflateSync(b, SYNC_OPTS) as unknown as Info,
  br: (b) => brotliDecompressSync(b, SYNC_OPTS) as unknown as Info,
};

/** The body as the upstream reads it; an encoding the redactor cannot see through cannot pass. */
export function decodeLlmBody(body: Buffer, encoding: string | undefined): Decoded {
  const enc = (encoding ?? '').trim().toLowerCase();
  const coding = enc === '' ? 'identity' : codingOf(enc);
  if (coding === 'identity') return { ok: true, body };
  if (coding === undefined) {
    return {
      ok: false,
      why:
        `the request body's content-encoding '${enc.slice(0, 60)}' cannot be read, so it cannot be ` +
        'checked for secrets (send it uncompressed or as one of gzip, deflate, br)',
    };
  }
  try {
    const out = SYNC_DECODERS[coding](body);
    // deflate and br stop at their stream's end; bytes after it would go on unread.
    if (out.engine.bytesWritten < body.length) {
      return {
        ok: false,
        why: `the request body has ${body.length - out.engine.bytesWritten} bytes after the end of its ${enc} stream, so it cannot be checked for secrets`,
      };
    }
    return { ok: true, body: out.buffer };
  } catch (e) {
    return {
      ok: false,
      why: `the request body does not decode as ${enc} within ${LLM_BODY_LIMIT / 1048576} MiB (${e instanceof Error ? e.message : String(e)}), so it cannot be checked for secrets`,
    };
  }
}

export interface LlmBodyFacts {
  api: MeteredApi;
  /** The host called: cookies other sites set are looked for too. */
  host: string;
  /** The body as received, whole; undefined: it was larger than LLM_BODY_LIMIT. */
  body: Buffer | undefined;
  encoding: string | undefined;
}

export function tooLarge(api: MeteredApi): Refuse {
  return llmRefuse(
    api,
    'llm-body-too-large',
    `the request body is larger than ${LLM_BODY_LIMIT / 1048576} MiB, the most the proxy holds to check it for secrets`,
    413,
  );
}

/** The verdict on an LLM request's body. */
export function llmBodyVerdict(state: ProxyState, f: LlmBodyFacts): LlmBodyVerdict {
  if (f.body === undefined || f.body.length > LLM_BODY_LIMIT) return tooLarge(f.api);
  const d = decodeLlmBody(f.body, f.encoding);
  if (!d.ok) return llmRefuse(f.api, 'llm-unreadable-body', d.why);
  const r = redactBody(scannerFor(state, f.host), d.body);
  const found: Finding[] = [
    ...Object.keys(r.redactions).map((kind) => ({ kind, where: 'body' })),
    ...r.residual,
  ];
  if (found.length === 0) return { kind: 'pass' };
  const rule = ruleOf(found);
  const mode = state.policy.llm;
  if (mode === 'audit') {
    return {
      kind: 'flag',
      rule,
      why: `the request carries what looks like a secret (${places(found)}); forwarded unchanged (egress.llm: audit)`,
      findings: found,
    };
  }
  if (mode === 'refuse') {
    return llmRefuse(
      f.api,
      rule,
      `the request carries what looks like a secret (${places(found)}); this bottle refuses such LLM requests (egress.llm: refuse)`,
      400,
      found,
    );
  }
  if (r.residual.length > 0) {
    return llmRefuse(
      f.api,
      rule,
      `the request carries what looks like a secret that cannot be redacted in place (${places(r.residual)}), ` +
        'for example one split across several strings; remove it from the conversation',
      400,
      r.residual,
    );
  }
  return {
    kind: 'redact',
    body: r.body,
    redactions: r.redactions,
    why: `secrets redacted from the request: ${describeRedactions(r.redactions)}`,
  };
}

/** The refusal in the API's own error shape: a request error, never an auth or budget one. */
export function llmRefusal(api: MeteredApi, status: number, message: string): ShapedError {
  const text = `bot-bottle egress: ${message}`;
  const anthropicType =
    status === 413 ? 'request_too_large' : status >= 500 ? 'api_error' : 'invalid_request_error';
  const body =
    api === 'anthropic-messages'
      ? { type: 'error', error: { type: anthropicType, message: text } }
      : {
          error: {
            message: text,
            type: status >= 500 ? 'server_error' : 'invalid_request_error',
            param: null,
            code: status === 413 ? 'request_too_large' : 'secret_in_request',
          },
        };
  return {
    status,
    headers: {
      'content-type': 'application/json',
      // The same conversation sent again meets the same check.
      'x-should-retry': 'false',
      'x-bot-bottle-refusal': status === 413 ? 'too-large' : 'secret',
    },
    body: JSON.stringify(body),
  };
}
