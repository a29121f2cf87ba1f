import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CookieLedger } from '../src/egress/cookies.js';
import { SECRET_PATTERNS } from '../src/egress/dlp-patterns.js';
import { Scanner } from '../src/egress/dlp.js';
import { runThroughProxy, type ProxyCase, type Verdict } from './proxy-cases.js';

/**
 * The scanner on traffic it was not written against: held-out attacks for
 * each class of detector (bench/scanner-cases/held-out-attacks.json, written
 * before the detectors were tuned; held-out-attacks-2.json, written after
 * the first tuning round and not tuned on) and a benign sample of a coding agent's
 * ordinary traffic (bench/scanner-cases/benign.json, built by
 * make-benign.mjs: package registries, git smart-HTTP, LLM API calls,
 * docs, DNS-over-HTTPS, telemetry). Requests go through the real proxy; the
 * cookie cases go through the cookie ledger, which the proxy feeds.
 */

interface JsonCase {
  id: string;
  class: string;
  transport?: 'websocket';
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  frames?: string[];
}
interface CookieCases {
  setBy: { host: string; setCookie: string[] };
  cases: { id: string; host: string; texts: string[] }[];
}

const DIR = join(import.meta.dirname, 'scanner-cases');
const load = (name: string): unknown => JSON.parse(readFileSync(join(DIR, name), 'utf8'));

function toProxyCase(c: JsonCase): ProxyCase {
  return {
    id: c.id,
    transport: c.transport === 'websocket' ? 'websocket' : 'http',
    url: c.url,
    ...(c.method === undefined ? {} : { method: c.method }),
    ...(c.headers === undefined ? {} : { headers: c.headers }),
    ...(c.body === undefined ? {} : { body: c.body }),
    ...(c.frames === undefined
      ? {}
      : { frames: c.frames.map((payload) => ({ opcode: 'text' as const, payload })) }),
  };
}

/** What the scanner says about a case on its own (for the report of misses and false blocks). */
function why(c: JsonCase): string {
  const s = new Scanner([]);
  const u = new URL(c.url);
  const f = [
    ...s.scanUrl(u.hostname, `${u.pathname}${u.search}`),
    ...s.scanHeaders(c.headers ?? {}, new Set()),
    ...(c.body === undefined ? [] : s.scanText(c.body, 'body')),
    ...(c.frames ?? []).flatMap((t) => s.scanText(t, 'websocket message')),
  ];
  return f.map((x) => `${x.kind} in ${x.where}`).join('; ') || 'no finding';
}

function table(
  cases: readonly JsonCase[],
  verdicts: Map<string, Verdict>,
  want: Verdict,
): { lines: string[]; hits: number } {
  const byClass = new Map<string, { n: number; hit: number }>();
  const notes: string[] = [];
  for (const c of cases) {
    const row = byClass.get(c.class) ?? { n: 0, hit: 0 };
    row.n++;
    if (verdicts.get(c.id) === want) row.hit++;
    else notes.push(`- ${want === 'block' ? 'missed' : 'false block'} ${c.id}: ${why(c)}`);
    byClass.set(c.class, row);
  }
  const hits = [...byClass.values()].reduce((a, r) => a + r.hit, 0);
  const label = want === 'block' ? 'blocked' : 'passed';
  return {
    hits,
    lines: [
      `| class | cases | ${label} |`,
      '| --- | --- | --- |',
      ...[...byClass].sort().map(([k, r]) => `| ${k} | ${r.n} | ${r.hit} |`),
      `| **all** | ${cases.length} | ${hits} (${((100 * hits) / cases.length).toFixed(1)}%) |`,
      ...notes,
    ],
  };
}

it('blocks held-out attacks and passes a benign sample', async () => {
  const attacks = load('held-out-attacks.json') as { requests: JsonCase[]; cookies: CookieCases };
  const second = (load('held-out-attacks-2.json') as { requests: JsonCase[] }).requests;
  const benign = (load('benign.json') as { requests: JsonCase[] }).requests;
  const verdicts = await runThroughProxy(
    [...attacks.requests, ...second, ...benign].map(toProxyCase),
  );

  const ledger = new CookieLedger();
  ledger.observeResponse(attacks.cookies.setBy.host, attacks.cookies.setBy.setCookie);
  const cookieCases: JsonCase[] = attacks.cookies.cases.map((c) => {
    verdicts.set(c.id, ledger.check(c.host, c.texts).length > 0 ? 'block' : 'allow');
    return { id: c.id, class: 'cross-site-cookie (ledger)', url: `https://${c.host}/` };
  });

  const a = table([...attacks.requests, ...cookieCases], verdicts, 'block');
  const a2 = table(second, verdicts, 'block');
  const b = table(benign, verdicts, 'allow');
  process.stdout.write(
    `\nheld-out attacks\n${a.lines.join('\n')}\n\nsecond held-out set\n${a2.lines.join('\n')}` +
      `\n\nbenign sample\n${b.lines.join('\n')}\n`,
  );
  expect(b.hits).toBe(benign.length);
});

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

it('scans ordinary bodies at a cost near the known-format patterns alone', () => {
  const benign = (load('benign.json') as { requests: JsonCase[] }).requests;
  const bodies = benign.flatMap((c) => (c.body === undefined ? [] : [c.body]));
  const bytes = bodies.reduce((n, b) => n + b.length, 0);
  const scanner = new Scanner(['my-bottle-secret-value-123']);
  const runs = Number(process.env.BENCH_RUNS ?? 15);
  const time = (f: () => void): number => {
    f();
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      f();
      xs.push(performance.now() - t);
    }
    return median(xs);
  };
  // Baseline: every known-format pattern once over each body as sent, nothing decoded.
  const base = time(() => {
    for (const b of bodies) for (const p of SECRET_PATTERNS) p.re.exec(b);
  });
  const full = time(() => {
    for (const b of bodies) scanner.scanText(b, 'body');
  });
  const perMiB = (ms: number): string => ((ms * 1024 * 1024) / bytes).toFixed(0);
  const N = 2 * 1024 * 1024;
  const rep = (u: string): string => u.repeat(Math.ceil(N / u.length)).slice(0, N);
  const adversarial: Record<string, string> = {
    'one letter': rep('a'),
    'a.a.a.': rep('a.'),
    backslashes: rep('\\'),
    'hex values on one line': rep(`${'0123456789abcdef'.repeat(4)} `),
    'list words': rep('abandon '),
    'wrapped base64': Buffer.alloc((N * 3) / 4, 7)
      .toString('base64')
      .replace(/(.{76})/g, '$1\n'),
    entities: rep('&amp;#'),
    'percent signs': rep('%25'),
  };
  const adv = Object.entries(adversarial).map(([k, v]) => {
    const t = performance.now();
    scanner.scanText(v, 'body');
    return `| ${k} | ${(performance.now() - t).toFixed(0)} |`;
  });
  process.stdout.write(
    `\nscanner speed: ${bodies.length} benign bodies, ${(bytes / 1024).toFixed(0)} KiB, median of ${runs}\n` +
      `| what | ms per pass | ms per MiB | ratio |\n| --- | --- | --- | --- |\n` +
      `| known-format patterns only (baseline) | ${base.toFixed(1)} | ${perMiB(base)} | 1 |\n` +
      `| full scanner (decoding, all detectors) | ${full.toFixed(1)} | ${perMiB(full)} | ${(full / base).toFixed(1)}x |\n` +
      `\n2 MiB adversarial inputs, one scan each\n| input | ms |\n| --- | --- |\n${adv.join('\n')}\n`,
  );
  expect(full).toBeGreaterThan(0);
});
