import type { MeteredApi } from './meter.js';

/**
 * The provider's own count of a request's input tokens, asked before
 * admission when the bottle's budget says `count: provider`. Pure parts:
 * which endpoint, which body, and whether an answer can be believed.
 */

type Json = Record<string, unknown>;

/** What each count endpoint accepts from the request (never its cap, stream flag or metadata). */
const COUNT_FIELDS: Partial<Record<MeteredApi, readonly string[]>> = {
  'anthropic-messages': [
    'model',
    'messages',
    'system',
    'tools',
    'tool_choice',
    'thinking',
    'mcp_servers',
  ],
  'openai-responses': [
    'model',
    'input',
    'instructions',
    'tools',
    'tool_choice',
    'parallel_tool_calls',
    'previous_response_id',
    'conversation',
    'reasoning',
    'text',
    'truncation',
  ],
};

/** How long the count may take before the local estimate is used. */
export const COUNT_TIMEOUT_MS = 3000;

/** An answer above the local estimate times this is not believed. */
export const COUNT_ABSURD_FACTOR = 10;

/**
 * The count endpoint's path for a metered call's path (its prefix and query
 * kept), or undefined when the API has none: Chat Completions, and the
 * ChatGPT backend's Responses, have no count endpoint.
 */
export function countPath(api: MeteredApi, path: string): string | undefined {
  const q = path.indexOf('?');
  const base = (q < 0 ? path : path.slice(0, q)).replace(/\/+$/, '');
  const query = q < 0 ? '' : path.slice(q);
  if (api === 'anthropic-messages' && base.endsWith('/v1/messages')) {
    return `${base}/count_tokens${query}`;
  }
  if (api === 'openai-responses' && base.endsWith('/v1/responses')) {
    return `${base}/input_tokens${query}`;
  }
  return undefined;
}

/** The count request's body: the request's input fields only, from the (already redacted) body. */
export function countBody(api: MeteredApi, json: Json): Buffer | undefined {
  const fields = COUNT_FIELDS[api];
  if (fields === undefined) return undefined;
  const out: Json = {};
  for (const f of fields) if (json[f] !== undefined) out[f] = json[f];
  return Buffer.from(JSON.stringify(out));
}

/** The count an answer gives, or why it is not believed (the local estimate is used then). */
export function parseCount(
  api: MeteredApi,
  status: number,
  text: string,
  estimate: number,
): { ok: true; tokens: number } | { ok: false; why: string } {
  if (status !== 200) return { ok: false, why: `the count endpoint answered ${status}` };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, why: 'the count endpoint answered something other than JSON' };
  }
  const o = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
  if (api === 'openai-responses' && o.object !== 'response.input_tokens') {
    return { ok: false, why: 'the count endpoint answered without object response.input_tokens' };
  }
  const n = o.input_tokens;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    return { ok: false, why: 'the count endpoint answered no whole input_tokens' };
  }
  if (n < 0) return { ok: false, why: `the count endpoint answered a negative count (${n})` };
  if (n > Math.max(1, estimate) * COUNT_ABSURD_FACTOR) {
    return {
      ok: false,
      why: `the count endpoint answered ${n}, over ${COUNT_ABSURD_FACTOR}x the local estimate ${estimate}`,
    };
  }
  return { ok: true, tokens: n };
}
