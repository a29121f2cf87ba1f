import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Scanner } from '../../src/egress/dlp.js';
import { SECRET_PATTERNS } from '../../src/egress/dlp-patterns.js';
import { describeRedactions, marker, redactBody } from '../../src/egress/redact.js';

/** Realistic-looking, fake: the AWS documentation's example key id and a Stripe-shaped live key. */
const AWS = 'AKIAIOSFODNN7EXAMPLE';
const STRIPE = 'sk_live_51HqLyjWDarjtT1zdp7dc4eC39HqLyjWD';
const ROUTE_SECRET = 'sk-ant-api03-ROUTE-SECRET-0123456789abcdefghijklmnop';

const scanner = new Scanner([ROUTE_SECRET]);
const redact = (body: string | Buffer): ReturnType<typeof redactBody> =>
  redactBody(scanner, typeof body === 'string' ? Buffer.from(body) : body);

/** An Anthropic Messages request whose last tool result is `text`. */
const messages = (text: string): string =>
  JSON.stringify({
    model: 'claude-sonnet-4-5',
    max_tokens: 1024,
    stream: true,
    messages: [
      { role: 'user', content: 'read the env file' },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: text }],
      },
    ],
  });

const parsed = (b: Buffer): { messages: { content: { content: string }[] }[] } =>
  JSON.parse(b.toString('utf8')) as { messages: { content: { content: string }[] }[] };
const toolResult = (b: Buffer): string => parsed(b).messages[1]?.content[0]?.content ?? '';

describe('LLM request redaction', () => {
  it('replaces each secret in a JSON string by a typed marker and counts it by kind', () => {
    const r = redact(messages(`AWS_ACCESS_KEY_ID=${AWS}\nSTRIPE_SECRET_KEY=${STRIPE}\n`));
    expect(r.residual).toEqual([]);
    expect(r.redactions).toEqual({ 'aws-access-key-id': 1, 'stripe-key': 1 });
    expect(toolResult(r.body)).toBe(
      'AWS_ACCESS_KEY_ID=[REDACTED aws-access-key-id]\nSTRIPE_SECRET_KEY=[REDACTED stripe-key]\n',
    );
    const out = r.body.toString();
    expect(out).not.toContain(AWS);
    expect(out).not.toContain(STRIPE);
    expect(describeRedactions(r.redactions)).toBe('aws-access-key-id, stripe-key');
  });

  it('judges a value by the key it is under, as the upstream reads it', () => {
    // Claude Code's request metadata: a 64-hex device identifier inside a JSON string.
    const hex = 'f3c1a9e07b2d4c58a6e19b3f0d7c2e4a1b9f8e7d6c5b4a39281706f5e4d3c2b1';
    const metadata = JSON.stringify({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'hi' }],
      metadata: {
        user_id: JSON.stringify({
          device_id: hex,
          account_uuid: '',
          session_id: '4f0c3c1e-8a7b-4d2e-9f10-2b3c4d5e6f70',
        }),
      },
    });
    const clean = redact(metadata);
    expect(clean.residual).toEqual([]);
    expect(clean.redactions).toEqual({});
    expect(clean.body.toString()).toBe(metadata);
    // The same value named as a key is one.
    const key = redact(JSON.stringify({ messages: [{ content: { private_key: hex } }] }));
    expect(key.residual).toEqual([]);
    expect(key.redactions).toEqual({ 'hex-private-key': 1 });
    expect(key.body.toString()).not.toContain(hex);
  });

  it('keeps a clean body byte for byte (no re-serialisation)', () => {
    const body = Buffer.from('{ "a" : 1.0, "b": "caf\\u00e9", "n": 12345678901234567890 }');
    const r = redact(body);
    expect(r.body).toBe(body);
    expect(r.redactions).toEqual({});
    expect(r.residual).toEqual([]);
  });

  it('keeps the bytes between strings when it redacts (numbers, spacing)', () => {
    const r = redact(`{ "n" : 12345678901234567890,  "k": "${AWS}" }`);
    expect(r.body.toString()).toBe(
      '{ "n" : 12345678901234567890,  "k": "[REDACTED aws-access-key-id]" }',
    );
  });

  it('sees through JSON escapes: \\u0041KIA…, \\/ and escaped quotes', () => {
    const escaped = `\\u0041\\u004b${AWS.slice(2)}`;
    const stripeSlash = STRIPE;
    const body = `{"a":"${escaped}","b":"x\\/${stripeSlash}\\/y","c":"q\\"${AWS}\\"q"}`;
    expect(body.slice(0, 40)).not.toContain(AWS);
    const r = redact(body);
    expect(r.residual).toEqual([]);
    expect(r.redactions).toEqual({ 'aws-access-key-id': 2, 'stripe-key': 1 });
    const j = JSON.parse(r.body.toString()) as Record<string, string>;
    expect(j).toEqual({
      a: '[REDACTED aws-access-key-id]',
      b: 'x/[REDACTED stripe-key]/y',
      c: 'q"[REDACTED aws-access-key-id]"q',
    });
  });

  it('redacts two findings in one string, and the same secret twice', () => {
    const r = redact(messages(`${AWS} and ${AWS} then ${STRIPE}${' pad'.repeat(3)}`));
    expect(r.redactions).toEqual({ 'aws-access-key-id': 2, 'stripe-key': 1 });
    expect(toolResult(r.body)).toBe(
      '[REDACTED aws-access-key-id] and [REDACTED aws-access-key-id] then [REDACTED stripe-key] pad pad pad',
    );
  });

  it('replaces a base64 run whole when its decoded text holds a secret', () => {
    const wrapped = Buffer.from(`please keep this: ${AWS} thanks`).toString('base64');
    const r = redact(messages(`config blob ${wrapped} end`));
    expect(r.residual).toEqual([]);
    expect(r.redactions).toEqual({ 'aws-access-key-id': 1 });
    expect(toolResult(r.body)).toBe('config blob [REDACTED aws-access-key-id] end');
  });

  it('replaces URL-encoded and doubly URL-encoded secrets whole', () => {
    const once = encodeURIComponent(`key=${STRIPE}`).replace(/_/g, '%5F');
    const twice = encodeURIComponent(encodeURIComponent(`id ${AWS}`));
    const r = redact(messages(`curl https://x.test/?q=${once} and ${twice}`));
    expect(r.residual).toEqual([]);
    const out = toolResult(r.body);
    expect(out).not.toMatch(/sk(_|%5F)live/);
    expect(out).not.toContain('IOSFODNN7');
    expect(r.redactions['stripe-key']).toBe(1);
    expect(r.redactions['aws-access-key-id']).toBe(1);
  });

  it('replaces a hex-encoded secret whole', () => {
    const hex = Buffer.from(`token ${STRIPE}`).toString('hex');
    const r = redact(messages(`dump: ${hex}`));
    expect(r.residual).toEqual([]);
    expect(toolResult(r.body)).toBe('dump: [REDACTED stripe-key]');
  });

  it("redacts the bottle's own route secret in every form the scanner knows", () => {
    const forms = [
      ROUTE_SECRET,
      encodeURIComponent(ROUTE_SECRET),
      Buffer.from(`x${ROUTE_SECRET}y`).toString('base64'),
      Buffer.from(ROUTE_SECRET).toString('hex'),
    ];
    for (const f of forms) {
      const r = redact(messages(`leaked ${f} here`));
      expect(r.residual, f).toEqual([]);
      expect(r.redactions['bottle-secret'], f).toBe(1);
      const out = r.body.toString();
      expect(out).not.toContain(f);
      expect(out).not.toContain('ROUTE-SECRET');
    }
  });

  it('reads a JSON document held in a JSON string (tool arguments) with its own escapes', () => {
    const inner = `{"env":"\\u0041KIA${AWS.slice(4)}"}`;
    const body = JSON.stringify({ input: inner });
    expect(body).not.toContain(AWS);
    const r = redact(body);
    expect(r.residual).toEqual([]);
    expect(r.redactions).toEqual({ 'aws-access-key-id': 1 });
    const j = JSON.parse(r.body.toString()) as { input: string };
    expect(JSON.parse(j.input)).toEqual({ env: '[REDACTED aws-access-key-id]' });
  });

  it('does not claim to redact a key split across JSON strings, and leaves nothing to forward', () => {
    const r = redact(JSON.stringify({ parts: [AWS.slice(0, 9), AWS.slice(9)] }));
    expect(r.redactions).toEqual({});
    expect(r.residual.map((f) => f.kind)).toContain('aws-access-key-id');
    expect(r.residual[0]?.where).toBe('body (adjacent strings)');
  });

  it('does not flag its own markers, for every detector and for combined runs', () => {
    const all = SECRET_PATTERNS.map((p) => marker([p.name]));
    all.push(marker(['bottle-secret']), marker(['aws-access-key-id', 'stripe-key']));
    const text = all.join(' ');
    expect(scanner.scanText(text, 'body')).toEqual([]);
    const r = redact(messages(text));
    expect(r.redactions).toEqual({});
    expect(r.residual).toEqual([]);
    // A redacted body redacted again is unchanged.
    const once = redact(messages(`${AWS} ${STRIPE}`));
    const twice = redact(once.body);
    expect(twice.body.toString()).toBe(once.body.toString());
    expect(twice.redactions).toEqual({});
  });

  it('redacts text bodies as text and keeps every other byte exactly', () => {
    const body = Buffer.concat([
      Buffer.from('caf\xc3\xa9 key ', 'latin1'),
      Buffer.from(AWS),
      Buffer.from([0xff, 0x00, 0x0a]),
      Buffer.from(`stripe ${STRIPE}`),
    ]);
    const r = redact(body);
    expect(r.json).toBe(false);
    expect(r.residual).toEqual([]);
    expect(r.redactions).toEqual({ 'aws-access-key-id': 1, 'stripe-key': 1 });
    expect(r.body).toEqual(
      Buffer.concat([
        Buffer.from('caf\xc3\xa9 key ', 'latin1'),
        Buffer.from('[REDACTED aws-access-key-id]'),
        Buffer.from([0xff, 0x00, 0x0a]),
        Buffer.from('stripe [REDACTED stripe-key]'),
      ]),
    );
  });

  it('treats a body that only claims to be JSON (or breaks off) as text', () => {
    const r = redact(`{"truncated": "${AWS}`);
    expect(r.json).toBe(false);
    expect(r.body.toString()).toBe('{"truncated": "[REDACTED aws-access-key-id]');
  });

  it('finds secrets past the first 8 MiB of a huge body, and leaves the image data alone', () => {
    const image = Buffer.alloc(6 * 1024 * 1024, 7).toString('base64');
    const body = JSON.stringify({
      messages: [
        { content: [{ type: 'image', source: { data: image } }] },
        { content: `late: ${AWS}` },
      ],
    });
    expect(body.length).toBeGreaterThan(8 * 1024 * 1024);
    const r = redact(body);
    expect(r.residual).toEqual([]);
    expect(r.redactions).toEqual({ 'aws-access-key-id': 1 });
    const j = JSON.parse(r.body.toString()) as {
      messages: [{ content: [{ source: { data: string } }] }, { content: string }];
    };
    expect(j.messages[0].content[0].source.data).toBe(image);
    expect(j.messages[1].content).toBe('late: [REDACTED aws-access-key-id]');
  });

  it('leaves a still-compressed body to the caller: it is not JSON and is not claimed clean', () => {
    // The proxy decodes content-encoding before redacting; raw gzip here is opaque bytes.
    const gz = gzipSync(Buffer.from(messages(AWS)));
    const r = redact(gz);
    expect(r.json).toBe(false);
    expect(r.redactions).toEqual({});
  });

  it('does not let almost-JSON (redacted as text) hide a key in escapes', () => {
    const r = redact(`{"a": "\\u0041\\u004b${AWS.slice(2)}", }`);
    expect(r.json).toBe(false);
    expect(r.redactions).toEqual({});
    // The scanner decodes JavaScript escapes itself, so the plain text may be named too.
    expect(r.residual.map((f) => f.where)).toContain('body (escapes decoded)');
  });

  it('redacts object keys as well as values', () => {
    const r = redact(JSON.stringify({ [AWS]: 'v' }));
    expect(JSON.parse(r.body.toString())).toEqual({ '[REDACTED aws-access-key-id]': 'v' });
  });
});
