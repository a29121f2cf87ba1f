import { SECRET_PATTERNS } from './dlp-patterns.js';
import {
  base64UserPass,
  basicAuthValue,
  findSecretAssignment,
  matchBasicInText,
  matchSecretAssignment,
  matchUrlUserinfo,
} from './credentials.js';
import { hostToUnicode, scriptsOf } from './encodings.js';
import { decodedViews, printable, safeDecodeURIComponent, urlEncodingDepth } from './views.js';
import {
  base64Bytes,
  dnsQuestionNames,
  highEntropyToken,
  protobufMessage,
  structuredBinary,
  tokenInsideBinary,
} from './entropy.js';
import { matchHexPrivateKey } from './hex-key.js';
import { nestedPrivateTarget } from './nested-target.js';
import { matchRoutingNumber, matchSsn } from './pii.js';
import { matchSeedPhrase } from './seed-phrase.js';

export { highEntropyToken, shannon } from './entropy.js';
export { decodedViews, urlEncodingDepth, wrappedBase64, type DecodedViews } from './views.js';

/**
 * The scanner for what leaves a bottle: URL, headers and body. It looks at
 * the text as sent and at its decoded forms (URL-decoding repeated, HTML
 * character references, JavaScript escapes, base64 at every alignment and
 * across line wraps, hex runs), because an agent told to hide a key will
 * encode it. It reports what kind of secret it saw and where, never the
 * secret itself.
 */

export interface Finding {
  /**
   * Pattern name, or one of the detectors' kinds: `entropy`,
   * `hostname-encoding`, `bottle-secret`, `seed-phrase`, `hex-private-key`,
   * `us-ssn`, `us-bank-routing-number`, `basic-auth-credentials`,
   * `secret-assignment`, `nested-private-target`, `cross-site-cookie`, ...
   */
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
const MAX_SCAN = 8 * 1024 * 1024;

/**
 * A random token in a URL piece or host label. A file name is judged by its
 * stem (`API_ListObjectsV2.html`). Base64 of structured binary (a DNS
 * message, a protocol-buffers message) is data, not a key, unless a
 * random-looking word is wrapped inside it.
 */
export function randomToken(s: string): boolean {
  const stem = /^(.+)\.[a-z][a-z0-9]{0,4}$/.exec(s)?.[1] ?? s;
  if (!highEntropyToken(stem)) return false;
  const bytes = base64Bytes(stem);
  if (!structuredBinary(bytes) && !protobufMessage(bytes)) return true;
  return tokenInsideBinary(bytes);
}

/** Path segments and query values of a URL's path-and-query, percent-decoded. */
function urlPieces(pathAndQuery: string): string[] {
  const [path = '', query = ''] = pathAndQuery.split('?', 2);
  return [...path.split('/'), ...query.split('&').map((kv) => kv.slice(kv.indexOf('=') + 1))].map(
    safeDecodeURIComponent,
  );
}

/** Question names of DNS messages carried in URL pieces (DNS-over-HTTPS `?dns=`). */
function dnsNamesIn(pieces: readonly string[]): string[] {
  const names: string[] = [];
  for (const p of pieces) {
    if (p.length < 16 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(p)) continue;
    names.push(...(dnsQuestionNames(base64Bytes(p)) ?? []));
  }
  return names;
}

/** Absolute URLs written in a text (a Referer, a link in a body). */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]{0,15}:\/\/([^\s"'<>/?#]{1,255})([^\s"'<>]{0,4096})/gi;

/**
 * A host name used as a data channel: encoded labels (hex, base32, base64)
 * or an unusually deep chain of sub-domains. The last two labels (the
 * registered domain) are not judged.
 */
export function hostnameFinding(host: string): string | undefined {
  const lower = host.toLowerCase().replace(/\.$/, '');
  const unicode = hostToUnicode(lower);
  // A label that claims punycode and does not decode cannot be judged.
  if (unicode === undefined) return 'undecodable punycode label';
  if (unicode.split('.').some((l) => scriptsOf(l).size > 1)) return 'mixed-script label';
  const asSent = labelFinding(host.replace(/\.$/, ''));
  if (asSent !== undefined || unicode === lower) return asSent;
  // Decoded punycode labels are judged again, on their ASCII letters and digits.
  return labelFinding(unicode.replace(/[^\x20-\x7e]/g, ''));
}

function labelFinding(host: string): string | undefined {
  const labels = host.split('.');
  if (labels.length < 3) return undefined;
  const sub = labels.slice(0, -2);
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
      if (printable(base64Bytes(label))) return 'base64-encoded label';
      if (randomToken(label)) return 'high-entropy label';
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

/**
 * Where URLs written in a text carry what `urlsInText` reports: an encoded
 * host name (the host) and random pieces of the path or query (each piece).
 */
function urlSpans(text: string): Located[] {
  if (!text.includes('://')) return [];
  const out: Located[] = [];
  for (const m of text.matchAll(URL_IN_TEXT)) {
    const hostRaw = m[1] ?? '';
    const hostStart = m.index + m[0].indexOf(hostRaw);
    const host = hostRaw.replace(/^[^@]*@/, '').replace(/:\d+$/, '');
    if (hostnameFinding(host) !== undefined) {
      const at = hostStart + hostRaw.indexOf(host);
      out.push({ kind: 'hostname-encoding', start: at, end: at + host.length });
    }
    const rest = (m[2] ?? '').replace(/[)\]}.,;:!?*_~`]+$/, '');
    const restStart = hostStart + hostRaw.length;
    for (const piece of rest.matchAll(/[^/?&=#]+/g)) {
      if (randomToken(safeDecodeURIComponent(piece[0]))) {
        const at = restStart + piece.index;
        out.push({ kind: 'entropy', start: at, end: at + piece[0].length });
      }
    }
  }
  return out;
}

/** The detectors' matchers on plain text: what they found, as it stands in the text. */
const MATCHERS: readonly { kind: string; match: (text: string) => string | undefined }[] = [
  { kind: 'seed-phrase', match: matchSeedPhrase },
  { kind: 'hex-private-key', match: matchHexPrivateKey },
  { kind: 'us-ssn', match: matchSsn },
  { kind: 'us-bank-routing-number', match: matchRoutingNumber },
  { kind: 'basic-auth-credentials', match: matchBasicInText },
  { kind: 'url-credentials', match: matchUrlUserinfo },
  { kind: 'secret-assignment', match: matchSecretAssignment },
];

/**
 * Every plain occurrence of what the detectors (not the known-format
 * patterns, which are regexes of their own) find in `text`, for a redactor
 * to replace. Encoded forms are not located: a finding the scanner reports
 * from a decoded view with no plain match here cannot be replaced in place.
 */
export function detectorMatches(text: string): { kind: string; match: string }[] {
  const out: { kind: string; match: string }[] = [];
  for (const m of MATCHERS) {
    let rest = text;
    // Each match is blanked out and the text searched again; bounded, a body has few secrets.
    for (let i = 0; i < 64; i++) {
      const found = m.match(rest);
      if (found === undefined || found === '') break;
      out.push({ kind: m.kind, match: found });
      rest = rest.split(found).join(' '.repeat(found.length));
    }
  }
  return out;
}

/**
 * Detectors that are functions rather than one pattern, run over every view like the patterns
 * (secret assignments are judged separately, since headers such as Cookie skip them).
 */
const DETECTORS: readonly { kind: string; found: (text: string) => boolean }[] = MATCHERS.filter(
  (m) => m.kind !== 'secret-assignment',
).map((m) => ({ kind: m.kind, found: (text: string) => m.match(text) !== undefined }));

/** Headers that carry a URL as their whole value. */
const URL_HEADERS = new Set(['referer', 'origin', 'location', 'content-location', 'destination']);

export interface ScanOptions {
  /**
   * Judge values assigned to secret-naming keys by their randomness (on by
   * default). Off for a `Cookie` header: a site's own session cookie going
   * back to it is not a leak, and cookies carried to another site are the
   * cookie ledger's to judge.
   */
  assignments?: boolean;
}

/**
 * Values known to be someone's credential for this one request (cookies
 * another site set): looked for like the bottle's own secrets, in every
 * decoded view, and reported as `kind` with `label` after the place.
 */
export interface KnownValues {
  kind: string;
  label: string;
  forms: readonly string[];
}

export class Scanner {
  private bottleSecrets: string[];
  /** With one pattern for all of a value's forms: a full pass per form would grow with the ledger. */
  private known: readonly (KnownValues & { re: RegExp })[] = [];

  /** `secrets`: the bottle's own credential values, which must never be seen leaving. */
  constructor(secrets: readonly string[]) {
    this.bottleSecrets = [...new Set(secrets.flatMap(secretForms))];
  }

  /** This scanner, also looking for `known` (cheap: the bottle's forms are shared, not rebuilt). */
  alsoFor(known: readonly KnownValues[]): Scanner {
    if (known.length === 0) return this;
    const s = new Scanner([]);
    s.bottleSecrets = this.bottleSecrets;
    s.known = [
      ...this.known,
      ...known.map((k) => ({
        ...k,
        re:
          k.forms.length === 0
            ? /(?!)/
            : new RegExp(k.forms.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')),
      })),
    ];
    return s;
  }

  /** Findings in one piece of text (a URL, a header value, a body, a WebSocket message). */
  scanText(text: string, where: string, opts: ScanOptions = {}): Finding[] {
    const s = text.length > MAX_SCAN ? text.slice(0, MAX_SCAN) : text;
    const findings: Finding[] = [];
    const { views, hexInRaw, inBinary, base64Texts } = decodedViews(s);
    // Random-looking words hidden in hex or inside binary are keys being smuggled, whatever their format.
    const randomWord = (t: string): boolean => t.split(/[\s"'=:,;]+/).some(highEntropyToken);
    if (hexInRaw.some(randomWord)) findings.push({ kind: 'hex-encoded-secret', where });
    if (inBinary.some(randomWord)) findings.push({ kind: 'binary-encoded-secret', where });
    if (base64Texts.some(base64UserPass)) findings.push({ kind: 'basic-auth-credentials', where });
    for (const secret of this.bottleSecrets) {
      if (views.some((v) => v.includes(secret))) {
        findings.push({ kind: 'bottle-secret', where });
        break;
      }
    }
    for (const k of this.known) {
      if (views.some((v) => k.re.test(v))) {
        findings.push({ kind: k.kind, where: `${where} (${k.label})` });
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
    for (const d of DETECTORS) {
      if (findings.some((f) => f.kind === d.kind)) continue;
      if (views.some(d.found)) findings.push({ kind: d.kind, where });
    }
    if (opts.assignments !== false && views.some(findSecretAssignment)) {
      findings.push({ kind: 'secret-assignment', where });
    }
    findings.push(...this.urlsInText(views.slice(0, 2), where));
    return dedupe(findings);
  }

  /** URLs written inside a text: their host names and their pieces' entropy, as for a request URL. */
  private urlsInText(views: readonly string[], where: string): Finding[] {
    const out: Finding[] = [];
    for (const v of views) {
      if (!v.includes('://')) continue;
      for (const m of v.matchAll(URL_IN_TEXT)) {
        const host = (m[1] ?? '').replace(/^[^@]*@/, '').replace(/:\d+$/, '');
        const issue = hostnameFinding(host);
        if (issue !== undefined) {
          out.push({ kind: 'hostname-encoding', where: `${where} URL (${issue})` });
        }
        // A URL in prose or markdown ends before its closing punctuation (`(url).`, `[x](url)`).
        const rest = (m[2] ?? '').replace(/[)\]}.,;:!?*_~`]+$/, '');
        if (urlPieces(rest).some(randomToken)) {
          out.push({ kind: 'entropy', where: `${where} URL` });
        }
      }
    }
    return out;
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
    for (const k of this.known) {
      for (const f of k.forms) {
        for (let i = text.indexOf(f); i >= 0; i = text.indexOf(f, i + 1)) {
          out.push({ kind: k.kind, start: i, end: i + f.length });
        }
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
    // The detectors' plain matches, everywhere they occur.
    for (const d of detectorMatches(text)) {
      for (let i = text.indexOf(d.match); i >= 0; i = text.indexOf(d.match, i + 1)) {
        out.push({ kind: d.kind, start: i, end: i + d.match.length });
      }
    }
    out.push(...urlSpans(text));
    return out;
  }

  /** URL: patterns on the whole, entropy per path segment and query value, the host name. */
  scanUrl(host: string, pathAndQuery: string): Finding[] {
    return dedupe([
      ...this.scanText(pathAndQuery, 'url'),
      ...this.urlStructure(host, pathAndQuery),
    ]);
  }

  /** What only a URL's structure shows: its encoding depth, host, pieces, DNS query, nested target. */
  private urlStructure(host: string, pathAndQuery: string): Finding[] {
    const findings: Finding[] = [];
    if (urlEncodingDepth(pathAndQuery) >= 3) {
      findings.push({ kind: 'nested-url-encoding', where: 'url' });
    }
    const hostIssue = hostnameFinding(host);
    if (hostIssue !== undefined)
      findings.push({ kind: 'hostname-encoding', where: `host (${hostIssue})` });
    const pieces = urlPieces(pathAndQuery);
    if (pieces.some(randomToken)) findings.push({ kind: 'entropy', where: 'url' });
    // A DNS query in the URL (DNS-over-HTTPS) is judged by the name it asks for, as a host name is.
    for (const name of dnsNamesIn(pieces)) {
      const issue = hostnameFinding(name);
      if (issue !== undefined) {
        findings.push({ kind: 'hostname-encoding', where: `url DNS query (${issue})` });
      }
      findings.push(...this.scanText(name, 'url DNS query'));
    }
    const target = nestedPrivateTarget(pathAndQuery);
    if (target !== undefined) {
      findings.push({ kind: 'nested-private-target', where: `url (${target})` });
    }
    return findings;
  }

  scanHeaders(
    headers: Readonly<Record<string, string | string[] | undefined>>,
    skip: ReadonlySet<string>,
  ): Finding[] {
    const out: Finding[] = [];
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (value === undefined || skip.has(lower)) continue;
      for (const v of Array.isArray(value) ? value : [value]) {
        const where = `header ${name}`;
        out.push(...this.scanText(v, where, { assignments: lower !== 'cookie' }));
        // Basic credentials to a host without a route for them are the agent's own login leaving.
        if ((lower === 'authorization' || lower === 'proxy-authorization') && basicAuthValue(v)) {
          out.push({ kind: 'basic-auth-credentials', where });
        }
        if (URL_HEADERS.has(lower)) out.push(...this.urlHeader(v, where));
      }
    }
    return dedupe(out);
  }

  /**
   * A header whose value is a URL (`Referer: https://h/p?q`) is judged as a URL; its text was
   * already scanned as the header's value, so only the URL's structure is judged here.
   */
  private urlHeader(value: string, where: string): Finding[] {
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)(.*)$/i.exec(value.trim());
    if (m === null) return [];
    const host = (m[1] ?? '').replace(/^[^@]*@/, '').replace(/:\d+$/, '');
    const rest = m[2] === undefined || m[2] === '' ? '/' : m[2];
    return this.urlStructure(host, rest).map((f) => ({
      kind: f.kind,
      where: `${where} (${f.where})`,
    }));
  }
}

/** Findings without repeats: one per kind and place. */
export function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const k = `${f.kind}\u0000${f.where}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
