import type { MeteredApi } from './meter.js';

/**
 * The input tokens of an LLM request, estimated from its decoded JSON body
 * before it leaves, so admission can lower its output cap to what the
 * budget has left. It must err high: an overestimate only stops a budget a
 * little early, an underestimate lets it overshoot.
 *
 * A character heuristic, not a tokenizer: measured against o200k_base
 * (OpenAI's tokenizer of current models) it never undercounted and costs
 * well under a millisecond per 100 KB, where the tokenizer costs tens of
 * milliseconds and a megabyte of sidecar bundle (docs/budgets.md has the
 * numbers). Anthropic publishes no tokenizer of its current models; its
 * count is taken a fixed factor above the same heuristic.
 */

/** Characters per token assumed for ASCII text (o200k averages about 4 on prose, 3.3 on code). */
const ASCII_CHARS_PER_TOKEN = 3;
/** Claude's tokenizers split the same text into more tokens than o200k: counted this much higher. */
const ANTHROPIC_FACTOR = 1.3;
/** A picture, whatever its size: both APIs scale images down to about this many tokens or fewer. */
export const IMAGE_TOKENS = 1600;
/** Per message (role markers and separators the API adds). */
const MESSAGE_OVERHEAD = 8;
/** Per request (system framing, tool-use preamble). */
const REQUEST_OVERHEAD = 50;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;

/** Tokens of one string: ASCII by characters per token, anything else one token per UTF-8 byte pair. */
export function textTokens(s: string): number {
  let ascii = 0;
  let other = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) ascii++;
    else if (c < 0x800) other += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      other += 4;
      i++;
    } else other += 3;
  }
  return Math.ceil(ascii / ASCII_CHARS_PER_TOKEN + other / 2);
}

/**
 * Tokens of a JSON value: every string (keys too) by `textTokens`, plus one
 * per punctuation mark; images and documents (base64 `data`) by their own
 * rule, so a screenshot is not counted as megabytes of text.
 */
function valueTokens(v: unknown, depth = 0): number {
  if (typeof v === 'string') return textTokens(v) + 1;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return 2;
  if (depth > 64) return textTokens(JSON.stringify(v));
  if (Array.isArray(v)) return v.reduce<number>((n, x) => n + valueTokens(x, depth + 1) + 1, 1);
  const o = obj(v);
  if (o === undefined) return 0;
  const media = mediaTokens(o);
  if (media !== undefined) return media;
  let n = 1;
  for (const [k, x] of Object.entries(o)) n += textTokens(k) + 2 + valueTokens(x, depth + 1);
  return n;
}

/** An image or a document block (either API's shape), or undefined if `o` is neither. */
function mediaTokens(o: Json): number | undefined {
  const type = typeof o.type === 'string' ? o.type : '';
  if (type === 'image' || type === 'input_image' || type === 'image_url') return IMAGE_TOKENS;
  if (type === 'document' || type === 'input_file') {
    // A PDF costs per page (text and a picture of each); its bytes bound the pages from above.
    const src = obj(o.source);
    const data =
      typeof src?.data === 'string' ? src.data : typeof o.file_data === 'string' ? o.file_data : '';
    if (data === '') return undefined;
    return Math.ceil(data.length / 3) + IMAGE_TOKENS;
  }
  return undefined;
}

/** The request fields that reach the model as input, per API. */
const INPUT_FIELDS: Record<MeteredApi, readonly string[]> = {
  'anthropic-messages': ['system', 'messages', 'tools', 'tool_choice'],
  'openai-responses': ['instructions', 'input', 'tools', 'tool_choice', 'text'],
  'openai-chat': ['messages', 'tools', 'functions', 'tool_choice', 'response_format'],
};

/** Estimated input tokens of a parsed request body (an object; anything else counts whole). */
export function estimateInput(api: MeteredApi, body: unknown): number {
  const o = obj(body);
  if (o === undefined) return Math.ceil(valueTokens(body) * factor(api)) + REQUEST_OVERHEAD;
  let n = REQUEST_OVERHEAD;
  for (const f of INPUT_FIELDS[api]) {
    const v = o[f];
    if (v === undefined) continue;
    n += valueTokens(v);
    if (Array.isArray(v)) n += v.length * MESSAGE_OVERHEAD;
  }
  return Math.ceil(n * factor(api));
}

function factor(api: MeteredApi): number {
  return api === 'anthropic-messages' ? ANTHROPIC_FACTOR : 1;
}
