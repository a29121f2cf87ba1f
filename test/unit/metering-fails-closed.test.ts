import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AuditEntry } from '../../src/egress/audit.js';
import { estimateTokens } from '../../src/egress/admission.js';
import { createCa, type CaMaterial } from '../../src/egress/ca.js';
import { emptyPolicy } from '../../src/egress/config.js';
import type { ControllerLink } from '../../src/egress/controller-link.js';
import { controllerSocket, sidecarEnd, type SidecarEnd } from '../helpers/link.js';
import { createEgressProxy, type ProxyState, type UsageRecord } from '../../src/egress/proxy.js';
import { buildState } from '../../src/egress/state.js';
import { startControlServer, type ControlServer } from '../../src/controller/control-server.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import type { BottlePlan } from '../../src/plan/schema.js';
import { FAKE_CA_PATH, startFakeLlm, type FakeLlm } from '../fixtures/fake-llm.js';
import { httpsVia, tlsThrough } from '../helpers/via-proxy.js';

/** What Claude Code offers. */
const CLAUDE_CODE_AE = 'gzip, deflate, br, zstd';
const IDENTITY = 'demo-20261121-100000';

/** Only the plan fields the controller reads. */
function plan(tokens: number): BottlePlan {
  return {
    slug: 'demo',
    agent: { name: 'reviewer', provider: 'claude' },
    bottles: [{ name: 'child', chain: [{ name: 'base' }, { name: 'child' }] }],
    budget: {
      provider: 'claude',
      tokens,
      scope: 'global',
      from: 'settings.yml',
      period: 'day',
      capping: { enabled: false, floor: 1024 },
    },
    cutoff: { policy: 'cutoff', source: 'settings', from: null },
  } as unknown as BottlePlan;
}

/** Polls until `check` stops throwing (a generous deadline, not a timing assertion). */
async function eventually(check: () => Promise<void> | void): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const messages = (text: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    model: 'claude-x',
    stream: true,
    messages: [{ role: 'user', content: text }],
    ...extra,
  });

/**
 * Metering against upstreams that compress, ignore what they were offered
 * or answer garbage: the proxy on real sockets, the fake upstream, the
 * controller over a real unix socket and a real SQLite ledger. A 2xx call
 * is never free; a failed one costs nothing.
 */
describe('metering fails closed', () => {
  let home: string;
  let ca: CaMaterial;
  let proxy: Server;
  let proxyPort = 0;
  let state: ProxyState;
  let ledger: SqliteLedger;
  let control: ControlServer | undefined;
  let link: ControllerLink | undefined;
  let end: SidecarEnd | undefined;
  const log: AuditEntry[] = [];
  const records: UsageRecord[] = [];
  /** br first (the default), zstd first when offered, zstd always. */
  const fakes: Record<'plain' | 'zstdFirst' | 'zstdAlways', FakeLlm | undefined> = {
    plain: undefined,
    zstdFirst: undefined,
    zstdAlways: undefined,
  };
  const HOSTS = {
    plain: 'plain.fake-llm.test',
    zstdFirst: 'zstd-first.fake-llm.test',
    zstdAlways: 'zstd-always.fake-llm.test',
  } as const;
  const fake = (k: keyof typeof fakes): FakeLlm => {
    const f = fakes[k];
    if (f === undefined) throw new Error('fake not started');
    return f;
  };

  beforeAll(async () => {
    expect(spawnSync('zstd', ['--version']).status, 'the zstd command is installed').toBe(0);
    ca = await createCa('demo');
    fakes.plain = await startFakeLlm({ host: '127.0.0.1' });
    fakes.zstdFirst = await startFakeLlm({ host: '127.0.0.1', prefer: ['zstd', 'br', 'gzip'] });
    fakes.zstdAlways = await startFakeLlm({ host: '127.0.0.1', force: 'zstd' });
    const hosts: Record<string, string> = {};
    for (const k of Object.keys(HOSTS) as (keyof typeof HOSTS)[]) {
      hosts[HOSTS[k]] = `127.0.0.1:${fake(k).port}`;
    }
    state = buildState(
      { ...emptyPolicy('demo'), allow: Object.values(HOSTS), hosts },
      {
        caCertPem: ca.certPem,
        caKeyPem: ca.keyPem,
        upstreamCaPem: readFileSync(FAKE_CA_PATH, 'utf8'),
        values: {},
      },
      undefined,
    );
    proxy = createEgressProxy({
      state: () => state,
      log: (e) => log.push(e),
      usage: (u) => records.push(u),
      admit: (r) => (link === undefined ? Promise.reject(new Error('no link')) : link.admit(r)),
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyPort = (proxy.address() as AddressInfo).port;
  });
  afterAll(async () => {
    proxy.closeAllConnections();
    proxy.close();
    state.upstream.close();
    for (const f of Object.values(fakes)) await f?.close();
  });

  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), 'bb-meter-'));
    ledger = new SqliteLedger(join(home, 'bot-bottle.db'));
    log.length = 0;
    records.length = 0;
    for (const f of Object.values(fakes)) f?.requests.splice(0);
    await start(1_000_000);
  });
  afterEach(async () => {
    await end?.close();
    end = undefined;
    link = undefined;
    await control?.close();
    control = undefined;
    await ledger.close();
    rmSync(home, { recursive: true, force: true });
  });

  async function start(tokens: number): Promise<void> {
    control = startControlServer({
      env: { BOT_BOTTLE_HOME: home },
      ledger,
      plan: plan(tokens),
      identity: IDENTITY,
      startedAt: new Date(Date.now() - 1000).toISOString(),
      enforce: () => Promise.resolve(),
      log: () => undefined,
      pollMs: 50,
    });
    control.armed();
    end = sidecarEnd();
    link = end.link;
    await end.linkTo(control);
  }

  const call = (
    host: string,
    body: string,
    headers: Record<string, string> = { 'accept-encoding': CLAUDE_CODE_AE },
    path = '/v1/messages?beta=true',
  ) =>
    httpsVia(proxyPort, `https://${host}${path}`, ca.certPem, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  /** The call's audit entry is written once it is settled; then its reservation is gone. */
  const settled = async (n = 1): Promise<AuditEntry[]> => {
    let entries: AuditEntry[] = [];
    await eventually(async () => {
      entries = log.filter((e) => e.path.startsWith('/v1/messages') && e.kind === 'https');
      expect(entries).toHaveLength(n);
      expect(await ledger.reserved('global:claude')).toBe(0);
    });
    return entries;
  };

  it('an upstream that prefers zstd is never offered it, and every call is metered exactly', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await call(HOSTS.zstdFirst, messages('say hi'));
      expect(r.status).toBe(200);
      expect(r.headers['content-encoding']).toBe('br');
    }
    await settled(3);
    for (const q of fake('zstdFirst').requests) {
      expect(q.headers['accept-encoding']).toBe('gzip, deflate, br');
      expect(q.encoding).toBe('br');
    }
    expect(await ledger.totals({ identity: IDENTITY })).toMatchObject({
      events: 3,
      unmeteredEvents: 0,
      inputTokens: fake('zstdFirst').served.inputTokens,
      outputTokens: fake('zstdFirst').served.outputTokens,
    });
    expect(records.every((u) => !u.unmetered && !u.estimated)).toBe(true);
  });

  it('keeps the q-values of what is offered and sends identity when nothing decodable is left', async () => {
    await call(HOSTS.plain, messages('say hi'), { 'accept-encoding': 'zstd, gzip;q=0.5' });
    await call(HOSTS.plain, messages('say hi'), { 'accept-encoding': 'zstd' });
    await call(HOSTS.plain, messages('say hi'), {});
    await settled(3);
    expect(fake('plain').requests.map((q) => [q.headers['accept-encoding'], q.encoding])).toEqual([
      ['gzip;q=0.5', 'gzip'],
      ['identity', 'identity'],
      ['identity', 'identity'],
    ]);
    expect((await ledger.totals({})).unmeteredEvents).toBe(0);
  });

  it('leaves accept-encoding alone on calls that are not metered', async () => {
    await call(
      HOSTS.plain,
      '{}',
      { 'accept-encoding': CLAUDE_CODE_AE },
      '/v1/messages/count_tokens',
    );
    expect(fake('plain').requests[0]?.headers['accept-encoding']).toBe(CLAUDE_CODE_AE);
  });

  it('charges the estimate, marked unmetered, when the upstream answers zstd anyway', async () => {
    const body = messages('say hi');
    const r = await call(HOSTS.zstdAlways, body);
    // The agent offered zstd, so it gets its answer intact.
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe('zstd');
    const plain = spawnSync('zstd', ['-d', '-c', '-q'], { input: r.raw });
    expect(plain.stdout.toString('utf8')).toContain('hello from the fake upstream');
    const [entry] = await settled();
    expect(fake('zstdAlways').requests[0]?.headers['accept-encoding']).toBe('gzip, deflate, br');
    const estimate = estimateTokens(Buffer.byteLength(body));
    expect(await ledger.totals({ identity: IDENTITY })).toMatchObject({
      events: 1,
      unmeteredEvents: 1,
      inputTokens: estimate,
      outputTokens: 0,
    });
    expect(entry).toMatchObject({ status: 200, verdict: 'allowed', unmetered: true });
    expect(records).toEqual([
      expect.objectContaining({ unmetered: true, inputTokens: estimate, host: HOSTS.zstdAlways }),
    ]);
  });

  it('charges a garbled 2xx body and a stream that never states its usage', async () => {
    const garbled = messages('FAKE-GARBLE');
    const silent = messages('FAKE-NO-USAGE');
    expect((await call(HOSTS.plain, garbled)).status).toBe(200);
    // Garbage claimed as identity: nothing in it parses.
    expect((await call(HOSTS.plain, garbled, {})).status).toBe(200);
    const r = await call(HOSTS.plain, silent);
    expect(r.status).toBe(200);
    const entries = await settled(3);
    expect(fake('plain').requests.map((q) => q.encoding)).toEqual(['br', 'identity', 'br']);
    expect(entries.map((e) => e.unmetered)).toEqual([true, true, true]);
    expect(await ledger.totals({ identity: IDENTITY })).toMatchObject({
      events: 3,
      unmeteredEvents: 3,
      inputTokens:
        2 * estimateTokens(Buffer.byteLength(garbled)) + estimateTokens(Buffer.byteLength(silent)),
    });
  });

  it('releases the reservation of a call the upstream refused (4xx, 5xx): nothing charged', async () => {
    for (const status of [400, 429, 500, 529]) {
      const r = await call(HOSTS.plain, messages(`FAKE-STATUS: ${status}`));
      expect(r.status).toBe(status);
    }
    const entries = await settled(4);
    expect(entries.some((e) => e.unmetered === true)).toBe(false);
    expect(await ledger.totals({})).toMatchObject({ events: 0, tokens: 0 });
    expect(records).toEqual([]);
  });

  it('charges a call the agent hung up on after sending it whole, before any answer', async () => {
    const body = messages('FAKE-SILENT');
    const sock = await tlsThrough(proxyPort, HOSTS.plain, 443, ca.certPem);
    sock.write(
      `POST /v1/messages HTTP/1.1\r\nhost: ${HOSTS.plain}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await fake('plain').waitForRequest('/v1/messages');
    sock.destroy();
    const [entry] = await settled();
    expect(entry).toMatchObject({ status: 502 });
    expect(await ledger.totals({ identity: IDENTITY })).toMatchObject({
      events: 1,
      unmeteredEvents: 1,
      inputTokens: estimateTokens(Buffer.byteLength(body)),
    });
  });

  it('holds nothing for a call whose body never arrived whole (the agent hung up mid-upload)', async () => {
    const before = fake('plain').requests.length;
    const sock = await tlsThrough(proxyPort, HOSTS.plain, 443, ca.certPem);
    // An LLM body is held whole (up to 32 MiB, for redaction) before it is admitted.
    const declared = 9 * 1024 * 1024;
    sock.write(
      `POST /v1/messages HTTP/1.1\r\nhost: ${HOSTS.plain}\r\ncontent-type: application/json\r\n` +
        `content-length: ${declared}\r\n\r\n{"model":"m","messages":[{"role":"user","content":"`,
    );
    const chunk = 'x'.repeat(64 * 1024);
    for (let sent = 0; sent < 8.5 * 1024 * 1024; sent += chunk.length) sock.write(chunk);
    await new Promise<void>((resolve) => {
      sock.once('drain', resolve);
      if (sock.writableLength === 0) resolve();
    });
    expect(await ledger.reserved('global:claude')).toBe(0);
    sock.destroy();
    await eventually(async () => {
      expect(await ledger.reserved('global:claude')).toBe(0);
    });
    expect(await ledger.totals({})).toMatchObject({ events: 0 });
    expect(fake('plain').requests).toHaveLength(before);
  });

  it('counts an unmetered charge against every budget scope, and refuses once it used the budget up', async () => {
    await end?.close();
    await control?.close();
    const body = messages(`say hi ${'x'.repeat(400)}`);
    const estimate = estimateTokens(Buffer.byteLength(body));
    await start(estimate - 10);
    expect((await call(HOSTS.zstdAlways, body)).status).toBe(200);
    await settled();
    for (const filter of [
      { provider: 'claude' as const },
      { provider: 'claude' as const, agent: 'reviewer' },
      { provider: 'claude' as const, bottle: 'base' },
      { identity: IDENTITY, since: new Date(Date.now() - 60_000).toISOString() },
    ]) {
      expect(await ledger.used(filter), JSON.stringify(filter)).toBe(estimate);
    }
    const refused = await call(HOSTS.zstdAlways, body);
    expect(refused.status).toBe(429);
    expect(refused.body).toContain(`(${estimate} used)`);
    expect(fake('zstdAlways').requests).toHaveLength(1);
  });

  it('charges a Responses WebSocket call that ends before its usage', async () => {
    const sock = await tlsThrough(proxyPort, HOSTS.plain, 443, ca.certPem);
    const ws = new WebSocket(`wss://${HOSTS.plain}/v1/responses`, { createConnection: () => sock });
    const got: string[] = [];
    ws.on('message', (m: Buffer) => got.push(m.toString()));
    await new Promise((r) => ws.once('open', r));
    const done = JSON.stringify({ type: 'response.create', model: 'm', input: 'say hi' });
    ws.send(done);
    await eventually(() => {
      expect(got.some((m) => m.includes('response.completed'))).toBe(true);
    });
    // The fake starts this one and never finishes it.
    const held = JSON.stringify({ type: 'response.create', model: 'm', input: 'HOLD' });
    ws.send(held);
    await eventually(() => {
      expect(got.filter((m) => m.includes('response.created'))).toHaveLength(2);
    });
    ws.close();
    await eventually(() => {
      expect(log.filter((e) => e.kind === 'websocket')).toEqual([
        expect.objectContaining({ status: 101, unmetered: true }),
      ]);
    });
    await eventually(async () => {
      expect(await ledger.totals({ identity: IDENTITY })).toMatchObject({
        events: 2,
        unmeteredEvents: 1,
        inputTokens: 12 + estimateTokens(Buffer.byteLength(held)),
        outputTokens: 7,
      });
      expect(await ledger.reserved('global:claude')).toBe(0);
    });
  });

  it('the controller charges a 2xx release and at least the estimate of unmetered usage; other releases free', async () => {
    if (control === undefined) throw new Error('no controller');
    const sock = await controllerSocket(control);
    const path = sock.path;
    const talk = (lines: unknown[]): Promise<void> =>
      new Promise((resolve) => {
        const c = connect(path);
        let replies = 0;
        c.on('data', (d: Buffer) => {
          replies += d.toString().split('\n').filter(Boolean).length;
          // Every admission answered: the later lines are in the controller's queue.
          if (replies >= lines.filter((l) => (l as { t: string }).t === 'admit').length) c.end();
        });
        c.on('close', () => {
          resolve();
        });
        c.write(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
      });
    const admit = (id: number, estimate: number) => ({
      t: 'admit',
      id,
      api: 'anthropic-messages',
      host: 'h',
      estimate,
    });
    const usage = (id: number, over: Record<string, unknown>) => ({
      t: 'usage',
      id,
      usage: {
        api: 'anthropic-messages',
        model: 'm',
        requestId: null,
        inputTokens: 12,
        outputTokens: 7,
        cacheCreationTokens: 0,
        cacheReadTokens: 0,
        estimated: false,
        ...over,
      },
    });
    await talk([
      admit(1, 30),
      { t: 'release', id: 1, status: 200 },
      admit(2, 50),
      { t: 'release', id: 2, status: 503 },
      admit(3, 60),
      { t: 'release', id: 3 },
      admit(4, 40),
      usage(4, { inputTokens: 5, outputTokens: 0, unmetered: true }),
      admit(5, 1000),
      usage(5, {}),
      // Admitted, then the connection drops: released, not charged.
      admit(6, 70),
    ]);
    await eventually(async () => {
      expect(await ledger.reserved('global:claude')).toBe(0);
      expect(await ledger.totals({})).toMatchObject({
        events: 3,
        unmeteredEvents: 2,
        inputTokens: 30 + 40 + 12,
        outputTokens: 7,
      });
    });
    sock.close();
  });
});
