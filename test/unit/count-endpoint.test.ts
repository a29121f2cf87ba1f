import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/egress/audit.js';
import { createCa, type CaMaterial } from '../../src/egress/ca.js';
import { emptyPolicy, type InputCount } from '../../src/egress/config.js';
import { createEgressProxy, type ProxyState } from '../../src/egress/proxy.js';
import { buildState } from '../../src/egress/state.js';
import { startControlServer, type ControlServer } from '../../src/controller/control-server.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import type { BottlePlan } from '../../src/plan/schema.js';
import { FAKE_CA_PATH, startFakeLlm, type FakeLlm } from '../fixtures/fake-llm.js';
import { sidecarEnd, type SidecarEnd } from '../helpers/link.js';
import { httpsVia, tlsThrough } from '../helpers/via-proxy.js';

const HOST = 'api.fake-llm.test';
const KEY = 'sk-ant-api03-the-operators-real-key';

function plan(tokens: number): BottlePlan {
  return {
    slug: 'demo',
    agent: { name: 'reviewer', provider: 'claude' },
    bottles: [{ name: 'child', chain: [{ name: 'child' }] }],
    budget: {
      provider: 'claude',
      tokens,
      scope: 'global',
      from: 'settings.yml',
      period: 'day',
      capping: { enabled: true, floor: 1024 },
      rate: { launch: null, launchFrom: null, global: null },
    },
    cutoff: { policy: 'freeze', source: 'settings', from: null },
  } as unknown as BottlePlan;
}

/**
 * `budget.count: provider` through the real proxy, its controller link and
 * a SQLite ledger, against the fake upstream's count endpoints.
 */
describe('admission with the provider count endpoint', () => {
  let ca: CaMaterial;
  let home: string;
  let fake: FakeLlm | undefined;
  let proxy: Server | undefined;
  let state: ProxyState | undefined;
  let control: ControlServer | undefined;
  let end: SidecarEnd | undefined;
  let ledger: SqliteLedger | undefined;
  const log: AuditEntry[] = [];

  beforeAll(async () => {
    ca = await createCa('demo');
  });
  afterEach(async () => {
    proxy?.close();
    state?.upstream.close();
    await end?.close();
    await control?.close();
    await fake?.close();
    await ledger?.close();
    rmSync(home, { recursive: true, force: true });
    log.length = 0;
  });

  const up = async (
    count: InputCount,
    tokens: number,
    fakeCount: 'ok' | 'fail' | 'hang' | 'absurd' = 'ok',
  ): Promise<number> => {
    home = mkdtempSync(join(tmpdir(), 'bb-count-'));
    ledger = new SqliteLedger(join(home, 'bot-bottle.db'));
    fake = await startFakeLlm({
      usage: 'counted',
      output: 20,
      count: fakeCount,
      host: '127.0.0.1',
    });
    state = buildState(
      {
        ...emptyPolicy('demo'),
        count,
        allow: [HOST],
        hosts: { [HOST]: `127.0.0.1:${fake.port}` },
        routes: [{ host: HOST, headers: [{ name: 'x-api-key', secret: 'key' }] }],
      },
      {
        caCertPem: ca.certPem,
        caKeyPem: ca.keyPem,
        upstreamCaPem: readFileSync(FAKE_CA_PATH, 'utf8'),
        values: { key: KEY },
      },
      undefined,
    );
    control = startControlServer({
      env: { BOT_BOTTLE_HOME: home },
      ledger,
      plan: plan(tokens),
      identity: 'demo-20261121-100000',
      startedAt: new Date(Date.now() - 1000).toISOString(),
      enforce: () => Promise.resolve(),
      log: () => undefined,
      pollMs: 50,
    });
    control.armed();
    end = sidecarEnd();
    const link = end.link;
    await end.linkTo(control);
    const s = state;
    proxy = createEgressProxy({ state: () => s, log: (e) => log.push(e), admit: link.admit });
    await new Promise<void>((r) => proxy?.listen(0, '127.0.0.1', r));
    return (proxy.address() as AddressInfo).port;
  };
  const call = (port: number, path: string, body: unknown) =>
    httpsVia(port, `https://${HOST}${path}`, ca.certPem, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': 'placeholder',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify(body),
    });
  const rows = (): { input_estimate: number; cap_granted: number }[] => {
    const raw = new Database(join(home, 'bot-bottle.db'), { readonly: true });
    try {
      return raw
        .prepare('SELECT input_estimate, cap_granted FROM usage_events ORDER BY id')
        .all() as { input_estimate: number; cap_granted: number }[];
    } finally {
      raw.close();
    }
  };
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 200));
  const messages = {
    model: 'claude-sonnet-4-5',
    max_tokens: 64000,
    stream: true,
    metadata: { user_id: 'u1' },
    system: 'You are a careful reviewer of shell scripts and their quoting.',
    tools: [{ name: 'bash', description: 'run a command', input_schema: { type: 'object' } }],
    messages: [
      {
        role: 'user',
        content: 'list the files, the key is AKIAIOSFODNN7EXAMPLE, then summarise each one',
      },
    ],
  };

  it('admits on the count the upstream gave, with its injected key, and grants R - I exactly', async () => {
    const limit = 6000;
    const port = await up('provider', limit);
    expect((await call(port, '/v1/messages', messages)).status).toBe(200);
    await settle();
    const counts = fake?.requests.filter((r) => r.path === '/v1/messages/count_tokens') ?? [];
    expect(counts).toHaveLength(1);
    const c = counts[0];
    expect(c?.headers['x-api-key']).toBe(KEY);
    expect(c?.headers['anthropic-version']).toBe('2023-06-01');
    // Only the input fields, from the redacted body: no cap, stream flag, metadata or secret.
    const sentBody = c?.body as Record<string, unknown>;
    expect(Object.keys(sentBody).sort()).toEqual(['messages', 'model', 'system', 'tools']);
    expect(JSON.stringify(sentBody)).not.toContain('AKIAIOSFODNN7EXAMPLE');
    const main = fake?.requests.find((r) => r.path === '/v1/messages');
    const counted = main?.usage?.input_tokens ?? -1;
    expect(counted).toBeGreaterThan(0);
    const [row] = rows();
    expect(row?.input_estimate).toBe(counted);
    expect(row?.cap_granted).toBe(limit - counted);
    expect(main?.cap).toBe(limit - counted);
    expect(log.find((l) => l.path === '/v1/messages')?.input).toEqual({
      source: 'count',
      tokens: counted,
    });
  });

  it('counts a Responses call on /v1/responses/input_tokens', async () => {
    const port = await up('provider', 50_000);
    const r = await call(port, '/v1/responses', {
      model: 'gpt-5',
      instructions: 'be brief',
      input: 'list the files',
      max_output_tokens: 1000,
      store: false,
    });
    expect(r.status).toBe(200);
    await settle();
    const c = fake?.requests.find((q) => q.path === '/v1/responses/input_tokens');
    expect(c?.body).toEqual({ model: 'gpt-5', instructions: 'be brief', input: 'list the files' });
    const main = fake?.requests.find((q) => q.path === '/v1/responses');
    expect(rows()[0]?.input_estimate).toBe(main?.usage?.input_tokens);
  });

  it.each(['fail', 'hang', 'absurd'] as const)(
    'falls back to the local estimate and logs why when the count endpoint answers %s',
    async (mode) => {
      const limit = 50_000;
      const port = await up('provider', limit, mode);
      const started = Date.now();
      expect((await call(port, '/v1/messages', messages)).status).toBe(200);
      await settle();
      if (mode === 'hang') expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
      const entry = log.find((l) => l.path === '/v1/messages');
      expect(entry?.input?.source).toBe('estimate');
      expect(entry?.input?.why).toMatch(
        mode === 'fail' ? /answered 500/ : mode === 'hang' ? /within 3000 ms/ : /negative count/,
      );
      const main = fake?.requests.find((r) => r.path === '/v1/messages');
      const [row] = rows();
      // The local estimate: never less than what the upstream counted.
      expect(row?.input_estimate).toBe(entry?.input?.tokens);
      expect(row?.input_estimate).toBeGreaterThan(main?.usage?.input_tokens ?? Infinity);
      expect(row?.cap_granted).toBe(limit - (row?.input_estimate ?? 0));
    },
    10_000,
  );

  it('sends nothing when the agent hangs up while its input is counted', async () => {
    const port = await up('provider', 50_000, 'hang');
    const sock = await tlsThrough(port, HOST, 443, ca.certPem);
    const body = JSON.stringify(messages);
    sock.write(
      `POST /v1/messages HTTP/1.1\r\nHost: ${HOST}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await fake?.waitForRequest('/v1/messages/count_tokens');
    sock.destroy();
    await new Promise((r) => setTimeout(r, 3300));
    expect(fake?.requests.map((r) => r.path)).toEqual(['/v1/messages/count_tokens']);
    expect(log.find((l) => l.path === '/v1/messages')?.reason).toBe(
      'the agent closed the connection while its input was counted; nothing was sent',
    );
    expect(rows()).toEqual([]);
  }, 10_000);

  it('asks no count endpoint while counting is off', async () => {
    const port = await up('estimate', 50_000);
    expect((await call(port, '/v1/messages', messages)).status).toBe(200);
    await settle();
    expect(fake?.requests.map((r) => r.path)).toEqual(['/v1/messages']);
    expect(log.find((l) => l.path === '/v1/messages')?.input).toBeUndefined();
  });
});
