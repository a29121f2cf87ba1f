/**
 * Raw 256-bit private keys written as 64 hex digits (Ethereum and other
 * secp256k1/ed25519 keys, with or without `0x`). The same shape is every
 * SHA-256 digest, so the rule is decided by context, read on the same line
 * just before the value (and, for two forms, just after it):
 *
 * 1. A digest label makes it a digest, not a key: a scheme prefix glued to
 *    it (`sha256:`, `sha256-`, `zh:`, `@sha256:`), or one of the words
 *    sha/sha256/digest/hash/checksum/cksum/integrity/etag/commit/tree/blob/
 *    object/oid/want/have/ref/tx/txid/block/root/fingerprint/cas/sum/
 *    signature as the nearest label before it; or a `sha256sum` line
 *    (`<hex>  file`), or a git ref line (`<hex> refs/...`, `<hex> HEAD`).
 * 2. Otherwise, a key label (key, secret, private, priv, seed, wallet,
 *    signer, mnemonic, password, token, credential, pk, sk) anywhere in the
 *    40 characters before it makes it a key.
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

/** The identifier nearest before the value on its line (skipping quotes, `:`, `=`, spaces, brackets). */
function nearestLabel(before: string): string | undefined {
  const m = /([A-Za-z][A-Za-z0-9_.-]{0,40})[\s"'`:=,([{<>/]*$/.exec(before);
  return m?.[1];
}

/** What a label says the value is: its last word that is a digest or key word decides. */
function labelKind(label: string): 'digest' | 'key' | undefined {
  const parts = label
    .split(/[_.-]+|(?<=[a-z])(?=[A-Z])/)
    .map((p) => p.toLowerCase())
    .reverse();
  for (const p of parts) {
    const one = p.replace(/s$/, '');
    if (KEY_WORDS.has(p) || KEY_WORDS.has(one)) return 'key';
    if (DIGEST_WORDS.has(p) || DIGEST_WORDS.has(one)) return 'digest';
  }
  return undefined;
}

function isDigestContext(text: string, start: number, end: number): boolean {
  const lineStart = text.lastIndexOf('\n', start - 1) + 1;
  const before = text.slice(Math.max(lineStart, start - 48), start);
  const glued = SCHEME_PREFIX.exec(before);
  if (glued?.[1] !== undefined && !KEY_WORD.test(glued[1])) return true;
  const label = nearestLabel(before);
  if (label !== undefined && labelKind(label) === 'digest') return true;
  const after = text.slice(end, end + 16);
  // sha256sum / shasum output, and git's "<oid> <ref>" lines.
  return /^(?: [ *]\S|\s+(?:refs\/|HEAD\b))/.test(after);
}

export function findHexPrivateKey(text: string): boolean {
  for (const m of text.matchAll(HEX64)) {
    const start = m.index;
    const end = start + m[0].length;
    if (isDigestContext(text, start, end)) continue;
    const hex = m[0].replace(/^0[xX]/, '');
    // All one digit, or a run like 0123...: test vectors and padding, not keys.
    if (/^(.)\1+$/.test(hex) || new Set(hex.toLowerCase()).size < 8) continue;
    // A key label (rule 2) or no label at all (rule 3): a key.
    return true;
  }
  return false;
}
