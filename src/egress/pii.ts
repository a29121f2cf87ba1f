/**
 * US identity and banking numbers. Both are nine digits, the shape of many
 * ids, so each needs more than its shape:
 *
 * - Social Security numbers: the area/group/serial rules (area not 000, 666
 *   or 900-999; group not 00; serial not 0000) and either the written form
 *   `AAA-GG-SSSS` standing alone (not inside a longer run of digits and
 *   dashes, so phone numbers `555-123-4567`, dates and part numbers do not
 *   match), or nine digits (plain or spaced) after a word that names them
 *   (ssn, social security, tax id, tin).
 * - ABA routing numbers: a valid Federal Reserve prefix (00-12, 21-32,
 *   61-72, 80), the ABA checksum (3, 7, 1 weights, which one random number
 *   in ten passes) and a word that names them (routing, aba, rtn, transit,
 *   bank, ach, wire) in the 48 characters before.
 */

const DASHED_SSN = /(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])/g;
const NAMED_SSN =
  /(?:\bssn|social[\s_-]?security(?:[\s_-]?(?:number|no|#))?|\btax[\s_-]?id|\btin)\b[^\d\n]{0,24}(?<!\d)(\d{3})[\s.]?(\d{2})[\s.]?(\d{4})(?!\d)/gi;
const NINE_DIGITS = /(?<![\d-])\d{9}(?![\d-])/g;
const ROUTING_CONTEXT = /routing|\baba\b|\brtn\b|transit|\bbank|\bach\b|\bwire\b/i;

export function ssnValid(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  return a !== 0 && a !== 666 && a < 900 && group !== '00' && serial !== '0000';
}

/** The first SSN in the text, as written, or undefined. */
export function matchSsn(text: string): string | undefined {
  for (const m of text.matchAll(DASHED_SSN)) {
    if (ssnValid(m[1] ?? '', m[2] ?? '', m[3] ?? '')) return m[0];
  }
  for (const m of text.matchAll(NAMED_SSN)) {
    if (ssnValid(m[1] ?? '', m[2] ?? '', m[3] ?? '')) {
      // The naming words have no digits: the number starts at the first one.
      return m[0].slice(m[0].search(/\d/));
    }
  }
  return undefined;
}

export function findSsn(text: string): boolean {
  return matchSsn(text) !== undefined;
}

export function abaChecksumValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  const prefix = Number(digits.slice(0, 2));
  const okPrefix =
    prefix <= 12 ||
    (prefix >= 21 && prefix <= 32) ||
    (prefix >= 61 && prefix <= 72) ||
    prefix === 80;
  if (!okPrefix) return false;
  const d = digits.split('').map(Number);
  const w = [3, 7, 1, 3, 7, 1, 3, 7, 1];
  return d.reduce((s, x, i) => s + x * (w[i] ?? 0), 0) % 10 === 0;
}

/** The first routing number named as one, or undefined. */
export function matchRoutingNumber(text: string): string | undefined {
  for (const m of text.matchAll(NINE_DIGITS)) {
    if (!abaChecksumValid(m[0])) continue;
    const before = text.slice(Math.max(0, m.index - 48), m.index);
    if (ROUTING_CONTEXT.test(before)) return m[0];
  }
  return undefined;
}

export function findRoutingNumber(text: string): boolean {
  return matchRoutingNumber(text) !== undefined;
}
