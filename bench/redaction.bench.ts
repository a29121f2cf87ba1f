import { performance } from 'node:perf_hooks';
import { expect, it } from 'vitest';
import { Scanner } from '../src/egress/dlp.js';
import { redactBody } from '../src/egress/redact.js';

/**
 * What redaction costs on an LLM request: a 1 MiB Anthropic Messages body
 * (a conversation of tool results holding source code and logs) with ten
 * secrets spread through it, against the same body with none. The scanner
 * alone on the clean body (what a non-LLM host's body costs) is printed
 * too, as the floor.
 */

const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const SECRETS = [
  'AKIAZ3MHQ7K2XVRP4N5T',
  'sk_live_51NzQk2LmP8vRtY6wXcB3dF9gH1jK4sA7eU0iO5pZqWxRy',
  'ghp_9fK2mQ7xLp4RtZ8wVb3Nc6Yd1Hs5Ja0GkE2u',
  'xoxb-2931847561-8273645192-Zk3Lm9Qp2Xr7Wt5Yv1Bn',
  'glpat-Xq8Rk2Lm9Zp4Wt7Vb3Nc',
  'AIzaSyD8kL2mQ9xRt4Zp7Wv3Nb6Yc1Hs5Ja0GkE',
  'npm_Zk3Lm9Qp2Xr7Wt5Yv1Bn8Hs4Ja6Gc0Df2EkQ',
  'AKIAQ7W2ERT5YUI3OPLK',
  'hf_Zk3Lm9Qp2Xr7Wt5Yv1Bn8Hs4Ja6Gc0Df2EkQw',
  'sk_live_51PqRs9TuVw2XyZa3BcDe4FgHi5JkLm6NoPq7RsTu',
];

const CODE = `export function handler(req, res) {
  const user = await db.users.findOne({ id: req.params.id });
  if (!user) return res.status(404).json({ error: 'not found' });
  logger.info('served user %s in %d ms', user.id, Date.now() - started);
  return res.json({ id: user.id, name: user.name, plan: user.plan });
}
2026-11-30T12:00:01.123Z INFO  request GET /api/users/42 200 12ms
2026-11-30T12:00:01.456Z WARN  slow query users.findOne 840ms
`;

function body(findings: readonly string[]): Buffer {
  const messages: unknown[] = [];
  let size = 0;
  for (let n = 0; size < 1024 * 1024; n++) {
    const i = n / 2;
    const key =
      n % 2 === 0 && i < findings.length ? `export API_KEY_${i}=${findings[i] ?? ''}\n` : '';
    const text = `${key}${CODE.repeat(8)}`;
    const m =
      n % 2 === 0
        ? {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: `toolu_${n}`, content: text }],
          }
        : { role: 'assistant', content: [{ type: 'text', text: text.slice(0, 200) }] };
    size += JSON.stringify(m).length + 1;
    messages.push(m);
  }
  return Buffer.from(
    JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 4096, stream: true, messages }),
  );
}

function median(f: () => void): number {
  f();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? 0;
}

it('redaction of a 1 MiB LLM request: ten findings vs none', () => {
  const scanner = new Scanner(['sk-ant-api03-route-secret-0123456789abcdefghijklmnop']);
  const clean = body([]);
  const dirty = body(SECRETS);
  const check = redactBody(scanner, dirty);
  expect(check.residual).toEqual([]);
  expect(Object.values(check.redactions).reduce((a, n) => a + n, 0)).toBe(10);
  expect(redactBody(scanner, clean).body).toBe(clean);

  const scanOnly = median(() => scanner.scanText(clean.toString('latin1'), 'body'));
  const none = median(() => redactBody(scanner, clean));
  const ten = median(() => redactBody(scanner, dirty));
  console.log(
    `redaction, ${(clean.length / 1024 / 1024).toFixed(2)} MiB body, median of ${RUNS}:\n` +
      `  scanner only, clean body      ${scanOnly.toFixed(1)} ms\n` +
      `  redactBody, no findings       ${none.toFixed(1)} ms (${(none / scanOnly).toFixed(2)}x the scanner)\n` +
      `  redactBody, 10 findings       ${ten.toFixed(1)} ms\n` +
      `  ratio 10 findings / none      ${(ten / none).toFixed(2)}x`,
  );
});
