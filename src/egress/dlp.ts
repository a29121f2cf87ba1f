import { SECRET_PATTERNS } from './dlp-patterns.js';

/**
 * The scanner for what leaves a bottle: URL, headers and body. It looks at
 * the text as sent and at its decoded forms (URL-decoding repeated, base64
 * and hex runs), because an agent told to hide a key will encode it. It
 * reports what kind of secret it saw and where, never the secret itself.
 */

export interface Finding {
  /** Pattern name, `entropy`, `hostname-encoding` or `bottle-secret`. */
  kind: string;
  where: string;
}

/** Where a secret sits in a text as sent: [start, end) in UTF-16 units. */
export interface Located {
  kind: string;
  start: number;
  end: number;
}

/** Global copies of the patterns, made once: `locate` walks every match, not the first. */
const globalCopies = new WeakMap<RegExp, RegExp>();
function globalCopy(re: RegExp): RegExp {
  let g = globalCopies.get(re);
  if (g === undefined) {
    g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
    globalCopies.set(re, g);
  }
  g.lastIndex = 0;
  return g;
}

/** Runs of encoded text worth decoding; long blobs (images) are data, not keys. */
const BASE64_RUN = /[A-Za-z0-9+/_-]{16,2048}={0,2}/g;
const HEX_RUN = /(?:[0-9a-fA-F]{2}[-:\s]?){8,1024}/g;
const MAX_SCAN = 8 * 1024 * 1024;

function printable(b: Buffer): boolean {
  if (b.length === 0) return false;
  let ok = 0;
  for (const c of b) if ((c >= 0x20 && c < 0x7f) || c === 0x0a || c === 0x0d || c === 0x09) ok++;
  return ok / b.length > 0.9;
}

function safeDecodeURIComponent(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

/** How many rounds of percent-decoding the text takes to settle. */
export function urlEncodingDepth(text: string): number {
  let cur = text;
  let depth = 0;
  while (depth < 6 && /%[0-9a-fA-F]{2}/.test(cur)) {
    cur = safeDecodeURIComponent(cur);
    depth++;
  }
  return depth;
}

/** Text hidden in hex: its printable stretches (a 40-byte run between binary bytes is a key). */
function hexStretches(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(HEX_RUN)) {
    const hex = m[0].replace(/[-:\s]/g, '');
    const b = Buffer.from(hex.length % 2 === 0 ? hex : hex.slice(0, -1), 'hex');
    const stretches = b.toString('latin1').match(/[\x20-\x7e]{12,}/g);
    if (stretches !== null) out.push(...stretches);
  }
  return out;
}

/**
 * The text and every decoded form of it that is itself text; `hexInRaw` is
 * the text hidden in hex runs of the text as sent.
 */
export function decodedViews(text: string): { views: string[]; hexInRaw: string[] } {
  const views = [text];
  let cur = text;
  for (let i = 0; i < 4 && /%[0-9a-fA-F]{2}/.test(cur); i++) {
    cur = safeDecodeURIComponent(cur);
    views.push(cur);
  }
  const more: string[] = [];
  let hexInRaw: string[] = [];
  for (const [i, v] of views.entries()) {
    for (const m of v.matchAll(BASE64_RUN)) {
      const b = Buffer.from(m[0].replace(/-/g, '+').replace(/_/g, '/'), 'base64');
      if (printable(b)) more.push(b.toString('latin1'));
    }
    const hex = hexStretches(v);
    if (i === 0) hexInRaw = hex;
    more.push(...hex);
  }
  // One more round catches base64 inside URL-encoding inside base64.
  for (const m of more.slice()) {
    if (/%[0-9a-fA-F]{2}/.test(m)) more.push(safeDecodeURIComponent(m));
  }
  // One string for all decoded runs: each pattern then runs once over them, not once per run.
  return { views: more.length === 0 ? views : [...views, more.join('\n')], hexInRaw };
}

export function shannon(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

const IMAGE_MAGIC = [
  Buffer.from('89504e47', 'hex'),
  Buffer.from('ffd8ff', 'hex'),
  Buffer.from('GIF8'),
];

/** Looks like a random token: long, mixed classes, high entropy, not an image blob. */
export function highEntropyToken(s: string): boolean {
  if (s.length < 20 || !/^[A-Za-z0-9+/=_.~-]+$/.test(s)) return false;
  if (!/[a-z]/.test(s) || !/[A-Z]/.test(s) || !/\d/.test(s)) return false;
  if (shannon(s) < 4.0) return false;
  const bytes = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return !IMAGE_MAGIC.some((m) => bytes.subarray(0, m.length).equals(m));
}

/**
 * A host name used as a data channel: encoded labels (hex, base32, base64)
 * or an unusually deep chain of sub-domains. The last two labels (the
 * registered domain) are not judged.
 */
export function hostnameFinding(host: string): string | undefined {
  const labels = host.toLowerCase().split('.');
  if (labels.length < 3) return undefined;
  const sub = host.split('.').slice(0, -2);
  if (sub.length >= 5) return 'deep sub-domain chain';
  for (const label of sub) {
    if (/^[0-9a-f]{12,}$/i.test(label) && label.length % 2 === 0) {
      if (printable(Buffer.from(label, 'hex'))) return 'hex-encoded label';
    }
    // Host names arrive lower-cased, so encodings are judged without case.
    if (/^[a-z2-7]{16,}$/i.test(label) && (label.match(/[2-7]/g) ?? []).length >= 2) {
      return 'base32-encoded label';
    }
    if (
      label.length >= 24 &&
      /^[a-z0-9]+$/i.test(label) &&
      (label.match(/\d/g) ?? []).length >= 3
    ) {
      return 'long random label';
    }
    if (label.length >= 20 && /^[A-Za-z0-9_-]+$/.test(label)) {
      const b = Buffer.from(label.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
      if (printable(b)) return 'base64-encoded label';
      if (highEntropyToken(label)) return 'high-entropy label';
    }
  }
  return undefined;
}

/** Forms of a bottle secret to look for: raw, URL-encoded, base64 (any alignment), hex. */
export function secretForms(secret: string): string[] {
  // Shorter values would match ordinary text; routes carry real keys, which are longer.
  if (secret.length < 8) return [];
  const forms = new Set<string>([secret, encodeURIComponent(secret)]);
  const buf = Buffer.from(secret, 'utf8');
  for (let shift = 0; shift < 3; shift++) {
    // base64 of the secret at byte offset `shift` inside a longer stream: drop the partial edges.
    const b64 = Buffer.concat([Buffer.alloc(shift), buf]).toString('base64');
    const start = Math.ceil((shift * 4) / 3) + (shift === 0 ? 0 : 1);
    const core = b64.replace(/=+$/, '').slice(start, -2);
    if (core.length >= 12) {
      forms.add(core);
      forms.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  forms.add(buf.toString('hex'));
  forms.add(buf.toString('hex').toUpperCase());
  return [...forms].filter((f) => f.length >= 8);
}

/**
 * A message that ends in the first part of a known token: a secret split
 * across WebSocket messages to slip past a per-message scan.
 */
const TRUNCATED_TOKEN =
  /\b(?:gh[pousr]_|github_pat_|sk-(?:ant-|proj-|live-|test-)?|sk_(?:live|test)_|AKIA|xox[abposre]-|glpat-|hf_|npm_)(?=[\w-]*[A-Z0-9])[A-Za-z0-9_-]{4,}$/;

export function endsWithTokenFragment(text: string): boolean {
  return TRUNCATED_TOKEN.test(text.trimEnd());
}

export class Scanner {
  private readonly bottleSecrets: string[];

  /** `secrets`: the bottle's own credential values, which must never be seen leaving. */
  constructor(secrets: readonly string[]) {
    this.bottleSecrets = [...new Set(secrets.flatMap(secretForms))];
  }

  /** Findings in one piece of text (a URL, a header value, a body). */
  scanText(text: string, where: string): Finding[] {
    const s = text.length > MAX_SCAN ? text.slice(0, MAX_SCAN) : text;
    const findings: Finding[] = [];
    const { views, hexInRaw } = decodedViews(s);
    // Random-looking words hidden in hex are keys being smuggled, whatever their format.
    if (hexInRaw.some((t) => t.split(/[\s"'=:,;]+/).some(highEntropyToken))) {
      findings.push({ kind: 'hex-encoded-secret', where });
    }
    for (const secret of this.bottleSecrets) {
      if (views.some((v) => v.includes(secret))) {
        findings.push({ kind: 'bottle-secret', where });
        break;
      }
    }
    for (const p of SECRET_PATTERNS) {
      for (const v of views) {
        const m = p.re.exec(v);
        if (m !== null && (p.verify === undefined || p.verify(m[0]))) {
          findings.push({ kind: p.name, where });
          break;
        }
      }
    }
    return findings;
  }

  /**
   * Every secret in the text as written (no decoding): the bottle's own
   * values in each of their forms and every verified pattern match. What
   * hides in an encoded run is for the caller to find (`scanText` on the
   * run says whether it holds one).
   */
  locate(text: string): Located[] {
    const out: Located[] = [];
    for (const secret of this.bottleSecrets) {
      for (let i = text.indexOf(secret); i >= 0; i = text.indexOf(secret, i + 1)) {
        out.push({ kind: 'bottle-secret', start: i, end: i + secret.length });
      }
    }
    for (const p of SECRET_PATTERNS) {
      const re = globalCopy(p.re);
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        if (m[0] === '') {
          re.lastIndex++;
          continue;
        }
        if (p.verify === undefined || p.verify(m[0])) {
          out.push({ kind: p.name, start: m.index, end: m.index + m[0].length });
        }
      }
    }
    return out;
  }

  /** URL: patterns on the whole, entropy per path segment and query value, the host name. */
  scanUrl(host: string, pathAndQuery: string): Finding[] {
    const findings = this.scanText(pathAndQuery, 'url');
    if (urlEncodingDepth(pathAndQuery) >= 3) {
      findings.push({ kind: 'nested-url-encoding', where: 'url' });
    }
    const hostIssue = hostnameFinding(host);
    if (hostIssue !== undefined)
      findings.push({ kind: 'hostname-encoding', where: `host (${hostIssue})` });
    const [path = '', query = ''] = pathAndQuery.split('?', 2);
    const pieces = [
      ...path.split('/'),
      ...query.split('&').map((kv) => kv.slice(kv.indexOf('=') + 1)),
    ].map(safeDecodeURIComponent);
    if (pieces.some(highEntropyToken)) findings.push({ kind: 'entropy', where: 'url' });
    return findings;
  }

  scanHeaders(
    headers: Readonly<Record<string, string | string[] | undefined>>,
    skip: ReadonlySet<string>,
  ): Finding[] {
    const out: Finding[] = [];
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || skip.has(name.toLowerCase())) continue;
      for (const v of Array.isArray(value) ? value : [value])
        out.push(...this.scanText(v, `header ${name}`));
    }
    return out;
  }
}
