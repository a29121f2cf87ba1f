import { gunzipSync, inflateSync } from 'node:zlib';
import type { BodyProblem } from '../decide/body.js';
import { DECODED_BODY_LIMIT } from '../types.js';
import { isZlibHeader } from './inspector.js';

/**
 * The texts of one WebSocket message the scanner must read: the message
 * itself and, when it is a compressed payload (gzip anywhere, a zlib
 * stream in a binary message), what it decodes to. A compressed payload
 * that does not decode, or decodes past the limit, is a problem: the
 * scanner cannot read it, so it cannot be called clean.
 */
export function messageTexts(
  buf: Buffer,
  isBinary: boolean,
): { texts: string[]; problem: BodyProblem | undefined } {
  const texts = [buf.toString('latin1')];
  const coding = compressedAs(buf, isBinary);
  if (coding === undefined) return { texts, problem: undefined };
  try {
    const opts = { maxOutputLength: DECODED_BODY_LIMIT };
    const out = coding === 'gzip' ? gunzipSync(buf, opts) : inflateSync(buf, opts);
    texts.push(out.toString('latin1'));
    return { texts, problem: undefined };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      return { texts, problem: { kind: 'over-limit', limit: DECODED_BODY_LIMIT } };
    }
    return {
      texts,
      problem: { kind: 'undecodable', coding, detail: e instanceof Error ? e.message : String(e) },
    };
  }
}

function compressedAs(buf: Buffer, isBinary: boolean): 'gzip' | 'deflate' | undefined {
  const b0 = buf[0] ?? 0;
  const b1 = buf[1] ?? 0;
  if (buf.length >= 10 && b0 === 0x1f && b1 === 0x8b) return 'gzip';
  // A zlib header with a window size RFC 1950 allows; text messages starting so are plain text.
  if (isBinary && buf.length >= 2 && isZlibHeader(b0, b1) && b0 >> 4 <= 7) return 'deflate';
  return undefined;
}
