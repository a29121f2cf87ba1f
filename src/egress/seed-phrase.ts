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
/** Words, and what may stand between two of them: separators, numbering, quotes, no letters. */
const WORD = /[A-Za-z]+/g;
const MAX_GAP = 6;
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

/** Runs of consecutive list words (index and where the run starts/ends in the text). */
function wordRuns(text: string): { indices: number[]; start: number; end: number }[] {
  const runs: { indices: number[]; start: number; end: number }[] = [];
  let cur: { indices: number[]; start: number; end: number } | undefined;
  // JSON carries line breaks as `\\n`: the escape's letter is a separator, not a word.
  const plain = text.includes('\\') ? text.replace(/\\[nrt]/g, '  ') : text;
  for (const m of plain.matchAll(WORD)) {
    const idx = INDEX.get(m[0].toLowerCase());
    const at = m.index;
    if (idx !== undefined && cur !== undefined && at - cur.end <= MAX_GAP) {
      cur.indices.push(idx);
      cur.end = at + m[0].length;
      continue;
    }
    if (cur !== undefined && cur.indices.length >= 12) runs.push(cur);
    cur = idx === undefined ? undefined : { indices: [idx], start: at, end: at + m[0].length };
  }
  if (cur !== undefined && cur.indices.length >= 12) runs.push(cur);
  return runs;
}

export function findSeedPhrase(text: string): boolean {
  if (text.length < 12 * 3) return false;
  for (const run of wordRuns(text)) {
    const around = text.slice(Math.max(0, run.start - 80), run.start);
    if (CONTEXT.test(around)) return true;
    // Any window of a valid length with a valid checksum; bounded by the run's length times five.
    for (const len of LENGTHS) {
      for (let i = 0; i + len <= run.indices.length; i++) {
        if (bip39ChecksumValid(run.indices.slice(i, i + len))) return true;
      }
    }
  }
  return false;
}
