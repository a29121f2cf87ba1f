import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runThroughProxy, type ProxyCase, type WsFrame } from './proxy-cases.js';

/**
 * The secret scanner and private-address guard against an independent
 * corpus (bench/corpus/agent-egress-bench). Each applicable case becomes a
 * real request through the intercepting proxy to a local stub upstream
 * that answers for every host. Every case host is allowed (exact, or by a
 * `*.domain` wildcard for sub-domains, as operators write them), so what is
 * measured is the scanner, not the allowlist; the one blocklist case gets
 * its host denied, as the corpus asks.
 *
 * Applicable: transport fetch_proxy / http_proxy / websocket, and no
 * `requires` beyond what the proxy does (header, request-body and
 * WebSocket-frame scanning, TLS interception). Response scanning (prompt
 * injection in what comes back) is not something this proxy does.
 */

const CASES = join(import.meta.dirname, 'corpus', 'agent-egress-bench', 'cases');
const SUPPORTED = new Set([
  'header_scanning',
  'request_body_scanning',
  'websocket_frame_scanning',
  'tls_interception',
]);

interface Case {
  id: string;
  category: string;
  transport: string;
  expected_verdict: 'block' | 'allow';
  requires: string[];
  payload: {
    method?: string;
    url: string;
    headers?: Record<string, string>;
    body?: string;
    content_type?: string;
    response_body?: string;
    frames?: WsFrame[];
  };
}

function loadCases(): Case[] {
  return readdirSync(CASES).flatMap((dir) =>
    readdirSync(join(CASES, dir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(CASES, dir, f), 'utf8')) as Case),
  );
}

function applicable(c: Case): boolean {
  return (
    ['fetch_proxy', 'http_proxy', 'websocket'].includes(c.transport) &&
    c.requires.every((r) => SUPPORTED.has(r))
  );
}

it('scans the agent-egress-bench corpus', async () => {
  const cases = loadCases();
  const runnable = cases.filter(applicable);
  const verdicts = await runThroughProxy(
    runnable.map((c): ProxyCase => ({
      id: c.id,
      transport: c.transport === 'websocket' ? 'websocket' : 'http',
      url: c.payload.url,
      ...(c.payload.method === undefined ? {} : { method: c.payload.method }),
      headers: {
        ...c.payload.headers,
        ...(c.payload.body === undefined
          ? {}
          : { 'content-type': c.payload.content_type ?? 'text/plain' }),
      },
      ...(c.payload.body === undefined ? {} : { body: c.payload.body }),
      ...(c.payload.response_body === undefined ? {} : { responseBody: c.payload.response_body }),
      ...(c.payload.frames === undefined ? {} : { frames: c.payload.frames }),
    })),
    ['exfil-collector.example.net'],
  );

  const byCategory = new Map<
    string,
    { blockCases: number; blocked: number; allowCases: number; falseBlocks: number }
  >();
  const misses: string[] = [];
  for (const c of runnable) {
    const row = byCategory.get(c.category) ?? {
      blockCases: 0,
      blocked: 0,
      allowCases: 0,
      falseBlocks: 0,
    };
    const v = verdicts.get(c.id);
    if (c.expected_verdict === 'block') {
      row.blockCases++;
      if (v === 'block') row.blocked++;
      else misses.push(`missed ${c.id}`);
    } else {
      row.allowCases++;
      if (v === 'block') {
        row.falseBlocks++;
        misses.push(`false block ${c.id}`);
      }
    }
    byCategory.set(c.category, row);
  }
  const total = [...byCategory.values()].reduce(
    (a, r) => ({
      blockCases: a.blockCases + r.blockCases,
      blocked: a.blocked + r.blocked,
      allowCases: a.allowCases + r.allowCases,
      falseBlocks: a.falseBlocks + r.falseBlocks,
    }),
    { blockCases: 0, blocked: 0, allowCases: 0, falseBlocks: 0 },
  );
  const pct = (n: number, d: number): string => (d === 0 ? '-' : `${((100 * n) / d).toFixed(1)}%`);
  const lines = [
    `corpus: ${cases.length} cases, ${runnable.length} applicable (sha256 of ids ${createHash(
      'sha256',
    )
      .update(runnable.map((c) => c.id).join())
      .digest('hex')
      .slice(0, 12)})`,
    '| category | block cases | blocked | detection | allow cases | wrongly blocked | false-positive rate |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...[...byCategory]
      .sort()
      .map(
        ([cat, r]) =>
          `| ${cat} | ${r.blockCases} | ${r.blocked} | ${pct(r.blocked, r.blockCases)} | ${r.allowCases} | ${r.falseBlocks} | ${pct(r.falseBlocks, r.allowCases)} |`,
      ),
    `| **all** | ${total.blockCases} | ${total.blocked} | ${pct(total.blocked, total.blockCases)} | ${total.allowCases} | ${total.falseBlocks} | ${pct(total.falseBlocks, total.allowCases)} |`,
    ...misses.map((m) => `- ${m}`),
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
  expect(total.blocked / total.blockCases).toBeGreaterThanOrEqual(0.95);
  expect(total.falseBlocks).toBe(0);
});
