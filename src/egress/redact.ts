import { SECRET_PATTERNS } from './dlp-patterns.js';
import { dedupe, type Finding, type Located, type Scanner } from './dlp.js';
import { base64Bytes } from './entropy.js';
import { scanAll } from './transport/inspector.js';
import { hexRunBytes, printable } from './views.js';

/**
 * Redaction of what an agent sends to its own LLM API (DESIGN 4b). The
 * conversation carries everything the agent has read, so a secret-looking
 * string in it is replaced by a typed marker (`[REDACTED stripe-key]`) and
 * the call goes on, instead of the call being refused and the session dying.
 *
 * JSON bodies are judged as the upstream will read them: every string is
 * decoded (so `\u0041KIA…` or `\/` hides nothing), redacted and written
 * back; the bytes between strings are kept as they were. A run of base64,
 * hex or percent-encoding whose decoded form holds a secret is replaced
 * whole. Anything else is redacted as text.
 *
 * The result is scanned again, and whatever is still found is returned as
 * residual: the caller refuses then (fail closed). That includes a secret
 * assembled from consecutive JSON strings under one key name
 * (`["AKIAIOSF", "ODNN7EXAMPLE"]`, or two `text` blocks): no single string
 * holds it, so no string can honestly be said to be redacted, and it is not
 * forwarded either. Pieces scattered in any other order are a reassembly
 * puzzle no scanner sees, as with any split payload.
 */

export interface Redaction {
  /** The body to forward: the input itself when nothing was redacted. */
  body: Buffer;
  /** kind -> how many values of that kind were replaced. */
  redactions: Record<string, number>;
  /** What the scanner still finds after redaction; non-empty means refuse. */
  residual: Finding[];
  json: boolean;
}

export const marker = (kinds: readonly string[]): string => `[REDACTED ${kinds.join('+')}]`;

/**
 * Longer texts are scanned in overlapping windows of this much, half the
 * most the scanner reads at once (SCAN_WINDOW, 8 MiB).
 */
const WINDOW = 4 * 1024 * 1024;
/** How deep a JSON document held in a JSON string is itself read as JSON. */
const MAX_NESTING = 4;

/** Bounded, so a multi-megabyte image is judged in pieces (a multiple of 4: same alignment). */
const BASE64_RUN = /[A-Za-z0-9+/_-]{16,65536}={0,2}/g;
const HEX_RUN = /(?:[0-9a-fA-F]{2}[-:\s]?){8,32768}/g;
const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/g;
/** What a percent-encoded run is made of: unreserved characters and escapes. */
const IN_PERCENT_RUN = /[A-Za-z0-9._~!*'()+%-]/;

/** Runs of unreserved characters holding at least one percent escape (found without backtracking). */
function percentRuns(text: string): { start: number; run: string }[] {
  const out: { start: number; run: string }[] = [];
  let covered = -1;
  for (const m of text.matchAll(PERCENT_ESCAPE)) {
    if (m.index < covered) continue;
    let start = m.index;
    let end = m.index + 3;
    while (start > 0 && IN_PERCENT_RUN.test(text[start - 1] ?? '')) start--;
    while (end < text.length && IN_PERCENT_RUN.test(text[end] ?? '')) end++;
    covered = end;
    out.push({ start, run: text.slice(start, end) });
  }
  return out;
}

/** Known values name themselves before any pattern does: they are certain, patterns guess. */
const PRIORITY = new Map<string, number>([
  ['bottle-secret', -2],
  ['cross-site-cookie', -1],
  ...SECRET_PATTERNS.map((p, i) => [p.name, i] as const),
]);
const rank = (kind: string): number => PRIORITY.get(kind) ?? SECRET_PATTERNS.length;

/** Findings in a text of any length (the scanner itself reads a bounded prefix). */
export function scanWhole(scanner: Scanner, text: string, where: string): Finding[] {
  return dedupe(scanAll(() => scanner, text, where, WINDOW));
}

interface Span {
  start: number;
  end: number;
  /** Direct matches: one kind each. Encoded runs: every kind found inside. */
  kinds: string[];
  encoded: boolean;
}

/** Encoded runs whose decoded form the scanner finds a secret in. */
function encodedSpans(scanner: Scanner, text: string): Span[] {
  const out: Span[] = [];
  const judge = (start: number, run: string): void => {
    let kinds = [...new Set(scanner.scanText(run, 'run').map((f) => f.kind))];
    // "Something random in hex" says nothing a named detector has not said already.
    if (kinds.length > 1) kinds = kinds.filter((k) => k !== 'hex-encoded-secret');
    if (kinds.length > 0) out.push({ start, end: start + run.length, kinds, encoded: true });
  };
  for (const m of text.matchAll(BASE64_RUN)) {
    // Text wrapped in base64 decodes to text; an image or random key material does not.
    if (printable(base64Bytes(m[0]))) judge(m.index, m[0]);
  }
  for (const m of text.matchAll(HEX_RUN)) {
    if (/[\x20-\x7e]{12,}/.test(hexRunBytes(m[0]).toString('latin1'))) {
      judge(m.index, m[0].trimEnd());
    }
  }
  for (const p of percentRuns(text)) judge(p.start, p.run);
  return out;
}

/** Overlapping spans become one; a direct match inside an encoded run is part of the run. */
function merge(spans: Span[]): Span[] {
  const sorted = spans.slice().sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [];
  for (const s of sorted) {
    const last = out.at(-1);
    if (last !== undefined && s.start < last.end) {
      last.end = Math.max(last.end, s.end);
      last.kinds.push(...s.kinds);
      last.encoded ||= s.encoded;
    } else {
      out.push({ ...s, kinds: s.kinds.slice() });
    }
  }
  // Several detectors firing on one direct match are one secret: the most specific names it.
  for (const s of out) {
    const kinds = [...new Set(s.kinds)].sort((a, b) => rank(a) - rank(b));
    s.kinds = s.encoded ? kinds : kinds.slice(0, 1);
  }
  return out;
}

/** Where the secrets of `text` are, direct and encoded. */
function spansOf(scanner: Scanner, text: string): Span[] {
  const direct = scanner
    .locate(text)
    .map((l: Located) => ({ start: l.start, end: l.end, kinds: [l.kind], encoded: false }));
  return merge([...direct, ...encodedSpans(scanner, text)]);
}

/** Replace the spans inside one segment [from, to) of the joined text. */
function applySpans(text: string, from: number, spans: readonly Span[], tally: Tally): string {
  let out = '';
  let at = 0;
  for (const s of spans) {
    const start = Math.max(0, s.start - from);
    const end = Math.min(text.length, s.end - from);
    if (end <= at || start >= text.length) continue;
    out += text.slice(at, start) + marker(s.kinds);
    tally.add(s);
    at = end;
  }
  return out + text.slice(at);
}

/** Counts each span once, also when it reaches over several strings. */
class Tally {
  readonly counts: Record<string, number> = {};
  private readonly seen = new Set<Span>();
  add(s: Span): void {
    if (this.seen.has(s)) return;
    this.seen.add(s);
    this.kinds(s.kinds);
  }
  kinds(kinds: readonly string[]): void {
    for (const k of kinds) this.counts[k] = (this.counts[k] ?? 0) + 1;
  }
  get any(): boolean {
    return this.seen.size > 0 || Object.keys(this.counts).length > 0;
  }
}

/** One piece of a JSON body: raw bytes between strings, or a decoded string. */
interface Segment {
  raw: string;
  /** Decoded value; undefined for the bytes between strings. */
  value?: string;
  key: boolean;
}

const STRING_TOKEN = /"[^"\\]*(?:\\.[^"\\]*)*"/g;

/**
 * Splits valid JSON into strings and what lies between them. Outside its
 * strings JSON holds no quote character, so the matches are exactly the
 * string tokens.
 */
function segments(json: string): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  for (const m of json.matchAll(STRING_TOKEN)) {
    if (m.index > at) out.push({ raw: json.slice(at, m.index), key: false });
    const raw = m[0];
    const value = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
    const after = /^\s*:/.test(json.slice(m.index + raw.length, m.index + raw.length + 64));
    out.push({ raw, value, key: after });
    at = m.index + raw.length;
  }
  if (at < json.length) out.push({ raw: json.slice(at), key: false });
  return out;
}

/**
 * The segments' texts, each on its own line (so no secret is pieced
 * together from two strings), except that a key, its colon and its value
 * share one line: detectors that judge a value by the name before it
 * (`"device_id": "<64 hex>"` is an identifier, `"private_key": ...` a key)
 * must see that name. Every separator is one character, so offsets into
 * the joined text map back to the segments.
 */
function joinSegments(segs: readonly Segment[], texts: readonly string[]): string {
  let out = '';
  for (const [i, t] of texts.entries()) {
    if (i > 0) {
      const prev = segs[i - 1];
      const sameLine =
        prev !== undefined &&
        (prev.key || (prev.value === undefined && /^\s*:\s*$/.test(prev.raw)));
      out += sameLine ? ' ' : '\n';
    }
    out += t;
  }
  return out;
}

function isJson(text: string): boolean {
  const t = text.trimStart();
  if (!t.startsWith('{') && !t.startsWith('[')) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Redacts valid JSON text; the tally collects what was replaced. */
function redactJson(scanner: Scanner, json: string, tally: Tally, depth: number): string {
  const segs = segments(json);
  // One text for all segments, each on its own line: every detector runs once.
  const starts: number[] = [];
  let len = 0;
  for (const s of segs) {
    starts.push(len);
    len += (s.value ?? s.raw).length + 1;
  }
  const joined = joinSegments(
    segs,
    segs.map((s) => s.value ?? s.raw),
  );
  const spans = spansOf(scanner, joined);
  return segs
    .map((s, i) => {
      if (s.value === undefined) return s.raw;
      const from = starts[i] ?? 0;
      const to = from + s.value.length;
      const mine = spans.filter((sp) => sp.start < to && sp.end > from);
      let v = mine.length === 0 ? s.value : applySpans(s.value, from, mine, tally);
      // A JSON document inside a string (tool arguments) hides escapes of its own.
      if (depth < MAX_NESTING && /\\|^\s*[[{]/.test(v) && isJson(v)) {
        v = redactJson(scanner, v, tally, depth + 1);
      }
      return v === s.value ? s.raw : JSON.stringify(v);
    })
    .join('');
}

function redactText(scanner: Scanner, text: string, tally: Tally): string {
  const spans = spansOf(scanner, text);
  return spans.length === 0 ? text : applySpans(text, 0, spans, tally);
}

/**
 * Strings the detectors find something in that has no position (a future
 * detector judging a whole value): the whole string is replaced.
 */
function redactWholeStrings(scanner: Scanner, json: string, tally: Tally): string {
  return segments(json)
    .map((s) => {
      if (s.value === undefined) return s.raw;
      const kinds = [...new Set(scanWhole(scanner, s.value, 'body').map((f) => f.kind))];
      if (kinds.length === 0) return s.raw;
      tally.kinds(kinds);
      return JSON.stringify(marker(kinds));
    })
    .join('');
}

/**
 * A JSON text as its reader sees it: strings decoded, each segment on its
 * own line, a JSON document held in a string read the same way. `groups`
 * holds the values under each key name in order (array items under their
 * array's key), which is how text gets split: `{"type":"text","text":"AKIAIOSF"},
 * {"type":"text","text":"ODNN7EXAMPLE"}`.
 */
function decodedView(
  json: string,
  groups = new Map<string, string[]>(),
  depth = 0,
): { text: string; groups: Map<string, string[]> } {
  let key = '';
  const segs = segments(json);
  const parts = segs.map((s) => {
    if (s.value === undefined) return s.raw;
    if (s.key) key = s.value;
    else {
      const g = groups.get(key);
      if (g === undefined) groups.set(key, [s.value]);
      else g.push(s.value);
    }
    if (depth < MAX_NESTING && /\\|^\s*[[{]/.test(s.value) && isJson(s.value)) {
      return `${s.value}\n${decodedView(s.value, groups, depth + 1).text}`;
    }
    return s.value;
  });
  return { text: joinSegments(segs, parts), groups };
}

/** What the scanner finds in a JSON text as the upstream reads it, and in values read together. */
function jsonFindings(scanner: Scanner, json: string): Finding[] {
  const v = decodedView(json);
  // Each group under its key name, which says what its values are (see joinSegments).
  const together = [...v.groups.entries()].map(([k, g]) => `${k} ${g.join('')}`).join('\n');
  return dedupe([
    ...scanWhole(scanner, v.text, 'body'),
    ...scanWhole(scanner, together, 'body (adjacent strings)'),
  ]);
}

const JSON_ESCAPE = /\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))/g;
const SIMPLE: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * Findings in a text body, also as a lenient JSON reader would decode it:
 * a body that is almost JSON (a trailing comma) is redacted as text, and
 * its `\u0041KIA…` must not pass for harmless.
 */
function textFindings(scanner: Scanner, text: string): Finding[] {
  const plain = scanWhole(scanner, text, 'body');
  if (!text.includes('\\')) return plain;
  const unescaped = text.replace(
    JSON_ESCAPE,
    (_m, hex: string | undefined, c: string | undefined) =>
      hex !== undefined ? String.fromCharCode(parseInt(hex, 16)) : (SIMPLE[c ?? ''] ?? c ?? ''),
  );
  return dedupe([...plain, ...scanWhole(scanner, unescaped, 'body (escapes decoded)')]);
}

/**
 * Redacts a request body (already content-decoded). A body is JSON when it
 * parses as JSON, whatever its content type says.
 */
export function redactBody(scanner: Scanner, body: Buffer): Redaction {
  const tally = new Tally();
  const utf8 = body.toString('utf8');
  if (isJson(utf8)) {
    // Most calls carry nothing: one scan of the decoded view decides that.
    let residual = jsonFindings(scanner, utf8);
    if (residual.length === 0) return { body, redactions: {}, residual, json: true };
    let text = redactJson(scanner, utf8, tally, 0);
    residual = jsonFindings(scanner, text);
    if (residual.length > 0) {
      text = redactWholeStrings(scanner, text, tally);
      residual = jsonFindings(scanner, text);
    }
    return {
      body: tally.any ? Buffer.from(text, 'utf8') : body,
      redactions: tally.counts,
      residual,
      json: true,
    };
  }
  // Text as bytes: latin1 maps each byte to one character, so what is not replaced is kept exactly.
  const text = body.toString('latin1');
  if (textFindings(scanner, text).length === 0) {
    return { body, redactions: {}, residual: [], json: false };
  }
  const out = redactText(scanner, text, tally);
  return {
    body: tally.any ? Buffer.from(out, 'latin1') : body,
    redactions: tally.counts,
    residual: textFindings(scanner, out),
    json: false,
  };
}

/** `aws-access-key-id x2, stripe-key` */
export function describeRedactions(r: Readonly<Record<string, number>>): string {
  return Object.entries(r)
    .map(([k, n]) => (n === 1 ? k : `${k} x${n}`))
    .join(', ');
}
