/**
 * Raw 256-bit private keys written as 64 hex digits (Ethereum and other
 * secp256k1/ed25519 keys, with or without `0x`). The same shape is every
 * SHA-256 digest, so the rule is decided by context, read on the same line
 * just before the value (and, for two forms, just after it):
 *
 * 1. A scheme prefix glued to it (`sha256:`, `sha256-`, `zh:`, `@sha256:`)
 *    makes it a digest.
 * 2. Otherwise the nearest word before it (within 48 characters, split at
 *    `_`, `-` and camelCase) that names either decides: a digest word
 *    (sha/sha256/digest/hash/checksum/cksum/integrity/etag/commit/tree/
 *    blob/object/oid/want/have/ref/tx/block/root/fingerprint/cas/sum/sig,
 *    or an identifier containing sha<digits>/digest/hash/checksum) makes it
 *    a digest, and so does an identifier word (`id`, `userID`,
 *    `device_id`: random by design, naming no key); a key word (key, secret, private, priv, seed, wallet,
 *    signer, mnemonic, password, token, credential, pk, sk) a key. With no
 *    such word, a `sha256sum` line (`<hex>  file`) or a git ref line
 *    (`<hex> refs/...`, `<hex> HEAD`) is a digest.
 * 3. Otherwise, with no label at all, it is a key too: a bare 64-hex value
 *    is refused rather than guessed harmless (fail closed). Content
 *    addresses that travel without a label are rare in a bottle's traffic;
 *    the known ones (OCI `sha256:`, git pkt-lines, lockfiles) carry one.
 */

const HEX64 = /(?<![0-9A-Za-z])(?:0[xX])?[0-9a-fA-F]{64}(?![0-9A-Za-z])/g;
const DIGEST_WORDS = new Set(
  (
    'sha sha1 sha2 sha3 sha256 sha384 sha512 keccak keccak256 blake2b blake2s blake3 md5 digest ' +
    'digests hash hashes checksum checksums cksum integrity etag commit commits tree blob object ' +
    'oid want have shallow ref rev revision parent txid tx txhash transaction block blockhash ' +
    'root merkle fingerprint cas sum sig signature nonce salt image layer manifest sri content'
  ).split(' '),
);
const KEY_WORDS = new Set(
  (
    'key keys secret priv private privkey seed wallet signer signing mnemonic password passwd ' +
    'passphrase token credential credentials pk sk privatekey secretkey'
  ).split(' '),
);
const KEY_WORD =
  /key|secret|priv|seed|wallet|signer|signing|mnemonic|passw|passphrase|token|credential|\bpk\b|\bsk\b/i;
/** `sha256:` / `sha256-` / `zh:` / `h1:` glued to the value. */
const SCHEME_PREFIX = /(?:^|[^A-Za-z0-9])([A-Za-z][A-Za-z0-9]{0,9})[:-]$/;

/** Words of the identifiers in `before`, nearest first (`privateKey` -> private, key). */
function wordsNearestFirst(before: string): string[] {
  const words: string[] = [];
  for (const m of before.matchAll(/[A-Za-z][A-Za-z0-9]*/g)) {
    words.push(
      ...m[0].split(/(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d{3})/).map((w) => w.toLowerCase()),
    );
  }
  return words.reverse();
}

function wordKind(w: string): 'digest' | 'key' | undefined {
  const one = w.replace(/s$/, '');
  if (KEY_WORDS.has(w) || KEY_WORDS.has(one)) return 'key';
  if (DIGEST_WORDS.has(w) || DIGEST_WORDS.has(one)) return 'digest';
  // An identifier (`userID`, `device_id`, `traceId`) is random by design and names no key.
  if (w === 'id' || w === 'uid' || w === 'guid' || w === 'uuid') return 'digest';
  // `hexdigest`, `sha256sum`, `blockhash`: a digest word inside one identifier.
  if (/sha\d|digest|hash|checksum/.test(w)) return 'digest';
  return undefined;
}

function isDigestContext(text: string, start: number, end: number): boolean {
  // The same line only, and a bounded look back (many values on one long line stay linear).
  const window = text.slice(Math.max(0, start - 48), start);
  const nl = window.lastIndexOf('\n');
  let before = nl >= 0 ? window.slice(nl + 1) : window;
  // git pkt-lines start with their length in hex (`0032want <oid>`): the keyword follows it.
  if (nl >= 0 || start <= 48) before = before.replace(/^(?:[0-9a-f]{4})+(?=[a-z])/, '');
  const glued = SCHEME_PREFIX.exec(before);
  if (glued?.[1] !== undefined && !KEY_WORD.test(glued[1])) return true;
  // The nearest word that says what the value is decides.
  for (const w of wordsNearestFirst(before)) {
    const kind = wordKind(w);
    if (kind !== undefined) return kind === 'digest';
  }
  const after = text.slice(end, end + 16);
  // sha256sum / shasum output, and git's "<oid> <ref>" lines.
  return /^(?: [ *]\S|\s+(?:refs\/|HEAD\b))/.test(after);
}

/** The first 64-hex value that is a key, as it stands in the text, or undefined. */
export function matchHexPrivateKey(text: string): string | undefined {
  for (const m of text.matchAll(HEX64)) {
    const start = m.index;
    const end = start + m[0].length;
    if (isDigestContext(text, start, end)) continue;
    const hex = m[0].replace(/^0[xX]/, '');
    // All one digit, or a run like 0123...: test vectors and padding, not keys.
    if (/^(.)\1+$/.test(hex) || new Set(hex.toLowerCase()).size < 8) continue;
    // A key label (rule 2) or no label at all (rule 3): a key.
    return m[0];
  }
  return undefined;
}

export function findHexPrivateKey(text: string): boolean {
  return matchHexPrivateKey(text) !== undefined;
}
