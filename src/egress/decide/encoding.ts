import type { ProxyState } from '../types.js';
import { byMode, type Flag, type Refuse } from './verdict.js';

/** Content codings the scanner decodes. */
export type Coding = 'identity' | 'gzip' | 'deflate' | 'br';

const KNOWN = new Map<string, Coding>([
  ['identity', 'identity'],
  ['gzip', 'gzip'],
  ['x-gzip', 'gzip'],
  ['deflate', 'deflate'],
  ['br', 'br'],
]);

/** The coding a content-coding token (trimmed, lower-case) names, or undefined when it is not decoded. */
export function codingOf(token: string): Coding | undefined {
  return KNOWN.get(token);
}

export interface EncodingFacts {
  contentEncoding: string | undefined;
  transferEncoding: string | undefined;
}

/**
 * How a request body must be decoded before it is scanned. One known
 * coding is decoded; several stacked (`gzip, gzip`), an unknown one (zstd,
 * compress, ...) or a transfer-coding other than chunked cannot be read
 * whole, so in `enforce` the body is refused with 415 naming the coding;
 * in `audit` it is forwarded and flagged, scanned as raw bytes.
 */
export function encodingVerdict(
  state: ProxyState,
  f: EncodingFacts,
): { kind: 'decode'; coding: Coding } | Flag | Refuse {
  const tokens = (h: string | undefined): string[] =>
    (h ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== '');
  const transfer = tokens(f.transferEncoding).filter((t) => t !== 'chunked');
  if (transfer.length > 0) {
    return byMode(
      state,
      'body-encoding transfer',
      `the body has transfer-coding '${transfer.join(', ')}', which the scanner does not decode (only chunked is accepted)`,
      415,
    );
  }
  const codings = tokens(f.contentEncoding).filter((t) => t !== 'identity');
  if (codings.length > 1) {
    return byMode(
      state,
      'body-encoding stacked',
      `the body is encoded more than once (content-encoding: ${codings.join(', ')}); the scanner decodes one layer only`,
      415,
    );
  }
  const only = codings[0];
  if (only === undefined) return { kind: 'decode', coding: 'identity' };
  const coding = codingOf(only);
  if (coding === undefined) {
    return byMode(
      state,
      'body-encoding unknown',
      `the body's content-encoding '${only}' cannot be decoded for scanning (decoded: gzip, x-gzip, deflate, br)`,
      415,
    );
  }
  return { kind: 'decode', coding };
}
