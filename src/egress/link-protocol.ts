import { z } from 'zod';

/**
 * The line protocol between an egress sidecar and its bottle's controller,
 * over the link the controller opens through the engine (an `exec` stream
 * into the sidecar, relayed to its unix socket). One JSON object per line. The sidecar asks; the controller
 * answers admissions by id. Both sides validate what they read.
 */

const nonNegative = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const id = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const apiName = z.enum(['anthropic-messages', 'openai-responses', 'openai-chat']);

export const linkUsageSchema = z.object({
  api: apiName,
  model: z.string().max(200).nullable(),
  requestId: z.string().max(200).nullable(),
  inputTokens: nonNegative,
  outputTokens: nonNegative,
  cacheCreationTokens: nonNegative,
  cacheReadTokens: nonNegative,
  estimated: z.boolean(),
  unmetered: z.boolean().default(false),
});

export const sidecarMessageSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('hello'),
    slug: z.string().max(100),
  }),
  z.object({
    t: z.literal('admit'),
    id,
    api: apiName,
    host: z.string().max(300),
    estimate: nonNegative,
    /** For capping (absent: the body could not be parsed): input estimate, asked cap, least cap. */
    input: nonNegative.optional(),
    cap: nonNegative.nullable().optional(),
    minCap: nonNegative.optional(),
  }),
  z.object({ t: z.literal('usage'), id: id.nullable(), usage: linkUsageSchema }),
  // `status`: how the upstream answered; a 2xx release is charged its estimate, never freed.
  z.object({
    t: z.literal('release'),
    id,
    status: z.number().int().min(0).max(999).optional(),
  }),
  /** Secrets redacted from one LLM request: kind -> count (never a value). */
  z.object({
    t: z.literal('redacted'),
    counts: z.record(z.string().min(1).max(100), z.number().int().min(1).max(1_000_000)),
  }),
]);
export type SidecarMessage = z.infer<typeof sidecarMessageSchema>;

// A plain union: both replies share `t: 'admit'` and differ in `ok`.
export const controllerMessageSchema = z.union([
  // `cap`: the output cap granted; the sidecar writes it into the request (null: sent as it is).
  z.object({
    t: z.literal('admit'),
    id,
    ok: z.literal(true),
    cap: nonNegative.nullable().optional(),
  }),
  z.object({
    t: z.literal('admit'),
    id,
    ok: z.literal(false),
    kind: z.enum(['exhausted', 'held', 'cutoff', 'unavailable', 'rate']),
    message: z.string().max(2000),
    retryAfter: z.number().int().min(0).max(3600).optional(),
  }),
]);
export type ControllerMessage = z.infer<typeof controllerMessageSchema>;

/**
 * Reads one side's messages from a byte stream: each line parsed and
 * validated; a bad line is reported and skipped, an oversized one reported
 * (the caller drops the connection).
 */
export function messageReader<T>(
  schema: z.ZodType<T>,
  on: { message: (m: T) => void; bad: (line: string) => void; tooLong: () => void },
): (chunk: Buffer) => void {
  return lineReader((line) => {
    let m: T;
    try {
      m = schema.parse(JSON.parse(line));
    } catch {
      on.bad(line);
      return;
    }
    on.message(m);
  }, on.tooLong);
}

/** Splits a byte stream into lines; a line longer than `max` is an error. */
function lineReader(
  onLine: (line: string) => void,
  onTooLong: () => void,
  max = 64 * 1024,
): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString('utf8');
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() !== '') onLine(line);
      nl = buf.indexOf('\n');
    }
    if (buf.length > max) {
      buf = '';
      onTooLong();
    }
  };
}
