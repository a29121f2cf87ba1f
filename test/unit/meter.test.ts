import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ABANDONED,
  accountCall,
  callEnd,
  unmeteredCharge,
  type Ticket,
} from '../../src/egress/admission.js';
import {
  createMeter,
  meteredAcceptEncoding,
  meteredApi,
  SseParser,
  type MeteredApi,
  type Usage,
} from '../../src/egress/meter.js';

const sse = (events: [string, unknown][], eol = '\n'): string =>
  events.map(([e, d]) => `event: ${e}${eol}data: ${JSON.stringify(d)}${eol}${eol}`).join('');

const ANTHROPIC_STREAM = sse([
  [
    'message_start',
    {
      type: 'message_start',
      message: {
        id: 'msg_1',
        model: 'claude-x',
        usage: {
          input_tokens: 10,
          output_tokens: 1,
          cache_creation_input_tokens: 20,
          cache_read_input_tokens: 30,
        },
      },
    },
  ],
  ['ping', { type: 'ping' }],
  [
    'content_block_delta',
    { type: 'content_block_delta', delta: { type: 'text_delta', text: 'héllo ✓' } },
  ],
  [
    'message_delta',
    { type: 'message_delta', delta: { stop_reason: null }, usage: { output_tokens: 5 } },
  ],
  [
    'message_delta',
    {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn' },
      usage: { output_tokens: 12, input_tokens: null },
    },
  ],
  ['message_stop', { type: 'message_stop' }],
]);

async function meter(
  api: MeteredApi,
  format: 'sse' | 'json' | 'ws',
  chunks: Buffer[],
  opts: { encoding?: string } = {},
): Promise<Usage[]> {
  const out: Usage[] = [];
  const m = createMeter(api, format, opts.encoding, (u) => out.push(u));
  for (const c of chunks) m.write(c);
  await m.end();
  return out;
}

const ANTHROPIC_USAGE: Usage = {
  api: 'anthropic-messages',
  model: 'claude-x',
  requestId: 'msg_1',
  inputTokens: 60,
  outputTokens: 12,
  cacheCreationTokens: 20,
  cacheReadTokens: 30,
  estimated: false,
  unmetered: false,
};

describe('usage metering', () => {
  it('reads Anthropic SSE the same however the bytes are split', async () => {
    const bytes = Buffer.from(ANTHROPIC_STREAM);
    expect(await meter('anthropic-messages', 'sse', [bytes])).toEqual([ANTHROPIC_USAGE]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const got = await meter('anthropic-messages', 'sse', [
        bytes.subarray(0, cut),
        bytes.subarray(cut),
      ]);
      expect(got, `split at ${cut}`).toEqual([ANTHROPIC_USAGE]);
    }
    const byByte = [...bytes].map((b) => Buffer.from([b]));
    expect(await meter('anthropic-messages', 'sse', byByte)).toEqual([ANTHROPIC_USAGE]);
  });

  it('handles CRLF line ends and gzip-encoded streams', async () => {
    expect(
      await meter('anthropic-messages', 'sse', [
        Buffer.from(ANTHROPIC_STREAM.replace(/\n/g, '\r\n')),
      ]),
    ).toEqual([ANTHROPIC_USAGE]);
    const gz = gzipSync(Buffer.from(ANTHROPIC_STREAM));
    const parts = [gz.subarray(0, 7), gz.subarray(7, 40), gz.subarray(40)];
    expect(await meter('anthropic-messages', 'sse', parts, { encoding: 'gzip' })).toEqual([
      ANTHROPIC_USAGE,
    ]);
  });

  it('records what it saw, marked estimated, when a stream is cut or errors', async () => {
    const cut = ANTHROPIC_STREAM.slice(
      0,
      ANTHROPIC_STREAM.indexOf(
        'event: message_delta',
        ANTHROPIC_STREAM.indexOf('message_delta') + 20,
      ),
    );
    expect(await meter('anthropic-messages', 'sse', [Buffer.from(cut)])).toEqual([
      { ...ANTHROPIC_USAGE, outputTokens: 5, estimated: true },
    ]);
    const errored = sse([
      [
        'message_start',
        {
          type: 'message_start',
          message: { id: 'm', model: 'x', usage: { input_tokens: 3, output_tokens: 1 } },
        },
      ],
      ['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }],
    ]);
    expect(await meter('anthropic-messages', 'sse', [Buffer.from(errored)])).toMatchObject([
      { inputTokens: 3, outputTokens: 1, estimated: true },
    ]);
  });

  it('reads a long stream from its ends only, whatever the chunking', async () => {
    const [start, ...rest] = ANTHROPIC_STREAM.split(/(?=event: )/);
    const delta = sse([
      [
        'content_block_delta',
        { type: 'content_block_delta', delta: { type: 'text_delta', text: 'y'.repeat(1000) } },
      ],
    ]);
    const middle = delta.repeat(3500); // ~3.6 MB, more than the kept tail
    const bytes = Buffer.from(`${start ?? ''}${middle}${rest.join('')}`);
    for (const size of [1000, 65536, 777_777]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      expect(await meter('anthropic-messages', 'sse', chunks), `chunks of ${size}`).toEqual([
        ANTHROPIC_USAGE,
      ]);
    }
    // Cut inside the deltas: the opening usage is known, the output is not final.
    const cut = Buffer.from(`${start ?? ''}${middle}`);
    expect(
      await meter('anthropic-messages', 'sse', [cut.subarray(0, 100_000), cut.subarray(100_000)]),
    ).toEqual([{ ...ANTHROPIC_USAGE, outputTokens: 1, estimated: true }]);
  });

  it('reads a whole Anthropic JSON response', async () => {
    const body = {
      id: 'msg_2',
      type: 'message',
      model: 'claude-y',
      usage: { input_tokens: 7, output_tokens: 9, cache_read_input_tokens: 2 },
    };
    expect(await meter('anthropic-messages', 'json', [Buffer.from(JSON.stringify(body))])).toEqual([
      {
        api: 'anthropic-messages',
        model: 'claude-y',
        requestId: 'msg_2',
        inputTokens: 9,
        outputTokens: 9,
        cacheCreationTokens: 0,
        cacheReadTokens: 2,
        estimated: false,
        unmetered: false,
      },
    ]);
  });

  const completed = (
    id: string,
    input: number,
    output: number,
    type = 'response.completed',
  ): Record<string, unknown> => ({
    type,
    response: {
      id,
      model: 'gpt-x',
      usage: {
        input_tokens: input,
        output_tokens: output,
        input_tokens_details: { cached_tokens: 4 },
      },
    },
  });

  it('reads OpenAI Responses over SSE, JSON and WebSocket (several responses per socket)', async () => {
    const stream = sse([
      ['response.created', { type: 'response.created', response: { id: 'r1', model: 'gpt-x' } }],
      ['response.output_text.delta', { type: 'response.output_text.delta', delta: 'hi' }],
      ['response.completed', completed('r1', 11, 13)],
    ]);
    const want = {
      api: 'openai-responses',
      model: 'gpt-x',
      requestId: 'r1',
      inputTokens: 11,
      outputTokens: 13,
      cacheCreationTokens: 0,
      cacheReadTokens: 4,
      estimated: false,
      unmetered: false,
    };
    expect(await meter('openai-responses', 'sse', [Buffer.from(stream)])).toEqual([want]);
    expect(
      await meter('openai-responses', 'json', [
        Buffer.from(
          JSON.stringify({ object: 'response', ...(completed('r1', 11, 13).response as object) }),
        ),
      ]),
    ).toEqual([want]);
    const ws = [
      completed('r1', 11, 13),
      { type: 'response.created', response: { id: 'r2', model: 'gpt-x' } },
      completed('r2', 20, 2, 'response.incomplete'),
    ];
    expect(
      await meter(
        'openai-responses',
        'ws',
        ws.map((m) => Buffer.from(JSON.stringify(m))),
      ),
    ).toEqual([want, { ...want, requestId: 'r2', inputTokens: 20, outputTokens: 2 }]);
    const failed = await meter('openai-responses', 'ws', [
      Buffer.from(
        JSON.stringify({ type: 'response.failed', response: { id: 'r3', model: 'gpt-x' } }),
      ),
    ]);
    expect(failed).toMatchObject([{ requestId: 'r3', estimated: false, unmetered: true }]);
  });

  it('reads the usage chunk of Chat Completions and ignores [DONE]', async () => {
    const stream = [
      `data: ${JSON.stringify({ id: 'c1', model: 'gpt-c', choices: [{ delta: { content: 'x' } }] })}\n\n`,
      `data: ${JSON.stringify({ id: 'c1', model: 'gpt-c', choices: [], usage: { prompt_tokens: 5, completion_tokens: 6, prompt_tokens_details: { cached_tokens: 1 } } })}\n\n`,
      'data: [DONE]\n\n',
    ].join('');
    expect(await meter('openai-chat', 'sse', [Buffer.from(stream)])).toEqual([
      {
        api: 'openai-chat',
        model: 'gpt-c',
        requestId: 'c1',
        inputTokens: 5,
        outputTokens: 6,
        cacheCreationTokens: 0,
        cacheReadTokens: 1,
        estimated: false,
        unmetered: false,
      },
    ]);
  });

  it('meters only the LLM calls; count_tokens passes unmetered', () => {
    expect(meteredApi('POST', '/v1/messages?beta=true')).toBe('anthropic-messages');
    expect(meteredApi('POST', '/v1/messages/count_tokens')).toBeUndefined();
    expect(meteredApi('POST', '/v1/responses')).toBe('openai-responses');
    expect(meteredApi('GET', '/v1/responses')).toBe('openai-responses');
    expect(meteredApi('POST', '/backend-api/codex/responses')).toBe('openai-responses');
    expect(meteredApi('POST', '/v1/chat/completions')).toBe('openai-chat');
    expect(meteredApi('GET', '/v1/models')).toBeUndefined();
  });

  it('parses SSE fields by the spec: comments, multi-line data, missing space', () => {
    const got: [string, string][] = [];
    const p = new SseParser((e, d) => got.push([e, d]));
    p.write(Buffer.from(': keep-alive\nevent:x\ndata:a\ndata: b\n\ndata: c\n'));
    p.end();
    expect(got).toEqual([
      ['x', 'a\nb'],
      ['message', 'c'],
    ]);
  });
});

describe('what a metered call offers upstream', () => {
  it.each([
    // Claude Code's own header.
    ['gzip, deflate, br, zstd', 'gzip, deflate, br'],
    ['zstd', 'identity'],
    ['ZSTD;q=1.0, Gzip;q=0.5', 'gzip;q=0.5'],
    ['br;q=1.000, gzip;q=0.8, zstd;q=0.9, identity;q=0.1', 'br, gzip;q=0.8, identity;q=0.1'],
    // `*`: the decodable codings the agent did not name, at the star's q.
    ['*', 'gzip, deflate, br, identity'],
    ['zstd, *;q=0.3', 'gzip;q=0.3, deflate;q=0.3, br;q=0.3, identity;q=0.3'],
    ['br;q=0, *', 'gzip, deflate, identity'],
    ['*;q=0', 'identity'],
    // q=0 refuses; a coding named twice keeps its first weight.
    ['gzip;q=0', 'identity'],
    ['gzip;q=0, gzip', 'identity'],
    ['identity;q=0, zstd', 'identity'],
    ['identity;q=0, br', 'br'],
    ['x-gzip', 'gzip'],
    // Garbage is dropped, never passed on.
    ['', 'identity'],
    [' , ,, ', 'identity'],
    ['gzip;q=2, br', 'br'],
    ['gzip;q=0.0001, deflate;q=abc, br;level=9', 'identity'],
    ['gzip;;q=1, br', 'br'],
    ['g@zip, br\u0000, deflate', 'deflate'],
    ['zstd, "gzip", br ;  Q = 0.5 ', 'br;q=0.5'],
  ])('%j -> %j', (offer, sent) => {
    expect(meteredAcceptEncoding(offer)).toBe(sent);
  });

  it('sends identity when the agent named no coding at all', () => {
    expect(meteredAcceptEncoding(undefined)).toBe('identity');
  });

  it('reads repeated headers as one list and ignores members past the first 64', () => {
    expect(meteredAcceptEncoding(['zstd', 'gzip'])).toBe('gzip');
    const flood = `${Array.from({ length: 64 }, (_, i) => `x${i}`).join(', ')}, gzip`;
    expect(meteredAcceptEncoding(flood)).toBe('identity');
    expect(meteredAcceptEncoding('zstd, '.repeat(100_000))).toBe('identity');
  });
});

describe('a response the meter cannot read', () => {
  it('yields no usage for a coding it cannot decode, stacked codings or a broken body', async () => {
    const plain = Buffer.from(ANTHROPIC_STREAM);
    const zstd = spawnSync('zstd', ['-c', '-q'], { input: plain });
    expect(zstd.status, 'the zstd command is installed').toBe(0);
    expect(await meter('anthropic-messages', 'sse', [zstd.stdout], { encoding: 'zstd' })).toEqual(
      [],
    );
    // Plain text labelled with an unknown coding is not read as if it were plain.
    expect(await meter('anthropic-messages', 'sse', [plain], { encoding: 'zstd' })).toEqual([]);
    expect(await meter('anthropic-messages', 'sse', [plain], { encoding: 'gzip, br' })).toEqual([]);
    const twice = gzipSync(gzipSync(plain));
    expect(await meter('anthropic-messages', 'sse', [twice], { encoding: 'gzip, gzip' })).toEqual(
      [],
    );
    expect(
      await meter('anthropic-messages', 'sse', [Buffer.from('not gzip at all')], {
        encoding: 'gzip',
      }),
    ).toEqual([]);
    // Truncated before the first event decodes.
    expect(
      await meter('anthropic-messages', 'sse', [gzipSync(plain).subarray(0, 12)], {
        encoding: 'gzip',
      }),
    ).toEqual([]);
    expect(
      await meter('anthropic-messages', 'json', [Buffer.from('{"usage": {"input_tok')]),
    ).toEqual([]);
  });

  it('keeps what it read when the body breaks after the opening usage (estimated, not unmetered)', async () => {
    const gz = gzipSync(Buffer.from(ANTHROPIC_STREAM));
    const head = gz.subarray(0, Math.floor(gz.length * 0.6));
    // The head arrives whole; the stream then turns to garbage.
    const got = await meter('anthropic-messages', 'sse', [head, Buffer.from('garbage garbage')], {
      encoding: 'gzip',
    });
    expect(got).toMatchObject([{ inputTokens: 60, estimated: true, unmetered: false }]);
  });

  it('marks a response that opened but never counted a token as unmetered', async () => {
    const stream = sse([
      ['message_start', { type: 'message_start', message: { id: 'm1', model: 'x' } }],
      ['message_stop', { type: 'message_stop' }],
    ]);
    expect(await meter('anthropic-messages', 'sse', [Buffer.from(stream)])).toMatchObject([
      { requestId: 'm1', inputTokens: 0, outputTokens: 0, unmetered: true, estimated: false },
    ]);
  });
});

describe('how a metered call is settled', () => {
  it.each([
    [200, false, 'charge'],
    [201, false, 'charge'],
    [299, false, 'charge'],
    [101, false, 'charge'],
    [200, true, 'read'],
    [500, true, 'read'],
    [204, false, 'charge'],
    [300, false, 'release'],
    [400, false, 'release'],
    [429, false, 'release'],
    [500, false, 'release'],
    [529, false, 'release'],
    // The agent hung up after the whole request left: the upstream may have spent tokens.
    [ABANDONED, false, 'charge'],
    [undefined, false, 'release'],
  ] as const)('status %s, usage seen %s: %s', (status, seen, end) => {
    expect(callEnd(status, seen)).toBe(end);
  });

  it('charges at least the estimate, keeping what little was read', () => {
    expect(unmeteredCharge('openai-chat', 10.2)).toEqual({
      api: 'openai-chat',
      model: null,
      requestId: null,
      inputTokens: 11,
      outputTokens: 0,
      cacheCreationTokens: 0,
      cacheReadTokens: 0,
      estimated: false,
      unmetered: true,
    });
    expect(unmeteredCharge('openai-chat', -5).inputTokens).toBe(0);
    const seen = { ...ANTHROPIC_USAGE, inputTokens: 500, unmetered: true };
    expect(unmeteredCharge('anthropic-messages', 100, seen)).toMatchObject({
      model: 'claude-x',
      inputTokens: 500,
      outputTokens: 12,
    });
  });

  /** A ticket that writes down what reaches it, in order. */
  const recording = (): { ticket: Ticket; seen: string[] } => {
    const seen: string[] = [];
    return {
      seen,
      ticket: {
        answered: (s) => seen.push(`answered ${s}`),
        usage: (u) =>
          seen.push(`usage ${u.inputTokens}/${u.outputTokens}${u.unmetered ? ' unmetered' : ''}`),
        done: () => seen.push('done'),
      },
    };
  };

  it('charges an answered call without usage before closing it, once', () => {
    const { ticket, seen } = recording();
    const reported: Usage[] = [];
    const call = accountCall(ticket, {
      api: 'anthropic-messages',
      estimate: 40,
      report: (u) => reported.push(u),
    });
    call.answered(200);
    call.done();
    call.done();
    expect(seen).toEqual(['answered 200', 'usage 40/0 unmetered', 'done']);
    expect(reported).toHaveLength(1);
    expect(call.charged()).toMatchObject({ inputTokens: 40, unmetered: true });
  });

  it('releases a refused call and passes read usage through unchanged', () => {
    const refused = recording();
    const a = accountCall(refused.ticket, { api: 'openai-chat', estimate: 40, report: () => 0 });
    a.answered(503);
    a.done();
    expect(refused.seen).toEqual(['answered 503', 'done']);
    expect(a.charged()).toBeUndefined();
    const read = recording();
    const b = accountCall(read.ticket, { api: 'openai-chat', estimate: 40, report: () => 0 });
    b.answered(200);
    b.usage({ ...ANTHROPIC_USAGE, inputTokens: 3, outputTokens: 4 });
    b.done();
    expect(read.seen).toEqual(['answered 200', 'usage 3/4', 'done']);
    // Usage the meter could not count is replaced by the estimate.
    const unread = recording();
    const c = accountCall(unread.ticket, { api: 'openai-chat', estimate: 40, report: () => 0 });
    c.answered(200);
    c.usage({ ...ANTHROPIC_USAGE, inputTokens: 0, outputTokens: 0, unmetered: true });
    c.done();
    expect(unread.seen).toEqual(['answered 200', 'usage 40/0 unmetered', 'done']);
  });
});
