import type { IncomingMessage } from 'node:http';
import type { BodyProblem } from '../decide/body.js';
import type { Coding } from '../decide/encoding.js';
import type { Scanner } from '../dlp.js';
import { BODY_HOLD_LIMIT, DECODED_BODY_LIMIT } from '../types.js';
import { BodyInspector } from './inspector.js';

/**
 * A request body as read: `whole` when it fit the hold limit (decoded and
 * scanned whole; no inspector: judged elsewhere, as LLM bodies are), else `held`: the first part, decoded and scanned; the
 * rest is still in the request and goes through the same inspector as it
 * streams. `gone`: the agent went away before the body was complete.
 */
export type ReadBody =
  | { kind: 'none' }
  | { kind: 'whole'; body: Buffer; inspector: BodyInspector | undefined }
  | { kind: 'held'; held: Buffer; inspector: BodyInspector }
  | { kind: 'gone'; bytes: number };

export function hasBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  );
}

export interface ReadOptions {
  scanner: () => Scanner;
  /** undefined: the body cannot be decoded (audit); its raw bytes are scanned. */
  coding: Coding | undefined;
  /** A problem that refuses: reading stops at once (in `enforce`). */
  stopsAt: (p: BodyProblem) => boolean;
}

/**
 * Holds the body up to the limit, decoding and scanning as it arrives;
 * calls `done` once. A problem that refuses ends the read early, so a
 * compression bomb is not held to the end.
 */
export function readBody(req: IncomingMessage, o: ReadOptions, done: (b: ReadBody) => void): void {
  if (!hasBody(req)) {
    done({ kind: 'none' });
    return;
  }
  const inspector = new BodyInspector(o.scanner, o.coding, DECODED_BODY_LIMIT);
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (b: ReadBody): void => {
    if (settled) return;
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
    done(b);
  };
  inspector.onProblem = (p) => {
    if (o.stopsAt(p)) settle({ kind: 'whole', body: Buffer.concat(chunks), inspector });
  };
  const onData = (c: Buffer): void => {
    size += c.length;
    chunks.push(c);
    inspector.write(c, () => undefined);
    if (size <= BODY_HOLD_LIMIT || settled) return;
    // Too large to hold: what is held is scanned now, the rest as it streams.
    req.pause();
    req.off('data', onData);
    req.off('end', onEnd);
    const held = Buffer.concat(chunks);
    whenWritten(inspector, () => {
      inspector.stream();
      settle({ kind: 'held', held, inspector });
    });
  };
  const onEnd = (): void => {
    inspector.end(() => {
      settle({ kind: 'whole', body: Buffer.concat(chunks), inspector });
    });
  };
  const onClose = (): void => {
    if (req.complete) return;
    inspector.close();
    settle({ kind: 'gone', bytes: size });
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
}

/** Runs `then` once every chunk written so far has been decoded and gathered. */
function whenWritten(inspector: BodyInspector, then: () => void): void {
  inspector.write(Buffer.alloc(0), then);
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
