import { describe, expect, it } from 'vitest';
import {
  decideAdmission,
  rateRetryAfter,
  type AdmissionAsk,
} from '../../src/controller/admission-decision.js';
import { applyCap, capAsk, parseBody } from '../../src/egress/cap.js';
import { cappedBody } from '../../src/egress/decide/metering.js';
import type { Refuse } from '../../src/egress/decide/verdict.js';
import type { WindowState } from '../../src/ledger/types.js';

const NOW = Date.parse('2026-11-21T10:00:00Z');

function budget(limit: number, used: number, reserved = 0, scope = 'global:claude'): WindowState {
  return {
    window: { scope, filter: { provider: 'claude' }, limit, kind: 'budget' },
    used,
    reserved,
    firstAt: null,
  };
}

function rate(limit: number, used: number, reserved: number, firstAt: string | null): WindowState {
  return {
    window: { scope: 'rate:global:claude', filter: { provider: 'claude' }, limit, kind: 'rate' },
    used,
    reserved,
    firstAt,
  };
}

const ask = (over: Partial<AdmissionAsk> = {}): AdmissionAsk => ({
  estimate: 500,
  input: 2000,
  cap: 64000,
  minCap: 1,
  capping: true,
  floor: 1024,
  now: NOW,
  ...over,
});

describe('admission with output caps', () => {
  it('grants the request its own cap when the budget has room for it', () => {
    expect(decideAdmission([budget(100_000, 10_000)], ask({ cap: 8000 }))).toMatchObject({
      verdict: 'admitted',
      cap: 8000,
      reserve: 10_000,
    });
  });

  it('lowers the cap to what is left after used, held and the input: min(C, R - I)', () => {
    // R = 20,000 - 5,000 - 3,000 = 12,000; R - I = 10,000.
    expect(decideAdmission([budget(20_000, 5000, 3000)], ask())).toMatchObject({
      verdict: 'admitted',
      cap: 10_000,
      reserve: 12_000,
    });
  });

  it('adds a cap where the request had none', () => {
    expect(decideAdmission([budget(20_000, 0)], ask({ cap: null }))).toMatchObject({
      cap: 18_000,
    });
  });

  it('takes the tightest of several budget windows', () => {
    const d = decideAdmission(
      [budget(1_000_000, 10), budget(12_000, 4000, 0, 'agent:claude:a'), budget(50_000, 0)],
      ask(),
    );
    expect(d).toMatchObject({ verdict: 'admitted', cap: 6000, reserve: 8000 });
  });

  it('refuses as exhausted when even without calls in flight less than the floor is left', () => {
    const d = decideAdmission([budget(10_000, 7500)], ask());
    expect(d).toMatchObject({ verdict: 'exhausted' });
    expect(d.verdict === 'exhausted' && d.state.window.limit).toBe(10_000);
  });

  it('holds the call when in-flight reservations are why the floor does not fit', () => {
    expect(decideAdmission([budget(10_000, 2000, 6000)], ask())).toMatchObject({
      verdict: 'held',
    });
  });

  it('admits a cap at the floor exactly, and refuses one token under it', () => {
    expect(decideAdmission([budget(10_000, 6976)], ask())).toMatchObject({ cap: 1024 });
    expect(decideAdmission([budget(10_000, 6977)], ask())).toMatchObject({
      verdict: 'exhausted',
    });
    // A smaller floor (settings) admits it.
    expect(decideAdmission([budget(10_000, 6977)], ask({ floor: 100 }))).toMatchObject({
      cap: 1023,
    });
  });

  it('needs room for a thinking budget: the least cap it can take is above 1024', () => {
    expect(decideAdmission([budget(10_000, 6977)], ask({ floor: 16, minCap: 1025 }))).toMatchObject(
      { verdict: 'exhausted' },
    );
  });

  it('without capping admits while used + reserved < limit, reserving the byte estimate', () => {
    const off = ask({ capping: false });
    expect(decideAdmission([budget(10_000, 9999)], off)).toEqual({
      verdict: 'admitted',
      cap: null,
      reserve: 500,
      input: 2000,
    });
    expect(decideAdmission([budget(10_000, 9000, 1000)], off)).toMatchObject({ verdict: 'held' });
    expect(decideAdmission([budget(10_000, 10_000)], off)).toMatchObject({
      verdict: 'exhausted',
    });
  });

  it('caps nothing when only rate limits apply', () => {
    expect(decideAdmission([rate(60_000, 10, 0, null)], ask())).toMatchObject({
      verdict: 'admitted',
      cap: null,
    });
  });
});

describe('rate limits', () => {
  it('refuses once used + reserved in the last minute reach the rate, retrying when the first usage ages out', () => {
    const first = new Date(NOW - 45_000).toISOString();
    const d = decideAdmission([budget(1_000_000, 0), rate(5000, 4000, 1000, first)], ask());
    expect(d).toMatchObject({ verdict: 'rate', retryAfter: 15 });
    expect(decideAdmission([rate(5000, 4000, 999, first)], ask())).toMatchObject({
      verdict: 'admitted',
    });
  });

  it('retries after at least a second, and shortly when only reservations fill the window', () => {
    expect(rateRetryAfter(rate(10, 10, 0, new Date(NOW - 60_000).toISOString()), NOW)).toBe(1);
    expect(rateRetryAfter(rate(10, 0, 10, null), NOW)).toBe(2);
  });

  it('an exhausted budget is reported as exhausted, not as a rate limit', () => {
    const first = new Date(NOW - 1000).toISOString();
    expect(decideAdmission([budget(100, 100), rate(10, 10, 0, first)], ask())).toMatchObject({
      verdict: 'exhausted',
    });
  });
});

const anthropic = (body: string): ReturnType<typeof parseBody> => parseBody(Buffer.from(body));

function capped(api: Parameters<typeof cappedBody>[0], body: string, cap: number): unknown {
  const r = cappedBody(api, parseBody(Buffer.from(body)), cap);
  if (r.kind !== 'capped') throw new Error(`not capped: ${r.kind}`);
  return JSON.parse(r.body.toString('utf8'));
}

describe('writing the granted cap into the request', () => {
  const msgs = '"messages":[{"role":"user","content":"hi"}]';

  it('reads the cap and input of a request, and writes the granted cap', () => {
    const p = anthropic(`{"model":"m","max_tokens":64000,${msgs}}`);
    if (!p.ok) throw new Error(p.why);
    expect(capAsk('anthropic-messages', p.json)).toMatchObject({ cap: 64000, minCap: 1 });
    expect(capAsk('anthropic-messages', p.json).input).toBeGreaterThan(0);
    const c = applyCap('anthropic-messages', p.json, 8800);
    expect(c.change).toBe('max_tokens 64000 -> 8800');
    expect(JSON.parse(c.body.toString())).toMatchObject({ max_tokens: 8800 });
  });

  it('collapses duplicate cap keys to the one written', () => {
    const body = `{"max_tokens":10,"model":"m",${msgs},"max_tokens":64000}`;
    const p = anthropic(body);
    if (!p.ok) throw new Error(p.why);
    // JSON.parse keeps the last: that is the cap read and the one replaced.
    expect(capAsk('anthropic-messages', p.json).cap).toBe(64000);
    const out = cappedBody('anthropic-messages', p, 900);
    if (out.kind !== 'capped') throw new Error('not capped');
    const text = out.body.toString('utf8');
    expect(text.match(/max_tokens/g)).toHaveLength(1);
    expect(JSON.parse(text)).toMatchObject({ max_tokens: 900 });
  });

  it('reads escaped key names as the upstream would, and writes them plain', () => {
    const body = `{"model":"m","max\\u005ftokens":64000,${msgs}}`;
    const p = anthropic(body);
    if (!p.ok) throw new Error(p.why);
    expect(capAsk('anthropic-messages', p.json).cap).toBe(64000);
    const text = JSON.stringify(capped('anthropic-messages', body, 700));
    expect(text).toContain('"max_tokens":700');
    expect(text).not.toContain('\\u');
  });

  it.each([
    ['a string', '"64000"'],
    ['a negative number', '-5'],
    ['zero', '0'],
    ['null', 'null'],
    ['an object', '{"n":64000}'],
  ])('replaces a cap given as %s with the granted number', (_what, value) => {
    const body = `{"model":"m","max_tokens":${value},${msgs}}`;
    const p = anthropic(body);
    if (!p.ok) throw new Error(p.why);
    expect(capAsk('anthropic-messages', p.json).cap).toBeNull();
    expect(capped('anthropic-messages', body, 500)).toMatchObject({ max_tokens: 500 });
  });

  it('rounds a fractional cap down and bounds a huge one', () => {
    const f = anthropic(`{"max_tokens":1000.9,${msgs}}`);
    const h = anthropic(`{"max_tokens":1e308,${msgs}}`);
    if (!f.ok || !h.ok) throw new Error('unparsed');
    expect(capAsk('anthropic-messages', f.json).cap).toBe(1000);
    expect(capAsk('anthropic-messages', h.json).cap).toBe(Number.MAX_SAFE_INTEGER);
    expect(capped('anthropic-messages', `{"max_tokens":1e308,${msgs}}`, 4096)).toMatchObject({
      max_tokens: 4096,
    });
    // Infinity is not JSON; 1e999 parses to it and counts as no cap.
    const inf = anthropic(`{"max_tokens":1e999,${msgs}}`);
    expect(inf.ok && capAsk('anthropic-messages', inf.json).cap).toBeNull();
  });

  it('keeps a thinking budget below the lowered max_tokens and at least 1024', () => {
    const body = `{"max_tokens":32000,"thinking":{"type":"enabled","budget_tokens":16000},${msgs}}`;
    const p = anthropic(body);
    if (!p.ok) throw new Error(p.why);
    expect(capAsk('anthropic-messages', p.json).minCap).toBe(1025);
    const c = applyCap('anthropic-messages', p.json, 5000);
    expect(c.change).toBe('max_tokens 32000 -> 5000, thinking.budget_tokens 16000 -> 4999');
    expect(JSON.parse(c.body.toString())).toMatchObject({
      max_tokens: 5000,
      thinking: { type: 'enabled', budget_tokens: 4999 },
    });
    // A budget already below the cap stays.
    expect(capped('anthropic-messages', body.replace('16000', '2000'), 5000)).toMatchObject({
      thinking: { budget_tokens: 2000 },
    });
  });

  it('adds max_output_tokens to a Responses request without one, and on a WebSocket response.create', () => {
    const body = '{"model":"gpt","input":[{"role":"user","content":"hi"}]}';
    expect(capped('openai-responses', body, 3000)).toMatchObject({ max_output_tokens: 3000 });
    const p = parseBody(
      Buffer.from(
        '{"type":"response.create","response":{"model":"gpt","max_output_tokens":90000}}',
      ),
    );
    if (!p.ok) throw new Error(p.why);
    expect(capAsk('openai-responses', p.json, true).cap).toBe(90000);
    const c = applyCap('openai-responses', p.json, 3000, true);
    expect(c.change).toBe('max_output_tokens 90000 -> 3000');
    expect(JSON.parse(c.body.toString())).toEqual({
      type: 'response.create',
      response: { model: 'gpt', max_output_tokens: 3000 },
    });
  });

  it('writes both cap fields of Chat Completions when both are present, and max_completion_tokens when none', () => {
    expect(
      capped('openai-chat', '{"max_tokens":9000,"max_completion_tokens":8000,"messages":[]}', 100),
    ).toMatchObject({ max_tokens: 100, max_completion_tokens: 100 });
    expect(capped('openai-chat', '{"messages":[]}', 100)).toEqual({
      messages: [],
      max_completion_tokens: 100,
    });
  });

  it('refuses a body that cannot be parsed while a cap is in force, saying why', () => {
    const r = cappedBody('anthropic-messages', parseBody(Buffer.from('{"max_tokens": 5')), 900);
    expect(r.kind).toBe('refuse');
    const v = r as Refuse;
    expect(v.rule).toBe('budget-uncappable');
    expect(v.why).toMatch(
      /^the request body cannot be read as JSON \(it is not JSON .*\), so its output cap cannot be lowered to what the budget has left/,
    );
    expect(JSON.parse(v.shaped?.body ?? '{}')).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error' },
    });
    const arr = cappedBody('openai-responses', parseBody(Buffer.from('[1,2]')), 900) as Refuse;
    expect(arr.why).toContain('it is JSON but not an object');
    // Without a cap nothing needs to be read.
    expect(cappedBody('anthropic-messages', parseBody(Buffer.from('garbage')), null)).toEqual({
      kind: 'pass',
    });
  });
});
