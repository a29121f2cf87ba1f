import { describe, expect, it } from 'vitest';
import { countBody, countPath, parseCount } from '../../src/egress/count.js';

describe('count request', () => {
  it('sends only the input fields of an Anthropic Messages request', () => {
    const body = countBody('anthropic-messages', {
      model: 'claude-sonnet-4-5',
      max_tokens: 64000,
      stream: true,
      metadata: { user_id: 'u' },
      temperature: 1,
      system: 's',
      messages: [{ role: 'user', content: '[REDACTED:aws-access-key-id]' }],
      tools: [],
      tool_choice: { type: 'auto' },
      thinking: { type: 'enabled', budget_tokens: 2048 },
    });
    expect(JSON.parse(body?.toString() ?? '')).toEqual({
      model: 'claude-sonnet-4-5',
      system: 's',
      messages: [{ role: 'user', content: '[REDACTED:aws-access-key-id]' }],
      tools: [],
      tool_choice: { type: 'auto' },
      thinking: { type: 'enabled', budget_tokens: 2048 },
    });
  });

  it('sends only the input fields of a Responses request, and nothing for Chat Completions', () => {
    const body = countBody('openai-responses', {
      model: 'gpt-5',
      input: 'hi',
      instructions: 'be brief',
      max_output_tokens: 100,
      stream: true,
      store: false,
      include: ['reasoning.encrypted_content'],
    });
    expect(JSON.parse(body?.toString() ?? '')).toEqual({
      model: 'gpt-5',
      input: 'hi',
      instructions: 'be brief',
    });
    expect(countBody('openai-chat', { model: 'm', messages: [] })).toBeUndefined();
  });

  it('names the count endpoint beside the call, keeping its prefix and query', () => {
    expect(countPath('anthropic-messages', '/v1/messages?beta=true')).toBe(
      '/v1/messages/count_tokens?beta=true',
    );
    expect(countPath('openai-responses', '/openai/v1/responses')).toBe(
      '/openai/v1/responses/input_tokens',
    );
    expect(countPath('openai-responses', '/backend-api/codex/responses')).toBeUndefined();
    expect(countPath('openai-chat', '/v1/chat/completions')).toBeUndefined();
  });
});

describe('count answer', () => {
  it('believes a whole count no larger than ten times the local estimate', () => {
    expect(parseCount('anthropic-messages', 200, '{"input_tokens": 812}', 1000)).toEqual({
      ok: true,
      tokens: 812,
    });
    expect(
      parseCount(
        'openai-responses',
        200,
        '{"object":"response.input_tokens","input_tokens":0}',
        10,
      ),
    ).toEqual({ ok: true, tokens: 0 });
  });

  it.each([
    [500, '{"input_tokens": 5}', 'the count endpoint answered 500'],
    [200, 'not json', 'the count endpoint answered something other than JSON'],
    [200, '{"input_tokens": 5.5}', 'the count endpoint answered no whole input_tokens'],
    [200, '{"input_tokens": "5"}', 'the count endpoint answered no whole input_tokens'],
    [200, '{"input_tokens": -1}', 'the count endpoint answered a negative count (-1)'],
    [
      200,
      '{"input_tokens": 10001}',
      'the count endpoint answered 10001, over 10x the local estimate 1000',
    ],
  ])('rejects status %i with %s', (status, text, why) => {
    expect(parseCount('anthropic-messages', status, text, 1000)).toEqual({ ok: false, why });
  });

  it('rejects a Responses answer without its object type', () => {
    expect(parseCount('openai-responses', 200, '{"input_tokens": 5}', 1000)).toEqual({
      ok: false,
      why: 'the count endpoint answered without object response.input_tokens',
    });
  });
});
