import { base64Bytes, highEntropyToken, shannon } from './entropy.js';

/**
 * Credentials recognised by where they stand rather than by a vendor
 * format: HTTP Basic credentials, passwords in URL userinfo, and random
 * values assigned to a name that says they are secret.
 */

/** A password that is a stand-in (`${PASS}`, `<password>`, `***`, `password`), as docs write them. */
function placeholder(s: string): boolean {
  return (
    s.length === 0 ||
    /^(?:\$\{?[A-Za-z_]\w*\}?|%[A-Za-z_]\w*%|<[^>]*>|\{\{[^}]*\}\}|\[[^\]]*\]|\*+|x+|\.+)$/i.test(
      s,
    ) ||
    /^(?:pass(?:word)?|passwd|pwd|secret|changeme|example|user(?:name)?|token|redacted)$/i.test(s)
  );
}

/** `user:password` as Basic carries it: a colon, printable, and a real password after it. */
export function userPass(decoded: string): boolean {
  const i = decoded.indexOf(':');
  if (i < 0 || decoded.length > 512) return false;
  if (!/^[\x20-\x7e]+$/.test(decoded)) return false;
  return !placeholder(decoded.slice(i + 1));
}

function b64Text(s: string): string | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(s)) return undefined;
  const t = base64Bytes(s).toString('latin1');
  return /^[\x20-\x7e]*$/.test(t) ? t : undefined;
}

/** An `Authorization` / `Proxy-Authorization` value with Basic credentials in it. */
export function basicAuthValue(value: string): boolean {
  const m = /^\s*basic\s+(\S+)\s*$/i.exec(value);
  if (m?.[1] === undefined) return false;
  const t = b64Text(m[1]);
  // Not base64 text at all: a Basic header the scanner cannot read is treated as carrying one.
  return t === undefined ? true : userPass(t);
}

const BASIC_IN_TEXT = /\bbasic\s+([A-Za-z0-9+/]{6,512}={0,2})(?![A-Za-z0-9+/=])/gi;

/** `Basic <base64 of user:pass>` written anywhere in a text (a header copied into a body). */
/** The first `Basic <base64>` carrying credentials, as written, or undefined. */
export function matchBasicInText(text: string): string | undefined {
  for (const m of text.matchAll(BASIC_IN_TEXT)) {
    const t = b64Text(m[1] ?? '');
    if (t !== undefined && userPass(t)) return m[0];
  }
  return undefined;
}

export function findBasicInText(text: string): boolean {
  return matchBasicInText(text) !== undefined;
}

/**
 * A base64 run that decodes, whole, to `user:password` (a Basic credential
 * or a docker `auth` entry carried without its scheme word). The user part
 * is an identifier or an e-mail address, so base64 of ordinary text with a
 * colon in it does not match.
 */
export function base64UserPass(decoded: string): boolean {
  const m = /^([\w.+@-]{1,64}):([\x21-\x7e]{4,128})$/.exec(decoded);
  return m?.[2] !== undefined && !placeholder(m[2]);
}

/**
 * `scheme://user:password@host` (or a token as the user, `https://TOKEN@host`),
 * in any text. The host may be a name, an address or a bracketed IPv6.
 */
const USERINFO =
  /\b[a-z][a-z0-9+.-]{0,15}:\/\/([^\s/?#@:"'<>]{1,128})(?::([^\s/?#@"'<>]{0,256}))?@(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])(?![a-z0-9_-])/gi;

/** The first URL with credentials in its userinfo (scheme to host), or undefined. */
export function matchUrlUserinfo(text: string): string | undefined {
  if (!text.includes('@')) return undefined;
  for (const m of text.matchAll(USERINFO)) {
    const user = m[1] ?? '';
    const pass = m[2];
    if (pass !== undefined && !placeholder(decodeSafe(pass))) return m[0];
    if (pass === undefined && highEntropyToken(decodeSafe(user))) return m[0];
  }
  return undefined;
}

export function findUrlUserinfo(text: string): boolean {
  return matchUrlUserinfo(text) !== undefined;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * A value assigned to a secret-naming key (`"api_token": "...",
 * client_secret=..., Authorization: Bearer ...`) that looks random. Names
 * are matched as words of the key (`session_token`, `apiKey`), and the value
 * must be random-looking: mixed-case with digits and high entropy, or a long
 * hex/alphanumeric string with a strongly secret name. UUIDs, numbers,
 * placeholders and low-entropy words pass.
 */
const SECRET_NAME =
  /(?:secret|token|passw(?:or)?d|pwd|api[_-]?key|apikey|private[_-]?key|access[_-]?key|auth|credential|session|cookie|bearer|key)[A-Za-z0-9_.-]{0,24}["']?\s{0,3}[:=]\s{0,3}["']?(?:bearer\s+|token\s+)?([A-Za-z0-9+/=_.~-]{16,512})/gi;
const STRONG_NAME =
  /secret|token|passw|pwd|api[_-]?key|apikey|private|access[_-]?key|credential|bearer/i;
const BEARER = /\bbearer\s+([A-Za-z0-9+/=_.~-]{16,512})/gi;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Random enough to be a credential when its name already says it is one. */
export function secretValue(value: string, strongName: boolean): boolean {
  const v = value.replace(/=+$/, '');
  if (UUID.test(v) || /^\d+$/.test(v) || placeholder(v)) return false;
  // Keys that are public by design (Stripe `pk_`, PostHog `phc_`, `client-`/`pub-` keys of analytics SDKs).
  if (/^(?:pk|phc|client|pub|public|publishable)[_-]/i.test(v)) return false;
  // A dotted path or a file name is not a secret (`session.cookie.name`, `key.pem`).
  if (/^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)+$/.test(v) && shannon(v) < 4.2) return false;
  if (highEntropyToken(v)) return true;
  if (!strongName || v.length < 24) return false;
  // Hex has at most 4 bits a character and a random 40-digit one falls under 3.5 bits one time in
  // twenty: hex is judged by how many of its 16 digits it uses instead.
  if (/^[0-9a-f]+$/i.test(v)) return v.length >= 32 && new Set(v.toLowerCase()).size >= 10;
  return /\d/.test(v) && /[a-z]/i.test(v) && shannon(v) >= 3.5;
}

/** The first random value assigned to a secret-naming key (the value only), or undefined. */
export function matchSecretAssignment(text: string): string | undefined {
  for (const m of text.matchAll(SECRET_NAME)) {
    const value = m[1] ?? '';
    if (secretValue(value, STRONG_NAME.test(m[0].slice(0, m[0].length - value.length)))) {
      return value;
    }
  }
  for (const m of text.matchAll(BEARER)) {
    if (secretValue(m[1] ?? '', true)) return m[1];
  }
  return undefined;
}

export function findSecretAssignment(text: string): boolean {
  return matchSecretAssignment(text) !== undefined;
}
