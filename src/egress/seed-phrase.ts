import { createHash } from 'node:crypto';
import { BIP39_ENGLISH } from './bip39-english.js';

/**
 * BIP39 recovery phrases (12, 15, 18, 21 or 24 words of the English list).
 * A phrase whose last word carries the right checksum is reported wherever
 * it is: a random run of list words passes it once in 16 (12 words) to once
 * in 256 (24 words), and English prose almost never has 12 list words in a
 * row (`the`, `a`, `of`, `is` are not in the list). A run that fails the
 * checksum is reported only when the text around it names it (seed,
 * mnemonic, recovery, wallet ...): a hand-typed or altered phrase is still
 * a phrase.
 */

const INDEX = new Map<string, number>(BIP39_ENGLISH.map((w, i) => [w, i]));
const LENGTHS = [24, 21, 18, 15, 12];
/** What may stand between two words of a phrase: separators, numbering, quotes, no letters. */
const MAX_GAP = 6;
const MAX_RUN = 1024;
const CONTEXT =
  /seed|mnemonic|recovery|phrase|wallet|secret|backup|passphrase|bip-?39|words?\b|metamask|ledger|trezor/i;

/** Whether `indices` (one per word) make a phrase with a valid BIP39 checksum. */
export function bip39ChecksumValid(indices: readonly number[]): boolean {
  const n = indices.length;
  if (!LENGTHS.includes(n)) return false;
  let bits = 0n;
  for (const i of indices) bits = (bits << 11n) | BigInt(i);
  const csBits = n / 3;
  const entBytes = (n * 11 - csBits) / 8;
  const checksum = Number(bits & ((1n << BigInt(csBits)) - 1n));
  const ent = bits >> BigInt(csBits);
  const entropy = Buffer.from(ent.toString(16).padStart(entBytes * 2, '0'), 'hex');
  const first = createHash('sha256').update(entropy).digest()[0] ?? 0;
  return first >> (8 - csBits) === checksum;
}

interface Run {
  indices: number[];
  start: number;
  end: number;
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** Runs of consecutive list words, by one pass over the characters (base64 blobs are mostly letters). */
function wordRuns(text: string): Run[] {
  // JSON carries line breaks as `\\n`: the escape's letter is a separator, not a word.
  const plain = text.includes('\\') ? text.replace(/\\[nrt]/g, '  ') : text;
  const runs: Run[] = [];
  let cur: Run | undefined;
  let i = 0;
  while (i < plain.length) {
    if (!isLetter(plain.charCodeAt(i))) {
      i++;
      continue;
    }
    const at = i;
    while (i < plain.length && isLetter(plain.charCodeAt(i))) i++;
    const len = i - at;
    // List words are 3 to 8 letters: others are not looked up.
    const w = len < 3 || len > 8 ? undefined : plain.slice(at, i);
    const idx = w === undefined ? undefined : (INDEX.get(w) ?? INDEX.get(w.toLowerCase()));
    if (idx !== undefined && cur !== undefined && at - cur.end <= MAX_GAP) {
      cur.indices.push(idx);
      cur.end = i;
      continue;
    }
    if (cur !== undefined && cur.indices.length >= 12) runs.push(cur);
    cur = idx === undefined ? undefined : { indices: [idx], start: at, end: i };
  }
  if (cur !== undefined && cur.indices.length >= 12) runs.push(cur);
  return runs;
}

/** The phrase found, as it stands in the text (for a redactor), or undefined. */
export function matchSeedPhrase(text: string): string | undefined {
  if (text.length < 12 * 3) return undefined;
  for (const run of wordRuns(text)) {
    // Thousands of list words in a row are no prose; checking every window would cost too much to
    // bound, so such a run is reported rather than passed unjudged.
    if (run.indices.length > MAX_RUN) return text.slice(run.start, run.end);
    const around = text.slice(Math.max(0, run.start - 80), run.start);
    if (CONTEXT.test(around)) return text.slice(run.start, run.end);
    // Any window of a valid length with a valid checksum; bounded by the run's length times five.
    for (const len of LENGTHS) {
      for (let i = 0; i + len <= run.indices.length; i++) {
        if (bip39ChecksumValid(run.indices.slice(i, i + len)))
          return text.slice(run.start, run.end);
      }
    }
  }
  return undefined;
}

export function findSeedPhrase(text: string): boolean {
  return matchSeedPhrase(text) !== undefined;
}
