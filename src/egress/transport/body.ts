import type { IncomingMessage } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Finding, Scanner } from '../dlp.js';
import { BODY_HOLD_LIMIT } from '../types.js';

/** Text carried from one streamed chunk into the next scan (longer than any secret format). */
export const STREAM_OVERLAP = 4096;

/**
 * A request body as read: `whole` when it fit the hold limit (scanned
 * whole), else `held`: the first part, scanned; the rest is still in the
 * request and must be scanned as it streams (`streamScanner`).
 */
export type ReadBody =
  | { kind: 'none' }
  | { kind: 'whole'; body: Buffer; findings: Finding[] }
  | { kind: 'held'; held: Buffer; findings: Finding[] };

export function hasBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  );
}

function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  const opts = { maxOutputLength: 4 * BODY_HOLD_LIMIT };
  try {
    switch ((encoding ?? '').trim().toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(body, opts);
      case 'deflate':
        return inflateSync(body, opts);
      case 'br':
        return brotliDecompressSync(body, opts);
      default:
        return body;
    }
  } catch {
    return body;
  }
}

/** Holds the body (up to the limit) and scans it; calls `done` once with what it read. */
export function readBody(
  req: IncomingMessage,
  scanner: () => Scanner,
  done: (b: ReadBody) => void,
): void {
  if (!hasBody(req)) {
    done({ kind: 'none' });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (c: Buffer): void => {
    size += c.length;
    chunks.push(c);
    if (size <= BODY_HOLD_LIMIT) return;
    // Too large to hold: scan what is held, then stream the rest through the scanner.
    req.off('data', onData);
    req.off('end', onEnd);
    req.pause();
    const held = Buffer.concat(chunks);
    done({ kind: 'held', held, findings: scanner().scanText(held.toString('latin1'), 'body') });
  };
  const onEnd = (): void => {
    const body = Buffer.concat(chunks);
    const text = decodeBody(body, req.headers['content-encoding']).toString('latin1');
    done({ kind: 'whole', body, findings: scanner().scanText(text, 'body') });
  };
  req.on('data', onData);
  req.on('end', onEnd);
}

/** An LLM request body: held whole up to `limit` (for redaction), never streamed on. */
export type LlmBody = { kind: 'none' } | { kind: 'whole'; body: Buffer } | { kind: 'over' };

/** Reads an LLM request body; past `limit` it stops holding and reports `over` at once. */
export function readLlmBody(req: IncomingMessage, limit: number, done: (b: LlmBody) => void): void {
  if (!hasBody(req)) {
    done({ kind: 'none' });
    return;
  }
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    done({ kind: 'over' });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (c: Buffer): void => {
    size += c.length;
    if (size <= limit) {
      chunks.push(c);
      return;
    }
    req.off('data', onData);
    req.off('end', onEnd);
    chunks.length = 0;
    done({ kind: 'over' });
  };
  const onEnd = (): void => {
    done({ kind: 'whole', body: Buffer.concat(chunks) });
  };
  req.on('data', onData);
  req.on('end', onEnd);
}

/**
 * Scans the streamed rest of a body chunk by chunk, each together with the
 * tail of what came before, so a secret across two chunks is seen.
 */
export function streamScanner(held: Buffer, scanner: () => Scanner): (c: Buffer) => Finding[] {
  let tail = held.subarray(-STREAM_OVERLAP).toString('latin1');
  return (c) => {
    const text = tail + c.toString('latin1');
    tail = text.slice(-STREAM_OVERLAP);
    return scanner().scanText(text, 'body (streamed)');
  };
}
