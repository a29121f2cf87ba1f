import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../../src/egress/ca.js';
import { emptyPolicy, type EgressPolicyConfig } from '../../src/egress/config.js';
import {
  LLM_BODY_LIMIT,
  llmApi,
  llmBodyVerdict,
  llmHeadVerdict,
  shapeForLlm,
} from '../../src/egress/decide/llm.js';
import { decide, refusal, type Refuse } from '../../src/egress/decide/verdict.js';
import { buildState } from '../../src/egress/state.js';
import type { ProxyState } from '../../src/egress/types.js';

/** The LLM-route verdicts of the decision core (egress.llm), from facts alone. */

const AWS = 'AKIAIOSFODNN7EXAMPLE';
const ROUTE_KEY = 'sk-ant-api03-ROUTE-KEY-0123456789abcdefghijklmnopqr';
let state: (over?: Partial<EgressPolicyConfig>) => ProxyState;

beforeAll(async () => {
  const ca = await createCa('decide-llm');
  const secrets = {
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    upstreamCaPem: '',
    values: { anthropic: ROUTE_KEY },
  };
  state = (over = {}) =>
    buildState(
      {
        ...emptyPolicy('demo'),
        allow: ['api.anthropic.com'],
        routes: [
          { host: 'api.anthropic.com', headers: [{ name: 'x-api-key', secret: 'anthropic' }] },
        ],
        ...over,
      },
      secrets,
    );
});

const body = (text: string): Buffer =>
  Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: text }] }));
const shapedMessage = (v: Refuse): { type: string; error: { type: string; message: string } } =>
  JSON.parse(v.shaped?.body ?? '{}') as { type: string; error: { type: string; message: string } };

describe('LLM route decisions', () => {
  it('names the LLM calls the same way metering does', () => {
    expect(llmApi('POST', '/v1/messages?beta=true')).toBe('anthropic-messages');
    expect(llmApi('POST', '/v1/chat/completions')).toBe('openai-chat');
    expect(llmApi('POST', '/v1/responses')).toBe('openai-responses');
    // Token counting carries the same conversation; it is not metered, but it is redacted.
    expect(llmApi('POST', '/v1/messages/count_tokens?beta=true')).toBe('anthropic-messages');
    expect(llmApi('GET', '/v1/messages/count_tokens')).toBeUndefined();
    expect(llmApi('GET', '/v1/models')).toBeUndefined();
  });

  it('redact: a clean body passes, a secret is redacted with counts', () => {
    const s = state();
    expect(
      llmBodyVerdict(s, {
        api: 'anthropic-messages',
        host: 'api.anthropic.com',
        body: body('hi'),
        encoding: undefined,
      }),
    ).toEqual({ kind: 'pass' });
    const v = llmBodyVerdict(s, {
      api: 'anthropic-messages',
      host: 'api.anthropic.com',
      body: body(`a ${AWS} and ${ROUTE_KEY}`),
      encoding: undefined,
    });
    expect(v.kind).toBe('redact');
    if (v.kind !== 'redact') return;
    expect(v.redactions).toEqual({ 'aws-access-key-id': 1, 'bottle-secret': 1 });
    expect(v.body.toString()).toContain(
      'a [REDACTED aws-access-key-id] and [REDACTED bottle-secret]',
    );
    expect(v.why).toBe('secrets redacted from the request: aws-access-key-id, bottle-secret');
  });

  it('redact: a gzip body is judged decoded', () => {
    const v = llmBodyVerdict(state(), {
      api: 'openai-chat',
      host: 'api.openai.com',
      body: gzipSync(body(`k ${AWS}`)),
      encoding: 'gzip',
    });
    expect(v.kind).toBe('redact');
  });

  it('refuse and audit modes', () => {
    const refuse = llmBodyVerdict(state({ llm: 'refuse' }), {
      api: 'anthropic-messages',
      host: 'api.anthropic.com',
      body: body(AWS),
      encoding: undefined,
    });
    expect(refuse).toMatchObject({ kind: 'refuse', status: 400, rule: 'dlp aws-access-key-id' });
    expect(shapedMessage(refuse as Refuse).error.type).toBe('invalid_request_error');
    const audit = llmBodyVerdict(state({ llm: 'audit' }), {
      api: 'anthropic-messages',
      host: 'api.anthropic.com',
      body: body(AWS),
      encoding: undefined,
    });
    expect(audit).toMatchObject({ kind: 'flag', rule: 'dlp aws-access-key-id' });
  });

  it('egress.mode does not decide LLM routes: audit there still redacts', () => {
    const v = llmBodyVerdict(state({ mode: 'audit' }), {
      api: 'anthropic-messages',
      host: 'api.anthropic.com',
      body: body(AWS),
      encoding: undefined,
    });
    expect(v.kind).toBe('redact');
  });

  it('refuses in the API shape what it cannot read or redact', () => {
    const s = state();
    const cases: [string, Parameters<typeof llmBodyVerdict>[1], string][] = [
      [
        'unknown encoding',
        { api: 'anthropic-messages', host: 'api.anthropic.com', body: body(AWS), encoding: 'zstd' },
        'zstd',
      ],
      [
        'stacked encodings',
        {
          api: 'anthropic-messages',
          host: 'api.anthropic.com',
          body: gzipSync(gzipSync(body(AWS))),
          encoding: 'gzip, gzip',
        },
        "'gzip, gzip'",
      ],
      [
        'not gzip',
        {
          api: 'anthropic-messages',
          host: 'api.anthropic.com',
          body: Buffer.from('plain'),
          encoding: 'gzip',
        },
        'does not decode as gzip',
      ],
      [
        'gzip bomb',
        {
          api: 'anthropic-messages',
          host: 'api.anthropic.com',
          body: gzipSync(Buffer.alloc(LLM_BODY_LIMIT + 1024, 0x20)),
          encoding: 'gzip',
        },
        'does not decode as gzip within 32 MiB',
      ],
      [
        'split secret',
        {
          api: 'anthropic-messages',
          host: 'api.anthropic.com',
          body: Buffer.from(
            JSON.stringify({ content: [{ text: AWS.slice(0, 8) }, { text: AWS.slice(8) }] }),
          ),
          encoding: undefined,
        },
        'cannot be redacted in place',
      ],
    ];
    for (const [name, facts, says] of cases) {
      const v = llmBodyVerdict(s, facts);
      expect(v.kind, name).toBe('refuse');
      const r = v as Refuse;
      expect(r.status, name).toBe(400);
      expect(shapedMessage(r).error.message, name).toContain(says);
    }
    const big = llmBodyVerdict(s, {
      api: 'openai-chat',
      host: 'api.anthropic.com',
      body: undefined,
      encoding: undefined,
    });
    expect(big).toMatchObject({ kind: 'refuse', status: 413, rule: 'llm-body-too-large' });
    expect(JSON.parse((big as Refuse).shaped?.body ?? '')).toMatchObject({
      error: { type: 'invalid_request_error', code: 'request_too_large' },
    });
  });

  it('URL and header findings: refused (API shape) unless audit', () => {
    const findings = [{ kind: 'stripe-key', where: 'header x-note' }];
    expect(llmHeadVerdict(state(), { api: 'anthropic-messages', findings: [] })).toEqual({
      kind: 'pass',
    });
    const v = llmHeadVerdict(state(), { api: 'anthropic-messages', findings });
    expect(v).toMatchObject({ kind: 'refuse', status: 400 });
    expect(shapedMessage(v as Refuse).error.message).toContain('URL or headers');
    expect(
      llmHeadVerdict(state({ llm: 'audit' }), { api: 'anthropic-messages', findings }),
    ).toMatchObject({ kind: 'flag' });
  });

  it('a thrown check or a missing policy on an LLM route is still a refusal, in the API shape', () => {
    const thrown = decide('llm-body', state, { x: 1 }, () => {
      throw new Error('boom');
    });
    expect(thrown.kind).toBe('refuse');
    const shaped = shapeForLlm('anthropic-messages', thrown);
    expect(shaped.shaped?.status).toBe(400);
    expect(shapedMessage(shaped).error.message).toContain('boom');
    const none = decide(
      'llm-body',
      () => undefined,
      {},
      () => ({ kind: 'pass' as const }),
    );
    const s = shapeForLlm('openai-responses', none as Refuse);
    expect(JSON.parse(s.shaped?.body ?? '')).toMatchObject({ error: { type: 'server_error' } });
    // An already shaped refusal is kept as it is.
    const budget = {
      ...refusal('budget-exhausted', 'used up', 429),
      shaped: { status: 429, headers: {}, body: 'x' },
    };
    expect(shapeForLlm('anthropic-messages', budget)).toBe(budget);
  });
});
