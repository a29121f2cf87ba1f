import { estimateInput } from './estimate.js';
import type { MeteredApi } from './meter.js';

/**
 * A metered request's output cap, as admission sees it and as the upstream
 * will: the sidecar reads the cap the request asks for (and the least it
 * can be lowered to), admission grants a cap that fits what the budget has
 * left, and the body is written anew with it. The body is always
 * re-serialized from the parsed JSON when a cap is in force, so what the
 * upstream parses is exactly what was checked: duplicate keys collapse to
 * the one JSON.parse kept, escaped key names (`"max\u005ftokens"`) become
 * plain, and a cap of the wrong type is replaced by a number.
 */

/** Thinking needs at least this many tokens of budget (Anthropic's own minimum). */
export const MIN_THINKING_BUDGET = 1024;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;

/** What admission is asked for a request: its input estimate, its own cap and the least cap it can take. */
export interface CapAsk {
  /** Estimated input tokens. */
  input: number;
  /** The cap the request asks for (null: none, or not a positive number). */
  cap: number | null;
  /** The smallest cap the request stays valid with (thinking needs room beyond its budget). */
  minCap: number;
}

/** A request body parsed for capping: the JSON object, or why it cannot be. */
export type ParsedBody = { ok: true; json: Json } | { ok: false; why: string };

export function parseBody(body: Buffer): ParsedBody {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return { ok: false, why: `it is not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  const o = obj(v);
  if (o === undefined) return { ok: false, why: 'it is JSON but not an object' };
  return { ok: true, json: o };
}

/**
 * The fields that carry the output cap, in the order they are read. Chat
 * Completions has two: `max_completion_tokens` (current) wins over the
 * older `max_tokens`; both are written when a cap is granted.
 */
const CAP_FIELDS: Record<MeteredApi, readonly string[]> = {
  'anthropic-messages': ['max_tokens'],
  'openai-responses': ['max_output_tokens'],
  'openai-chat': ['max_completion_tokens', 'max_tokens'],
};

/** A cap as asked: a positive finite number (rounded down), else none. */
function capValue(v: unknown): number | null {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1) return null;
  return Math.min(Math.floor(v), Number.MAX_SAFE_INTEGER);
}

/** A Responses WebSocket `response.create` carries the request at its top level or under `response`. */
function requestOf(api: MeteredApi, json: Json, ws: boolean): Json {
  if (!ws || api !== 'openai-responses') return json;
  return obj(json.response) ?? json;
}

export function capAsk(api: MeteredApi, json: Json, ws = false): CapAsk {
  const r = requestOf(api, json, ws);
  let cap: number | null = null;
  for (const f of CAP_FIELDS[api]) {
    cap = capValue(r[f]);
    if (cap !== null) break;
  }
  return { input: estimateInput(api, r), cap, minCap: minCap(api, r) };
}

/** Thinking enabled: max_tokens must stay above a budget of at least 1024. */
function minCap(api: MeteredApi, r: Json): number {
  if (api !== 'anthropic-messages') return 1;
  const t = obj(r.thinking);
  return t?.type === 'enabled' ? MIN_THINKING_BUDGET + 1 : 1;
}

/** The request rewritten with a granted cap, and what was changed (for the egress log). */
export interface Capped {
  body: Buffer;
  /** e.g. `max_tokens 64000 -> 8800`, `max_output_tokens (none) -> 8800`. */
  change: string;
}

/**
 * The body with the granted cap written in (added where the request had
 * none) and a thinking budget kept below it, serialized anew.
 */
export function applyCap(api: MeteredApi, json: Json, cap: number, ws = false): Capped {
  const r = requestOf(api, json, ws);
  const fields = CAP_FIELDS[api];
  const asked = fields.map((f) => r[f]).find((v) => v !== undefined);
  const present = fields.filter((f) => r[f] !== undefined);
  for (const f of present.length === 0 ? [fields[0] ?? 'max_tokens'] : present) r[f] = cap;
  const name = present[0] ?? fields[0] ?? 'max_tokens';
  const changes = [`${name} ${asked === undefined ? '(none)' : shown(asked)} -> ${cap}`];
  const t = obj(r.thinking);
  if (api === 'anthropic-messages' && t?.type === 'enabled') {
    const b = t.budget_tokens;
    const room = Math.max(MIN_THINKING_BUDGET, cap - 1);
    if (typeof b !== 'number' || !Number.isFinite(b) || b > room) {
      t.budget_tokens = room;
      changes.push(`thinking.budget_tokens ${shown(b)} -> ${room}`);
    }
  }
  return { body: Buffer.from(JSON.stringify(json), 'utf8'), change: changes.join(', ') };
}

function shown(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 24 ? `${s.slice(0, 21)}...` : s;
}

/** Why a request that must be capped is refused: its body cannot be read to write the cap in. */
export function uncappableWhy(why: string): string {
  return (
    `the request body cannot be read as JSON (${why}), so its output cap cannot be lowered to ` +
    'what the budget has left; bot-bottle does not forward such a request while a budget applies'
  );
}
