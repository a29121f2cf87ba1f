import { decodeHtmlEntities, decodeJsEscapes, ENTITY, JS_ESCAPE } from './encodings.js';
import { base64Bytes } from './entropy.js';

/**
 * The decoded views of a text the scanner matches against: the text as
 * sent, its text decodings (percent, HTML references, JavaScript escapes,
 * stacked), and what base64 and hex runs in it say. Every step is linear in
 * the text: decoders touch only the regions around encoded characters, and
 * base64 runs are bounded, deduplicated and decoded at four alignments.
 */

const BASE64_RUN = /[A-Za-z0-9+/_-]{16,2048}={0,2}/g;
const HEX_RUN = /(?:[0-9a-fA-F]{2}[-:\s]?){8,1024}/g;

export function printable(b: Buffer): boolean {
  if (b.length === 0) return false;
  // More than one byte in ten outside text decides it: random bytes stop here within a few dozen.
  const allowed = Math.floor(b.length / 10);
  let bad = 0;
  for (const c of b) {
    if ((c < 0x20 || c >= 0x7f) && c !== 0x0a && c !== 0x0d && c !== 0x09 && ++bad > allowed) {
      return false;
    }
  }
  return b.length - bad > b.length * 0.9;
}

export function safeDecodeURIComponent(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

/**
 * Percent-decoding repeated while escapes remain, at most `max` rounds: the
 * text where it stopped and how many rounds it took.
 */
export function percentDecodeRounds(s: string, max: number): { text: string; rounds: number } {
  let text = s;
  let rounds = 0;
  while (rounds < max && /%[0-9a-fA-F]{2}/.test(text)) {
    text = safeDecodeURIComponent(text);
    rounds++;
  }
  return { text, rounds };
}

/** How many rounds of percent-decoding the text takes to settle. */
export function urlEncodingDepth(text: string): number {
  return percentDecodeRounds(text, 6).rounds;
}

/** The bytes of a hex run, separators (`-`, `:`, white space) dropped; an odd last digit is ignored. */
export function hexRunBytes(run: string): Buffer {
  const hex = run.replace(/[-:\s]/g, '');
  return Buffer.from(hex.length % 2 === 0 ? hex : hex.slice(0, -1), 'hex');
}

/** Text hidden in hex: its printable stretches (a 40-byte run between binary bytes is a key). */
function hexStretches(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(HEX_RUN)) {
    const stretches = hexRunBytes(m[0])
      .toString('latin1')
      .match(/[\x20-\x7e]{12,}/g);
    if (stretches !== null) out.push(...stretches);
  }
  return out;
}

/** Separators between the lines of wrapped base64: white space, or `\\n` escapes as JSON carries them. */
const LINE_BREAKS = /(?:\s|\\[rn])+/;
const B64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;
const B64_16 = /^[A-Za-z0-9+/]{16}$/;

/** A line break (real or `\\n`) right after 16 base64 characters: found from the breaks, not by a scan per position. */
function wrapHint(text: string): boolean {
  for (const brk of ['\n', '\\n']) {
    for (let at = text.indexOf(brk); at >= 0; at = text.indexOf(brk, at + 1)) {
      let end = at;
      if (brk === '\n' && text[at - 1] === '\r') end--;
      if (brk === '\\n' && text.slice(at - 2, at) === '\\r') end -= 2;
      if (end >= 16 && B64_16.test(text.slice(end - 16, end))) return true;
    }
  }
  return false;
}

/**
 * Base64 broken over lines (MIME, PEM, `base64` output), joined again. Wrapped
 * lines all have the same width, which ordinary words do not: a run of two or
 * more base64 lines of one width of at least 16, and the shorter last line,
 * is one value. A plain split, so the cost is linear in the text.
 */
export function wrappedBase64(text: string): string[] {
  // Most text has no base64 line at all: one pass over its line breaks spares it the split.
  if (!wrapHint(text)) return [];
  const out: string[] = [];
  let run: string[] = [];
  let width: number | undefined;
  const flush = (): void => {
    if (run.length >= 2 && (width !== undefined || (run[0]?.length ?? 0) >= 16)) {
      out.push(run.join(''));
    }
    run = [];
    width = undefined;
  };
  const start = (first: string): void => {
    run = first.length >= 4 ? [first] : [];
  };
  for (const part of text.split(LINE_BREAKS)) {
    if (!B64_LINE.test(part)) {
      // `"data":"QUJD` / `REVG"}`: the base64 ends or starts inside a part with other text.
      const head = /^[A-Za-z0-9+/]*={0,2}/.exec(part)?.[0] ?? '';
      if (run.length > 0 && head.length > 0 && (width === undefined || head.length <= width)) {
        run.push(head);
      }
      flush();
      start(base64Tail(part));
      continue;
    }
    if (run.length === 0) {
      start(part);
    } else if (width === undefined && part.length >= 16 && !part.endsWith('=')) {
      // The second line gives the width (the first may be the tail of a longer line).
      width = part.length;
      run.push(part);
    } else if (width !== undefined && part.length === width && !part.endsWith('=')) {
      run.push(part);
    } else if (part.length <= (width ?? run[0]?.length ?? 0)) {
      run.push(part);
      flush();
    } else {
      flush();
      start(part);
    }
  }
  flush();
  return out;
}

/** The base64 characters that end `s`, by a backward scan (a regex `[...]*$` is quadratic). */
function base64Tail(s: string): string {
  let i = s.length;
  while (i > 0 && /[A-Za-z0-9+/]/.test(s[i - 1] ?? '')) i--;
  return s.slice(i);
}

const MAX_VIEWS = 8;

function urlDecodeOnce(text: string): string | undefined {
  return /%[0-9a-fA-F]{2}/.test(text) ? safeDecodeURIComponent(text) : undefined;
}

/** Characters kept on each side of an encoded sequence when only the encoded regions are decoded. */
const REGION_CONTEXT = 160;
const PERCENT = /%[0-9a-fA-F]{2}/g;

/**
 * The text with `decode` applied to the regions around each `marker` match
 * (merged when they touch), the regions joined by newlines; undefined when
 * nothing changed. A key partly or wholly encoded lies inside a region, and
 * a large body with a few encoded characters is not copied whole for each
 * decoder.
 */
function decodeRegions(
  text: string,
  marker: RegExp,
  decode: (s: string) => string | undefined,
): string | undefined {
  const spans: [number, number][] = [];
  for (const m of text.matchAll(marker)) {
    const a = Math.max(0, m.index - REGION_CONTEXT);
    const b = Math.min(text.length, m.index + m[0].length + REGION_CONTEXT);
    const last = spans.at(-1);
    if (last !== undefined && a <= last[1]) last[1] = b;
    else spans.push([a, b]);
  }
  if (spans.length === 0) return undefined;
  const parts = spans.map(([a, b]) => {
    const piece = text.slice(a, b);
    return decode(piece) ?? piece;
  });
  const out = parts.join('\n');
  return out === text ? undefined : out;
}

/**
 * The text and its text decodings (percent, HTML references, JavaScript
 * escapes), stacked in any order up to MAX_VIEWS views.
 */
function textViews(text: string): string[] {
  const views = [text];
  const seen = new Set(views);
  for (let i = 0; i < views.length && views.length < MAX_VIEWS; i++) {
    const v = views[i] ?? '';
    for (const d of [
      decodeRegions(v, PERCENT, urlDecodeOnce),
      decodeRegions(v, ENTITY, decodeHtmlEntities),
      decodeRegions(v, JS_ESCAPE, decodeJsEscapes),
    ]) {
      if (d === undefined || seen.has(d) || views.length >= MAX_VIEWS) continue;
      seen.add(d);
      views.push(d);
    }
  }
  return views;
}

/**
 * What a base64 run says. It is decoded at all four alignments, so a prefix
 * in the base64 alphabet glued to it (`token` + base64) cannot shift it out
 * of reach; the first alignment that decodes to text wins. Bytes that are
 * not text at any alignment give their printable stretches (text inside
 * binary) in `binary`.
 */
function decodeBase64Run(run: string, text: string[], binary: string[]): void {
  const decoded: Buffer[] = [];
  for (let off = 0; off < 4 && run.length - off >= 16; off++) {
    const b = base64Bytes(off === 0 ? run : run.slice(off));
    if (printable(b)) {
      text.push(b.toString('latin1'));
      return;
    }
    decoded.push(b);
  }
  // Text inside binary: at every alignment for short runs; long runs are blobs (images, archives),
  // encoded whole, so their own alignment is the one that counts.
  for (const b of run.length <= 512 ? decoded : decoded.slice(0, 1)) {
    printableStretches(b, 12, binary);
  }
}

/** Runs of at least `min` printable ASCII bytes, by one pass over the bytes. */
function printableStretches(b: Buffer, min: number, out: string[]): void {
  let start = -1;
  for (let i = 0; i <= b.length; i++) {
    const c = i < b.length ? (b[i] ?? 0) : 0;
    if (c >= 0x20 && c < 0x7f) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start >= min) out.push(b.toString('latin1', start, i));
      start = -1;
    }
  }
}

export interface DecodedViews {
  views: string[];
  /** Text hidden in hex runs of the text as sent. */
  hexInRaw: string[];
  /** Printable stretches inside base64 runs that are binary, not text. */
  inBinary: string[];
  /** Base64 runs that decode, whole, to text. */
  base64Texts: string[];
}

/** The text and every decoded form of it that is itself text. */
export function decodedViews(text: string): DecodedViews {
  const views = textViews(text);
  const more: string[] = [];
  const base64Texts: string[] = [];
  const inBinary: string[] = [];
  let hexInRaw: string[] = [];
  const runs = new Set<string>();
  for (const [i, v] of views.entries()) {
    for (const m of v.matchAll(BASE64_RUN)) {
      // The same run in several views (most of them) is decoded once.
      if (runs.has(m[0])) continue;
      runs.add(m[0]);
      decodeBase64Run(m[0], base64Texts, inBinary);
    }
    for (const w of wrappedBase64(v)) decodeBase64Run(w, base64Texts, inBinary);
    const hex = hexStretches(v);
    if (i === 0) hexInRaw = hex;
    more.push(...hex);
  }
  more.push(...base64Texts, ...inBinary);
  // One more round catches base64 inside an encoding inside base64.
  for (const m of more.slice()) {
    for (const d of [urlDecodeOnce(m), decodeHtmlEntities(m), decodeJsEscapes(m)]) {
      if (d !== undefined) more.push(d);
    }
  }
  // One string for all decoded runs: each pattern then runs once over them, not once per run.
  return {
    views: more.length === 0 ? views : [...views, more.join('\n')],
    hexInRaw,
    inBinary,
    base64Texts,
  };
}
