import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { BodyProblem } from '../decide/body.js';
import type { Coding } from '../decide/encoding.js';
import type { Finding, Scanner } from '../dlp.js';

/** Text carried from one scan into the next (longer than any secret format). */
export const STREAM_OVERLAP = 4096;
/** The scanner reads at most this much text at once (its own limit). */
export const SCAN_WINDOW = 8 * 1024 * 1024;

/**
 * Scans text that arrives in pieces: pieces are gathered and scanned in
 * windows of up to `size` (SCAN_WINDOW unless smaller), each together with
 * the last STREAM_OVERLAP characters of the one before, so a secret across
 * two pieces is seen and nothing past the scanner's own limit goes unread.
 */
export class ScanWindow {
  private pending: string[] = [];
  private pendingLength = 0;
  private tail = '';
  readonly findings: Finding[] = [];

  constructor(
    private readonly scanner: () => Scanner,
    public where: string,
    private readonly size = SCAN_WINDOW,
  ) {}

  add(text: string): void {
    this.pending.push(text);
    this.pendingLength += text.length;
    if (this.pendingLength >= this.size) this.flush();
  }

  /** Scans what is gathered; returns the new findings. */
  flush(): Finding[] {
    if (this.pendingLength === 0) return [];
    const text = this.tail + this.pending.join('');
    this.pending = [];
    this.pendingLength = 0;
    const found: Finding[] = [];
    const step = this.size - STREAM_OVERLAP;
    for (let at = 0; at < text.length; at += step) {
      found.push(...this.scanner().scanText(text.slice(at, at + this.size), this.where));
      if (at + this.size >= text.length) break;
    }
    this.tail = text.slice(-STREAM_OVERLAP);
    this.findings.push(...found);
    return found;
  }
}

/** All of `text` scanned, however long (WebSocket messages, decoded bodies), in windows of `size`. */
export function scanAll(
  scanner: () => Scanner,
  text: string,
  where: string,
  size = SCAN_WINDOW,
): Finding[] {
  const w = new ScanWindow(scanner, where, size);
  w.add(text);
  w.flush();
  return w.findings;
}

/** The two bytes of a zlib header (RFC 1950): deflate method and check bits. */
export function isZlibHeader(b0: number, b1: number): boolean {
  return (b0 & 0x0f) === 8 && ((b0 << 8) | b1) % 31 === 0;
}

/** A zlib stream: `bytesWritten` counts the input it consumed. */
type Decoder = Transform & { bytesWritten: number };

function decoderFor(coding: Exclude<Coding, 'identity'>, first: Buffer): Decoder {
  const opts = { chunkSize: 64 * 1024 };
  switch (coding) {
    case 'gzip':
      return createGunzip(opts);
    case 'br':
      return createBrotliDecompress(opts);
    case 'deflate': {
      // `deflate` is zlib-wrapped by the standard, raw in some clients: the header tells which.
      const zlib = isZlibHeader(first[0] ?? 0, first[1] ?? 0);
      return zlib ? createInflate(opts) : createInflateRaw(opts);
    }
  }
}

/**
 * A request body decoded as it arrives and scanned as it decodes. Raw
 * chunks go in with `write`; its callback runs once the chunk's decoded
 * text has been scanned (in streaming mode) or gathered (while holding).
 * A decoder error or passing the decode limit stops decoding and is kept
 * as `problem`; nothing after it is read, so the caller must not call the
 * body clean.
 */
export class BodyInspector {
  private decoder: Decoder | undefined;
  private readonly waiting = new Set<() => void>();
  private stopped = false;
  private decoded = 0;
  /** Raw bytes whose write to the decoder has completed, and all handed to it. */
  private rawIn = 0;
  private rawIssued = 0;
  problem: BodyProblem | undefined;
  readonly window: ScanWindow;
  /** Scan after every chunk (streaming) instead of gathering a whole window (holding). */
  streaming = false;
  /** Called once, when a problem appears. */
  onProblem: (p: BodyProblem) => void = () => undefined;

  constructor(
    scanner: () => Scanner,
    /** undefined: the body cannot be decoded (audit only); its raw bytes are scanned. */
    private readonly coding: Coding | undefined,
    private readonly limit: number,
  ) {
    this.window = new ScanWindow(scanner, 'body');
  }

  get findings(): Finding[] {
    return this.window.findings;
  }

  /** Switches to streaming: what was gathered is scanned now, each later chunk on its own. */
  stream(): Finding[] {
    this.streaming = true;
    const found = this.window.flush();
    this.window.where = 'body (streamed)';
    return found;
  }

  write(raw: Buffer, done: () => void): void {
    if (this.stopped) {
      done();
      return;
    }
    if (this.coding === undefined || this.coding === 'identity') {
      this.text(raw);
      this.afterChunk();
      done();
      return;
    }
    this.decoder ??= this.open(this.coding, raw);
    this.rawIssued += raw.length;
    let called = false;
    const finish = (): void => {
      if (called) return;
      called = true;
      this.waiting.delete(finish);
      this.checkTrailing(this.rawIn);
      this.afterChunk();
      done();
    };
    this.waiting.add(finish);
    this.decoder.write(raw, () => {
      // Writes complete in order: by now the decoder has been offered everything up to this chunk.
      this.rawIn += raw.length;
      finish();
    });
  }

  /** The body is complete: the decoder is flushed (a stream that ends early is a problem). */
  end(done: () => void): void {
    const d = this.decoder;
    if (d === undefined || this.stopped) {
      this.window.flush();
      done();
      return;
    }
    let called = false;
    const finish = (): void => {
      if (called) return;
      called = true;
      this.waiting.delete(finish);
      this.window.flush();
      done();
    };
    this.waiting.add(finish);
    // At its end the decoder has consumed all it ever will, of everything handed to it.
    d.once('end', () => {
      this.checkTrailing(this.rawIssued);
      finish();
    });
    d.end();
  }

  /**
   * deflate and br decoders stop at the end of their stream and ignore what
   * follows; bytes after it would reach the upstream unscanned.
   */
  private checkTrailing(offered: number): void {
    const d = this.decoder;
    if (d === undefined || this.stopped || this.coding === undefined) return;
    if (d.bytesWritten < offered) {
      this.fail({
        kind: 'undecodable',
        coding: this.coding,
        detail: `${offered - d.bytesWritten} bytes after the end of the compressed stream`,
      });
    }
  }

  /** Stops decoding (the request is being refused or went away). */
  close(): void {
    this.stop();
  }

  private open(coding: Exclude<Coding, 'identity'>, first: Buffer): Decoder {
    const d = decoderFor(coding, first);
    d.on('data', (c: Buffer) => {
      if (this.stopped) return;
      this.decoded += c.length;
      if (this.decoded > this.limit) {
        this.fail({ kind: 'over-limit', limit: this.limit });
        return;
      }
      this.text(c);
    });
    d.on('error', (e: Error) => {
      this.fail({ kind: 'undecodable', coding, detail: e.message });
    });
    return d;
  }

  private text(c: Buffer): void {
    this.window.add(c.toString('latin1'));
  }

  private afterChunk(): void {
    if (this.streaming) this.window.flush();
  }

  private fail(p: BodyProblem): void {
    if (this.problem !== undefined) return;
    this.problem = p;
    // What was decoded before the problem is still scanned.
    this.window.flush();
    this.stop();
    this.onProblem(p);
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.decoder?.removeAllListeners('data');
    this.decoder?.on('error', () => undefined);
    this.decoder?.destroy();
    for (const w of [...this.waiting]) w();
  }
}
