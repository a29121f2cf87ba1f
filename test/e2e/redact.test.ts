import { randomInt } from 'node:crypto';
import { expect, it } from 'vitest';
import { bottleRepo, leftovers, runBin, useFakeUpstream } from '../helpers/bottle-repo.js';
import { describeDocker } from '../helpers/docker.js';

const pick = (alphabet: string, n: number): string =>
  Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join('');
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * DESIGN 4b with the real Claude Code CLI: the agent reads a file holding
 * test keys, and its next call to its own LLM API carries them. The proxy
 * redacts them on the way out, so the session goes on to its end instead of
 * dying on a refusal, and the upstream never sees either value. The keys
 * are made up for each run in the shapes of a real AWS access key id and a
 * Stripe live secret key.
 */
describeDocker('secrets in the LLM conversation are redacted, not refused', () => {
  const upstream = useFakeUpstream();

  it('claude reads a file with an AWS key id and a Stripe live key; the session ends normally', async () => {
    const aws = `AKIA${pick(UPPER_DIGITS, 16)}`;
    const stripe = `sk_live_51${pick(ALNUM, 22)}${pick(ALNUM, 73)}`;
    const fx = bottleRepo(upstream().port, {
      repo: {
        'config/test.env': `AWS_ACCESS_KEY_ID=${aws}\nSTRIPE_SECRET_KEY=${stripe}\n`,
      },
    });
    const before = upstream().requests.length;
    try {
      const r = await runBin(fx, [
        'start',
        'claude',
        '--headless',
        '--prompt',
        'RUN: cat config/test.env',
        '--label',
        'e2e-redact',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('ended (agent exit 0)');
      const record = JSON.parse(r.stdout) as {
        output: string;
        slug: string;
        identity: string;
        redactions: Record<string, number>;
      };
      // The upstream's answer to the tool result it received: the first line, redacted.
      expect(record.output).toContain('done: AWS_ACCESS_KEY_ID=[REDACTED aws-access-key-id]');
      expect(record.redactions['aws-access-key-id']).toBeGreaterThanOrEqual(1);
      expect(record.redactions['stripe-key']).toBeGreaterThanOrEqual(1);
      expect(r.stderr).toContain('secrets redacted from its LLM requests');

      const seen = upstream().requests.slice(before);
      const sent = JSON.stringify(seen.map((q) => q.body));
      expect(sent).not.toContain(aws);
      expect(sent).not.toContain(stripe);
      expect(sent).not.toContain(aws.slice(4));
      expect(sent).not.toContain(stripe.slice(8));
      expect(sent).toContain('AWS_ACCESS_KEY_ID=[REDACTED aws-access-key-id]');
      expect(sent).toContain('STRIPE_SECRET_KEY=[REDACTED stripe-key]');

      const log = await runBin(fx, ['egress', 'log', record.identity, '--json']);
      expect(log.code, log.stderr).toBe(0);
      expect(log.stdout).not.toContain(aws);
      expect(log.stdout).not.toContain(stripe);
      const redacted = log.stdout
        .split('\n')
        .filter((l) => l.includes('"verdict":"redacted"'))
        .map((l) => JSON.parse(l) as { host: string; redactions: Record<string, number> });
      expect(redacted.length).toBeGreaterThan(0);
      expect(redacted[0]?.host).toBe('api.anthropic.com');
      expect(redacted.some((e) => e.redactions['aws-access-key-id'] === 1)).toBe(true);
      expect(redacted.some((e) => e.redactions['stripe-key'] === 1)).toBe(true);
      const readable = await runBin(fx, ['egress', 'log', record.identity]);
      expect(readable.stdout).toMatch(/REDACTED .* - redacted aws-access-key-id, stripe-key/);
      expect(leftovers(record.slug)).toBe('');
      expect((await runBin(fx, ['rm', record.identity])).code).toBe(0);
    } finally {
      fx.cleanup();
    }
  });

  it('codex over its Responses WebSocket: a key in the prompt is redacted, the answer arrives', async () => {
    const aws = `AKIA${pick(UPPER_DIGITS, 16)}`;
    const fx = bottleRepo(upstream().port);
    const before = upstream().requests.length;
    try {
      const r = await runBin(fx, [
        'start',
        'codex',
        '--headless',
        '--prompt',
        `remember the deploy key ${aws} and say hi`,
        '--label',
        'e2e-redact-codex',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const record = JSON.parse(r.stdout) as {
        output: string;
        identity: string;
        redactions: Record<string, number>;
      };
      expect(record.output).toContain('hello from the fake upstream');
      expect(record.redactions['aws-access-key-id']).toBeGreaterThanOrEqual(1);
      const seen = upstream().requests.slice(before);
      expect(seen.some((q) => q.transport === 'websocket')).toBe(true);
      const sent = JSON.stringify(seen.map((q) => q.body));
      expect(sent).not.toContain(aws);
      expect(sent).toContain('[REDACTED aws-access-key-id]');
      const log = await runBin(fx, ['egress', 'log', record.identity, '--json']);
      expect(log.stdout).not.toContain(aws);
      expect(log.stdout).toMatch(/"kind":"websocket".*"verdict":"redacted"/);
      expect((await runBin(fx, ['rm', record.identity])).code).toBe(0);
    } finally {
      fx.cleanup();
    }
  });
});
