/**
 * Randomness measures for the scanner: is a string a random token (a key
 * without a known format), and are bytes structured binary (a DNS message,
 * a protocol frame) rather than the random bytes a key decodes to.
 */

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

export function base64Bytes(s: string): Buffer {
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** Looks like a random token: long, mixed classes, high entropy, not an image blob. */
export function highEntropyToken(s: string): boolean {
  if (s.length < 20 || !/^[A-Za-z0-9+/=_.~-]+$/.test(s)) return false;
  if (!/[a-z]/.test(s) || !/[A-Z]/.test(s) || !/\d/.test(s)) return false;
  if (shannon(s) < 4.0) return false;
  const bytes = base64Bytes(s);
  return !IMAGE_MAGIC.some((m) => bytes.subarray(0, m.length).equals(m));
}

/**
 * Bytes with the structure of a binary message rather than the randomness
 * of a key: at least one byte in seven is zero (lengths, counts and flags of
 * a DNS message or a protocol frame), where random bytes have a zero once in
 * 256. A key hidden inside such bytes is still seen: the scanner reads their
 * printable stretches separately.
 */
export function structuredBinary(bytes: Buffer): boolean {
  if (bytes.length < 12) return false;
  let zeros = 0;
  for (const b of bytes) if (b === 0) zeros++;
  return zeros >= 3 && zeros * 7 >= bytes.length;
}

/**
 * The question names of a DNS wire-format query (RFC 1035), as a
 * DNS-over-HTTPS `?dns=` value carries it, or undefined when the bytes are
 * not one. Compression pointers are not used in questions and are refused.
 */
export function dnsQuestionNames(bytes: Buffer): string[] | undefined {
  if (bytes.length < 17) return undefined;
  const qd = bytes.readUInt16BE(4);
  // A query: QR bit clear, one to a few questions, no answers.
  if ((bytes[2] ?? 0) & 0x80 || qd === 0 || qd > 4 || bytes.readUInt16BE(6) !== 0) return undefined;
  const names: string[] = [];
  let at = 12;
  for (let q = 0; q < qd; q++) {
    const labels: string[] = [];
    for (;;) {
      const len = bytes[at];
      if (len === undefined || len > 63) return undefined;
      at++;
      if (len === 0) break;
      if (at + len > bytes.length) return undefined;
      labels.push(bytes.subarray(at, at + len).toString('latin1'));
      at += len;
    }
    if (at + 4 > bytes.length) return undefined;
    at += 4;
    names.push(labels.join('.'));
  }
  return names;
}

function varint(b: Buffer, at: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 5 && at + i < b.length; i++) {
    const x = b[at + i] ?? 0;
    v += (x & 0x7f) * 2 ** (7 * i);
    if ((x & 0x80) === 0) return [v, i + 1];
  }
  return [0, 0];
}

/**
 * Bytes that parse, to their last byte, as a protocol-buffers message of at
 * least three fields, field numbers up to 64 and at least one
 * length-delimited field (Google's URL parameters carry such messages in
 * base64). An alphanumeric random token decodes to one about once in 20,000
 * (measured over lengths 22-48); looser rules (any field number, two fields)
 * let one in 200-500 through, which is too many keys.
 */
export function protobufMessage(b: Buffer): boolean {
  if (b.length < 16) return false;
  let at = 0;
  let fields = 0;
  let delimited = 0;
  while (at < b.length) {
    const [tag, n] = varint(b, at);
    if (n === 0 || n > 2) return false;
    at += n;
    const wire = tag & 7;
    const field = tag >>> 3;
    if (field === 0 || field > 64) return false;
    if (wire === 0) {
      const [, m] = varint(b, at);
      if (m === 0) return false;
      at += m;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const [len, m] = varint(b, at);
      if (m === 0) return false;
      at += m + len;
      delimited++;
    } else return false;
    if (at > b.length) return false;
    fields++;
  }
  return fields >= 3 && delimited >= 1;
}

/** A random-looking word inside bytes' printable stretches: a key wrapped in a binary message. */
export function tokenInsideBinary(b: Buffer): boolean {
  const stretches = b.toString('latin1').match(/[\x20-\x7e]{16,}/g) ?? [];
  return stretches.some((s) => s.split(/[\s"'=:,;]+/).some(highEntropyToken));
}
