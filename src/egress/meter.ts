import { StringDecoder } from 'node:string_decoder';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { codingOf } from './decide/encoding.js';

/**
 * Token usage read from LLM API responses as they stream past. The proxy
 * hands every response chunk to a meter after passing it on, so parsing
 * never delays the agent; a meter only ever looks at a copy.
 *
 * Anthropic Messages: `message_start` carries the first usage, each
 * `message_delta` a cumulative one; the last non-null value of each field
 * wins. Input is counted as input + cache creation + cache read (each also
 * kept). OpenAI Responses: the terminal `response.completed` /
 * `.incomplete` / `.failed` event (SSE or WebSocket message). Chat
 * Completions: the chunk that carries `usage`. A stream that ends without
 * its final usage records what it saw, marked `estimated`. A response whose
 * token counts cannot be read at all (an encoding the meter cannot decode,
 * a garbled body, a stream without usage) yields no numbers: the call is
 * then charged its estimate and marked `unmetered` (see admission.ts).
 */

export type MeteredApi = 'anthropic-messages' | 'openai-responses' | 'openai-chat';

export interface Usage {
  api: MeteredApi;
  model: string | null;
  requestId: string | null;
  /** All input tokens (Anthropic: input + cache creation + cache read). */
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  /** The stream ended (or failed) before its final usage: these are the last numbers seen. */
  estimated: boolean;
  /**
   * No token count could be read for this call: the numbers are the
   * request's estimate, charged so that no answered call is free.
   */
  unmetered: boolean;
}

/** Which requests are metered; `count_tokens` and everything else pass unmetered. */
export function meteredApi(method: string, path: string): MeteredApi | undefined {
  if (method !== 'POST' && method !== 'GET') return undefined;
  const p = (path.split('?')[0] ?? '').replace(/\/+$/, '');
  if (method === 'POST' && p.endsWith('/v1/messages')) return 'anthropic-messages';
  if (p.endsWith('/v1/responses') || p.endsWith('/backend-api/codex/responses')) {
    return 'openai-responses';
  }
  if (method === 'POST' && p.endsWith('/v1/chat/completions')) return 'openai-chat';
  return undefined;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Incremental `text/event-stream` parsing: any split of the bytes gives the same events. */
export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  private event = '';
  private data: string[] = [];

  constructor(private readonly onEvent: (event: string, data: string) => void) {}

  write(chunk: Buffer): void {
    const buf = this.buf + this.decoder.write(chunk);
    const re = /\r\n|\r|\n/g;
    let start = 0;
    for (let m = re.exec(buf); m !== null; m = re.exec(buf)) {
      // A lone \r at the end may be half of \r\n: wait for the next byte.
      if (m[0] === '\r' && m.index === buf.length - 1) break;
      this.line(buf.slice(start, m.index));
      start = m.index + m[0].length;
    }
    // Cut once per chunk, not once per line: a 64 KB chunk holds hundreds of lines.
    this.buf = buf.slice(start);
  }

  end(): void {
    this.buf += this.decoder.end();
    if (this.buf !== '') this.line(this.buf);
    this.buf = '';
    this.line('');
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onEvent(this.event || 'message', this.data.join('\n'));
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

/** Folds the events of one API into usage records. */
class UsageFold {
  private model: string | null = null;
  private requestId: string | null = null;
  private fields: Partial<Record<'input' | 'output' | 'cacheCreation' | 'cacheRead', number>> = {};
  private open = false;

  /** A response has started (its opening event was seen). */
  get opened(): boolean {
    return this.open;
  }

  constructor(
    private readonly api: MeteredApi,
    private readonly emit: (u: Usage) => void,
  ) {}

  /** One JSON document: an SSE event's data, a WebSocket message or a whole JSON body. */
  take(doc: Json, eventName?: string): void {
    const type = str(doc.type) ?? eventName ?? '';
    switch (this.api) {
      case 'anthropic-messages':
        this.anthropic(doc, type);
        break;
      case 'openai-responses':
        this.responses(doc, type);
        break;
      case 'openai-chat':
        this.chat(doc);
        break;
    }
  }

  private anthropicUsage(u: Json | undefined): void {
    if (u === undefined) return;
    const set = (k: keyof UsageFold['fields'], v: unknown): void => {
      const n = num(v);
      if (n !== undefined) this.fields[k] = n;
    };
    set('input', u.input_tokens);
    set('output', u.output_tokens);
    set('cacheCreation', u.cache_creation_input_tokens);
    set('cacheRead', u.cache_read_input_tokens);
  }

  private anthropic(doc: Json, type: string): void {
    if (type === 'message_start') {
      this.open = true;
      const m = obj(doc.message);
      this.model = str(m?.model) ?? this.model;
      this.requestId = str(m?.id) ?? this.requestId;
      this.anthropicUsage(obj(m?.usage));
    } else if (type === 'message_delta') {
      this.anthropicUsage(obj(doc.usage));
    } else if (type === 'message_stop') {
      this.flush(false);
    } else if (type === 'error') {
      this.flush(true);
    } else if (type === 'message' || (type === '' && obj(doc.usage) !== undefined)) {
      // A whole (non-streamed) Messages response.
      this.model = str(doc.model) ?? null;
      this.requestId = str(doc.id) ?? null;
      this.anthropicUsage(obj(doc.usage));
      this.open = true;
      this.flush(false);
    }
  }

  private openaiUsage(
    u: Json | undefined,
    inputKey: string,
    outputKey: string,
    details: string,
  ): void {
    if (u === undefined) return;
    const i = num(u[inputKey]);
    const o = num(u[outputKey]);
    const cached = num(obj(u[details])?.cached_tokens);
    if (i !== undefined) this.fields.input = i;
    if (o !== undefined) this.fields.output = o;
    if (cached !== undefined) this.fields.cacheRead = cached;
  }

  private responses(doc: Json, type: string): void {
    const r = obj(doc.response) ?? (type === '' || type === 'response' ? doc : undefined);
    if (r !== undefined) {
      this.open = true;
      this.model = str(r.model) ?? this.model;
      this.requestId = str(r.id) ?? this.requestId;
      this.openaiUsage(obj(r.usage), 'input_tokens', 'output_tokens', 'input_tokens_details');
    }
    if (type === 'response.completed' || type === 'response.incomplete') this.flush(false);
    else if (type === 'response.failed' || type === 'error') this.flush(true);
    else if ((type === '' || type === 'response') && r !== undefined)
      this.flush(obj(r.usage) === undefined);
  }

  private chat(doc: Json): void {
    this.open = true;
    this.model = str(doc.model) ?? this.model;
    this.requestId = str(doc.id) ?? this.requestId;
    const u = obj(doc.usage);
    if (u !== undefined) {
      this.openaiUsage(u, 'prompt_tokens', 'completion_tokens', 'prompt_tokens_details');
      this.flush(false);
    }
  }

  /** Emit what is known for the current response and start over. */
  flush(estimated: boolean): void {
    if (!this.open) return;
    const f = this.fields;
    const cacheCreation = f.cacheCreation ?? 0;
    const cacheRead = f.cacheRead ?? 0;
    const rawInput = f.input ?? 0;
    const unread = f.input === undefined && f.output === undefined;
    this.emit({
      api: this.api,
      model: this.model,
      requestId: this.requestId,
      // OpenAI's input already includes cached tokens; Anthropic's does not.
      inputTokens:
        this.api === 'anthropic-messages' ? rawInput + cacheCreation + cacheRead : rawInput,
      outputTokens: f.output ?? 0,
      cacheCreationTokens: cacheCreation,
      cacheReadTokens: cacheRead,
      estimated: !unread && (estimated || f.input === undefined || f.output === undefined),
      // A response that opened but never said how many tokens it used.
      unmetered: unread,
    });
    this.open = false;
    this.fields = {};
    this.model = null;
    this.requestId = null;
  }
}

/** How much of a stream's start is parsed before the meter waits for its end. */
const HEAD_BYTES = 256 * 1024;
/** How much of a stream's end is kept for the closing usage (a Responses `completed` event repeats the whole output). */
const TAIL_BYTES = 2 * 1024 * 1024;

/** Byte strings that mark the closing events of a stream. */
const TAIL_MARKERS = [
  '"usage"',
  'message_stop',
  'response.completed',
  'response.incomplete',
  'response.failed',
  '"error"',
].map((s) => Buffer.from(s));

/** SSE event names that can carry usage (or open/close a response). */
const USAGE_EVENTS = new Set([
  'message_start',
  'message_delta',
  'message_stop',
  'error',
  'response.created',
  'response.completed',
  'response.incomplete',
  'response.failed',
]);

export interface Meter {
  /** A chunk of the response body exactly as it went to the agent (or a WebSocket message). */
  write(chunk: Buffer): void;
  /** The response ended (whole or cut off: an unfinished response is then estimated). Resolves once parsed. */
  end(): Promise<void>;
}

/** Content codings the meter decodes; on metered routes the upstream is offered no other. */
export const METER_ENCODINGS = ['gzip', 'deflate', 'br'] as const;

/** How a response body reaches the parser: as is, through a decoder, or not at all. */
type Decoding = { kind: 'identity' } | { kind: 'decoder'; stream: Transform } | { kind: 'unknown' };

function decodingFor(encoding: string | undefined): Decoding {
  const enc = (encoding ?? '').trim().toLowerCase();
  switch (enc === '' ? 'identity' : codingOf(enc)) {
    case 'identity':
      return { kind: 'identity' };
    case 'gzip':
      return { kind: 'decoder', stream: createGunzip() };
    case 'deflate':
      return { kind: 'decoder', stream: createInflate() };
    case 'br':
      return { kind: 'decoder', stream: createBrotliDecompress() };
    default:
      // zstd, stacked codings (`gzip, br`), anything else: unreadable, so
      // the call is charged its estimate rather than parsed as plain text.
      return { kind: 'unknown' };
  }
}

/** `q=` values as RFC 9110 12.4.2 writes them: 0 to 1, at most three decimals. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** Members of a hostile header beyond this are not looked at. */
const MAX_CODINGS = 64;

/**
 * The Accept-Encoding sent upstream on a metered route: the agent's offer
 * cut down to what the meter decodes (gzip, deflate, br) and identity, with
 * its q-values kept. `*` stands for the decodable codings the agent did not
 * name; `q=0` refuses a coding; malformed members are dropped. No header
 * (or nothing left) is `identity`: the agent's client may decode nothing,
 * and an upstream is free to pick any coding for a request without one.
 */
export function meteredAcceptEncoding(value: string | readonly string[] | undefined): string {
  const raw = typeof value === 'string' ? value : (value ?? []).join(',');
  const named = new Map<string, string>();
  let star: string | undefined;
  for (const member of raw.split(',').slice(0, MAX_CODINGS)) {
    const [codingPart = '', ...params] = member.split(';');
    let coding = codingPart.trim().toLowerCase();
    if (coding === '' || !TOKEN.test(coding)) continue;
    if (coding === 'x-gzip') coding = 'gzip';
    let q = '1';
    let valid = params.length <= 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*(\S*)\s*$/i.exec(p);
      if (m?.[1] === undefined || !QVALUE.test(m[1])) valid = false;
      else q = m[1];
    }
    if (!valid) continue;
    if (coding === '*') star ??= q;
    else if (!named.has(coding)) named.set(coding, q);
  }
  const offer: [string, string][] = [];
  for (const [coding, q] of named) {
    if (isReadable(coding)) offer.push([coding, q]);
  }
  if (star !== undefined) {
    for (const coding of [...METER_ENCODINGS, 'identity']) {
      if (!named.has(coding)) offer.push([coding, star]);
    }
  }
  const accepted = offer.filter(([, q]) => Number(q) > 0);
  if (accepted.length === 0) return 'identity';
  return accepted.map(([c, q]) => (Number(q) === 1 ? c : `${c};q=${q}`)).join(', ');
}

function isReadable(coding: string): boolean {
  return coding === 'identity' || (METER_ENCODINGS as readonly string[]).includes(coding);
}

/**
 * A meter for one response. `format`: `sse` (text/event-stream), `json`
 * (a whole body) or `ws` (each write is one WebSocket message).
 */
export function createMeter(
  api: MeteredApi,
  format: 'sse' | 'json' | 'ws',
  contentEncoding: string | undefined,
  onUsage: (u: Usage) => void,
): Meter {
  const fold = new UsageFold(api, onUsage);
  // Most events are content deltas; only these can carry a model, an id or usage.
  const worth = (event: string | undefined, data: string): boolean =>
    event === undefined
      ? data.includes('"usage"') ||
        data.includes('"error"') ||
        /"type":\s*"(?:message_st|response\.(?:created|completed|incomplete|failed)|response")/.test(
          data,
        ) ||
        data.includes('"object":"response"')
      : USAGE_EVENTS.has(event);
  const parseDoc = (text: string, event?: string): void => {
    if (!worth(event, text)) return;
    try {
      const doc = obj(JSON.parse(text));
      if (doc !== undefined) fold.take(doc, event);
    } catch {
      // Not JSON (`[DONE]`, a keep-alive, a broken line): nothing to count.
    }
  };
  let sink: (b: Buffer) => void;
  let finish: () => void;
  if (format === 'sse') {
    // Usage sits at the two ends of a stream: the opening event (model, id,
    // input) and the closing ones (cumulative output, the final usage). The
    // head is parsed until the stream has opened; after that only the last
    // TAIL_BYTES are kept, and parsed when the stream ends. The megabytes
    // of content deltas in between are never decoded.
    const onEvent = (event: string, data: string): void => {
      parseDoc(data, event === 'message' ? undefined : event);
    };
    const head = new SseParser(onEvent);
    let inHead = true;
    let headBytes = 0;
    const tail: Buffer[] = [];
    let tailBytes = 0;
    let dropped = false;
    sink = (b) => {
      if (inHead) {
        head.write(b);
        headBytes += b.length;
        if (fold.opened || headBytes > HEAD_BYTES) inHead = false;
        return;
      }
      tail.push(b);
      tailBytes += b.length;
      while (tail.length > 1 && tailBytes - (tail[0]?.length ?? 0) >= TAIL_BYTES) {
        tailBytes -= tail.shift()?.length ?? 0;
        dropped = true;
      }
    };
    finish = () => {
      const rest = Buffer.concat(tail);
      if (!dropped) {
        // Nothing was skipped: the head parser simply continues.
        head.write(rest);
        head.end();
        return;
      }
      // Parse only from the event before the first closing marker (found with
      // native byte search); the deltas before it hold nothing to count.
      const hits = TAIL_MARKERS.map((m) => rest.indexOf(m)).filter((i) => i >= 0);
      if (hits.length === 0) return;
      const first = Math.min(...hits);
      const boundary = Math.max(
        rest.lastIndexOf('\n\n', first),
        rest.lastIndexOf('\r\n\r\n', first),
      );
      if (boundary < 0) return;
      const parser = new SseParser(onEvent);
      parser.write(rest.subarray(boundary));
      parser.end();
    };
  } else if (format === 'json') {
    const parts: Buffer[] = [];
    let size = 0;
    sink = (b) => {
      // A usage-bearing JSON response is small; a runaway body is not parsed.
      if (size < 32 * 1024 * 1024) parts.push(b);
      size += b.length;
    };
    finish = () => {
      parseDoc(Buffer.concat(parts).toString('utf8'));
    };
  } else {
    sink = (b) => {
      parseDoc(b.toString('utf8'));
    };
    finish = () => undefined;
  }

  const decoding: Decoding = format === 'ws' ? { kind: 'identity' } : decodingFor(contentEncoding);
  const decoder = decoding.kind === 'decoder' ? decoding.stream : undefined;
  // A body the meter cannot decode is not parsed: no usage comes of it.
  let broken = decoding.kind === 'unknown';
  if (decoder !== undefined) {
    decoder.on('data', (c: Buffer) => {
      sink(c);
    });
    decoder.on('error', () => {
      broken = true;
    });
  }
  return {
    write(chunk) {
      if (broken) return;
      if (decoder !== undefined) decoder.write(chunk);
      else sink(chunk);
    },
    end() {
      const done = (): void => {
        if (decoding.kind !== 'unknown') finish();
        // Still open here: the response ended before its final usage event.
        fold.flush(true);
      };
      if (decoder === undefined || broken) {
        done();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        decoder.once('end', () => {
          done();
          resolve();
        });
        decoder.once('error', () => {
          done();
          resolve();
        });
        decoder.end();
      });
    },
  };
}
