import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { capAsk, parseBody } from '../../src/egress/cap.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { AuditEntry } from '../../src/egress/audit.js';
import { createCa, type CaMaterial } from '../../src/egress/ca.js';
import { emptyPolicy } from '../../src/egress/config.js';
import type { ControllerLink } from '../../src/egress/controller-link.js';
import type { KeptLink } from '../../src/controller/engine-link.js';
import { controllerSocket, sidecarEnd, type SidecarEnd } from '../helpers/link.js';
import { createEgressProxy, type ProxyState } from '../../src/egress/proxy.js';
import { buildState } from '../../src/egress/state.js';
import {
  startControlServer,
  type ControlServer,
  type Crossing,
} from '../../src/controller/control-server.js';
import { recordOperator } from '../../src/controller/enforcement.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { spoolDir, parseSpool } from '../../src/ledger/spool-format.js';
import { spooled, spoolFiles } from '../../src/ledger/spool.js';
import type { LedgerStore } from '../../src/ledger/types.js';
import type { BottlePlan } from '../../src/plan/schema.js';
import { FAKE_CA_PATH } from '../fixtures/fake-llm.js';
import { httpsVia, tlsThrough } from '../helpers/via-proxy.js';

const TLS = `${import.meta.dirname}/../fixtures/tls/`;
const HOST = 'api.fake-llm.test';

/** Only the plan fields the controller reads. */
function plan(over: {
  tokens: number | null;
  scope?: BottlePlan['budget']['scope'];
  capping?: boolean;
  rate?: number;
}): BottlePlan {
  return {
    slug: 'demo',
    agent: { name: 'reviewer', provider: 'claude' },
    bottles: [{ name: 'child', chain: [{ name: 'base' }, { name: 'child' }] }],
    budget: {
      provider: 'claude',
      tokens: over.tokens,
      scope: over.scope ?? 'global',
      from: 'settings.yml',
      period: 'day',
      // These small budgets test admission itself: output caps are off unless asked for.
      capping: { enabled: over.capping ?? false, floor: 1024 },
      rate: { launch: over.rate ?? null, launchFrom: null, global: null },
    },
    cutoff: { policy: 'freeze', source: 'settings', from: null },
  } as unknown as BottlePlan;
}

/**
 * The whole egress control plane without docker: the intercepting proxy on
 * real sockets, its link to a controller over a real unix socket, and the
 * controller writing a real SQLite ledger. The origin reports 12 input and 7
 * output tokens per call, as the fake upstream does.
 */
describe('egress control plane', () => {
  let home: string;
  let ca: CaMaterial;
  let origin: ReturnType<typeof createHttpsServer>;
  let originPort = 0;
  let proxy: Server;
  let proxyPort = 0;
  let state: ProxyState;
  let ledger: SqliteLedger;
  let control: ControlServer | undefined;
  let link: ControllerLink | undefined;
  let end: SidecarEnd | undefined;
  let kept: KeptLink | undefined;
  let admit: ControllerLink['admit'] | undefined;
  const crossings: Crossing[] = [];
  const log: AuditEntry[] = [];
  const upstreamCalls: string[] = [];
  /** What the upstream received for each call: its headers and body as it read them. */
  const upstreamSeen: { headers: import('node:http').IncomingHttpHeaders; body: string }[] = [];

  const sse = (res: import('node:http').ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":12,"output_tokens":1}}}\n\n',
    );
    res.end(
      'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":7}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
    );
  };

  beforeAll(async () => {
    ca = await createCa('demo');
    origin = createHttpsServer(
      { cert: readFileSync(`${TLS}upstream.crt`), key: readFileSync(`${TLS}upstream.key`) },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          upstreamCalls.push(`${req.method ?? ''} ${req.url ?? ''}`);
          upstreamSeen.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
          if (req.url === '/v1/messages') {
            sse(res);
          } else if (req.url === '/v1/messages?slow=1') {
            setTimeout(() => {
              sse(res);
            }, 400);
          } else if (req.url === '/v1/chat/completions') {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end('{"id":"c1","model":"m","usage":{"prompt_tokens":12,"completion_tokens":7}}');
          } else {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end('plain');
          }
        });
      },
    );
    const wss = new WebSocketServer({ server: origin });
    wss.on('connection', (ws) => {
      ws.on('message', (m: Buffer) => {
        upstreamCalls.push(`ws ${m.toString()}`);
        ws.send(
          JSON.stringify({
            type: 'response.completed',
            response: { id: 'r1', model: 'm', usage: { input_tokens: 12, output_tokens: 7 } },
          }),
        );
      });
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originPort = (origin.address() as AddressInfo).port;
    state = buildState(
      {
        ...emptyPolicy('demo'),
        allow: [HOST],
        hosts: { [HOST]: `127.0.0.1:${originPort}` },
      },
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
      admit: (r) => (admit === undefined ? Promise.reject(new Error('no link')) : admit(r)),
      redacted: (c) => {
        link?.redacted(c);
      },
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyPort = (proxy.address() as AddressInfo).port;
  });
  afterAll(() => {
    proxy.closeAllConnections();
    proxy.close();
    origin.closeAllConnections();
    origin.close();
    state.upstream.close();
  });

  const start = (p: BottlePlan, over: { ledger?: LedgerStore; storeName?: string } = {}): void => {
    control = startControlServer({
      env: { BOT_BOTTLE_HOME: home },
      ledger: over.ledger ?? ledger,
      ...(over.storeName === undefined ? {} : { storeName: over.storeName }),
      plan: p,
      identity: 'demo-20261121-100000',
      startedAt: new Date(Date.now() - 1000).toISOString(),
      enforce: (c) => {
        crossings.push(c);
        return Promise.resolve();
      },
      log: () => undefined,
      pollMs: 50,
    });
    control.armed();
  };
  const linkUp = async (): Promise<void> => {
    if (control === undefined) throw new Error('no controller');
    end ??= sidecarEnd();
    link = end.link;
    admit = link.admit;
    kept = await end.linkTo(control);
  };
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 150));
  const call = (path = '/v1/messages', body = '{"model":"m"}') =>
    httpsVia(proxyPort, `https://${HOST}${path}`, ca.certPem, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });

  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'bb-cp-'));
    ledger = new SqliteLedger(join(home, 'bot-bottle.db'));
    crossings.length = 0;
    log.length = 0;
    upstreamCalls.length = 0;
    upstreamSeen.length = 0;
  });
  afterEach(async () => {
    await end?.close();
    end = undefined;
    kept = undefined;
    link = undefined;
    admit = undefined;
    await control?.close();
    control = undefined;
    await ledger.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('meters admitted calls into the ledger, then refuses in the API shape once the budget is used up', async () => {
    start(plan({ tokens: 25 }));
    await linkUp();
    expect((await call()).status).toBe(200);
    await settle();
    expect((await call()).status).toBe(200);
    await settle();
    // 38 of 25 used: the next call never reaches the API.
    const refused = await call();
    expect(refused.status).toBe(429);
    expect(refused.headers['x-should-retry']).toBe('false');
    const body = JSON.parse(refused.body) as {
      type: string;
      error: { type: string; message: string };
    };
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('rate_limit_error');
    expect(body.error.message).toMatch(
      /global claude budget \(per day\) of 25 tokens is used up \(38 used\)/,
    );
    expect(upstreamCalls.filter((c) => c.startsWith('POST'))).toHaveLength(2);
    const totals = await ledger.totals({ slug: 'demo' });
    expect(totals).toMatchObject({ events: 2, inputTokens: 24, outputTokens: 14, tokens: 38 });
    // Attributed to the launch, its agent, provider and every bottle of the chain.
    expect(
      (await ledger.totals({ bottle: 'base', agent: 'reviewer', provider: 'claude' })).events,
    ).toBe(2);
    // The policy fired once, and the audit row says why.
    expect(crossings.map((c) => c.policy)).toEqual(['freeze']);
    const actions = await ledger.actions({ identity: 'demo-20261121-100000' });
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({
      action: 'freeze',
      scope: 'global:claude',
      used: 38,
      limit: 25,
    });
    // A restarted CLI (a new tunnel, a new connection) is refused the same way.
    expect((await call()).status).toBe(429);
    expect(log.filter((l) => l.rule === 'budget-exhausted')).toHaveLength(2);
    // Calls that are not metered still pass.
    expect((await call('/v1/messages/count_tokens')).status).toBe(200);
  });

  it('counts secrets redacted from LLM calls for the launch record and in the ledger', async () => {
    start(plan({ tokens: 1000 }));
    await linkUp();
    const secretful = JSON.stringify({
      model: 'm',
      messages: [
        { role: 'user', content: 'AKIAIOSFODNN7EXAMPLE and sk_live_51HqLyjWDarjtT1zdp7dc4eC39' },
      ],
    });
    expect((await call('/v1/messages', secretful)).status).toBe(200);
    expect((await call('/v1/messages', secretful)).status).toBe(200);
    await settle();
    const want = { 'aws-access-key-id': 2, 'stripe-key': 2 };
    expect(control?.redactions()).toEqual(want);
    expect(await ledger.redactions({ identity: 'demo-20261121-100000' })).toEqual(want);
  });

  it('answers an exhausted OpenAI call with insufficient_quota', async () => {
    start(plan({ tokens: 5 }));
    await linkUp();
    expect((await call('/v1/chat/completions')).status).toBe(200);
    await settle();
    const r = await call('/v1/chat/completions');
    expect(r.status).toBe(429);
    expect(JSON.parse(r.body)).toMatchObject({
      error: { code: 'insufficient_quota', type: 'insufficient_quota' },
    });
  });

  it('holds a concurrent call while reservations fill the budget, and asks it to retry', async () => {
    // One call of ~1,000 estimated tokens in flight fills a 500-token budget for now.
    start(plan({ tokens: 500 }));
    await linkUp();
    const slow = call('/v1/messages?slow=1', JSON.stringify({ pad: 'x'.repeat(4000) }));
    await new Promise((r) => setTimeout(r, 150));
    const held = await call();
    expect(held.status).toBe(429);
    expect(held.headers['x-should-retry']).toBe('true');
    expect(held.headers['retry-after']).toBe('2');
    expect((await slow).status).toBe(200);
    await settle();
    // The reservation went with the usage: 19 of 500 used, room again.
    expect(await ledger.reserved('global:claude')).toBe(0);
    expect((await call()).status).toBe(200);
  });

  const capRows = (): { input_estimate: number; cap_requested: number; cap_granted: number }[] => {
    const raw = new Database(join(home, 'bot-bottle.db'), { readonly: true });
    try {
      return raw
        .prepare('SELECT input_estimate, cap_requested, cap_granted FROM usage_events ORDER BY id')
        .all() as { input_estimate: number; cap_requested: number; cap_granted: number }[];
    } finally {
      raw.close();
    }
  };
  const ask = (maxTokens: unknown): string =>
    JSON.stringify({
      model: 'm',
      max_tokens: maxTokens,
      messages: [{ role: 'user', content: 'list the files' }],
    });

  it('lowers max_tokens to what the budget has left, records it, and refuses below the floor', async () => {
    const parsed = parseBody(Buffer.from(ask(64000)));
    const input = parsed.ok ? capAsk('anthropic-messages', parsed.json).input : 0;
    // Room for this call's input and 1034 tokens of output: a call that spends 19 leaves too few.
    const limit = input + 1034;
    start(plan({ tokens: limit, capping: true }));
    await linkUp();
    expect((await call('/v1/messages', ask(64000))).status).toBe(200);
    await settle();
    const first = JSON.parse(upstreamSeen[0]?.body ?? '{}') as { max_tokens: number };
    const [row] = capRows();
    // cap = min(64000, 1200 - I): the upstream saw exactly the cap admission granted.
    expect(row?.cap_requested).toBe(64000);
    expect(first.max_tokens).toBe(row?.cap_granted);
    expect(row?.input_estimate).toBe(input);
    expect(first.max_tokens).toBe(1034);
    expect(log.find((l) => l.cap !== undefined)?.cap).toBe(
      `max_tokens 64000 -> ${first.max_tokens}`,
    );
    expect(await ledger.reserved('global:claude')).toBe(0);
    // 19 used: 1015 is left beyond the input, under the 1024 floor: refused, and the policy fires.
    const r = await call('/v1/messages', ask(64000));
    expect(r.status).toBe(429);
    expect(r.headers['x-should-retry']).toBe('false');
    expect(JSON.parse(r.body)).toMatchObject({ error: { type: 'rate_limit_error' } });
    expect(r.body).toContain(
      `of ${limit} tokens has ${limit - 19} left (19 used), too few for this call`,
    );
    expect(crossings.map((c) => c.policy)).toEqual(['freeze']);
    expect(upstreamSeen).toHaveLength(1);
  });

  it('writes the cap into a gzip request decoded, and adds one where the request had none', async () => {
    start(plan({ tokens: 100_000, capping: true }));
    await linkUp();
    const body = gzipSync(
      JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    );
    const r = await httpsVia(proxyPort, `https://${HOST}/v1/messages`, ca.certPem, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body,
    });
    expect(r.status).toBe(200);
    const seen = upstreamSeen[0];
    expect(seen?.headers['content-encoding']).toBeUndefined();
    expect(Number(seen?.headers['content-length'])).toBe(Buffer.byteLength(seen?.body ?? ''));
    const sent = JSON.parse(seen?.body ?? '{}') as { max_tokens: number };
    expect(sent.max_tokens).toBeGreaterThan(99_000);
    expect(log.find((l) => l.cap !== undefined)?.cap).toBe(
      `max_tokens (none) -> ${sent.max_tokens}`,
    );
  });

  it('refuses a request whose body cannot be parsed while a cap is in force, and holds nothing', async () => {
    start(plan({ tokens: 100_000, capping: true }));
    await linkUp();
    const r = await call('/v1/messages', '{"max_tokens": 64000, "messages": [');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ error: { type: 'invalid_request_error' } });
    expect(r.body).toContain('so its output cap cannot be lowered to what the budget has left');
    expect(upstreamSeen).toHaveLength(0);
    await settle();
    expect(await ledger.reserved('global:claude')).toBe(0);
    expect((await ledger.totals({})).events).toBe(0);
  });

  it('sends the request unchanged when capping is off', async () => {
    start(plan({ tokens: 100_000, capping: false }));
    await linkUp();
    const body = `{"model":"m","max_tokens":64000,"max_tokens":32000,"messages":[]}`;
    expect((await call('/v1/messages', body)).status).toBe(200);
    expect(upstreamSeen[0]?.body).toBe(body);
  });

  it('refuses a loop of calls with 429 and retry-after once the per-minute rate is used, without the cutoff', async () => {
    start(plan({ tokens: null, scope: 'none', rate: 50 }));
    await linkUp();
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 6 && refused === undefined; i++) {
      const r = await call();
      statuses.push(r.status);
      if (r.status !== 200) refused = r;
      await settle();
    }
    // 19 tokens a call: three calls reach 57 >= 50, the fourth is refused.
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(refused?.headers['x-should-retry']).toBe('true');
    expect(refused?.headers['x-bot-bottle-refusal']).toBe('rate');
    const after = Number(refused?.headers['retry-after']);
    expect(after).toBeGreaterThan(55);
    expect(after).toBeLessThanOrEqual(60);
    expect(JSON.parse(refused?.body ?? '{}')).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error' },
    });
    expect(refused?.body).toContain(
      'rate limit of this launch (50 tokens per minute) is used for now (57 used',
    );
    const chat = await call('/v1/chat/completions');
    expect(chat.status).toBe(429);
    expect(JSON.parse(chat.body)).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    expect(crossings).toEqual([]);
    expect(await ledger.actions({})).toEqual([]);
  });

  it('fails closed while the controller is unreachable and recovers when it is back', async () => {
    start(plan({ tokens: null, scope: 'none' }));
    await linkUp();
    expect((await call()).status).toBe(200);
    // The controller goes away: its link and its server.
    await kept?.stop();
    await control?.close();
    control = undefined;
    await settle();
    const r = await call();
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({ error: { type: 'api_error' } });
    expect(r.body).toContain('controller');
    expect(upstreamCalls.filter((c) => c.startsWith('POST'))).toHaveLength(1);
    // Unmetered traffic is not the controller's business.
    expect((await call('/other')).status).toBe(200);
    start(plan({ tokens: null, scope: 'none' }));
    await linkUp();
    expect((await call()).status).toBe(200);
  });

  it('honours an operator cutoff of this launch until it is lifted', async () => {
    start(plan({ tokens: null, scope: 'none' }));
    await linkUp();
    const env = { BOT_BOTTLE_HOME: home };
    await recordOperator(env, 'demo', 'demo-20261121-100000', 'cutoff', 'test');
    const r = await call();
    expect(r.status).toBe(429);
    expect(r.headers['x-bot-bottle-refusal']).toBe('cutoff');
    expect(r.body).toContain('bot-bottle cutoff demo --lift');
    // Another launch's cutoff is not this one's.
    await recordOperator(env, 'demo', 'demo-20261121-100000', 'restore', 'test');
    await recordOperator(env, 'demo', 'demo-older', 'cutoff', 'test');
    expect((await call()).status).toBe(200);
  });

  it('admits each call on a Responses WebSocket and answers a refused one on the socket', async () => {
    start(plan({ tokens: 20 }));
    await linkUp();
    const sock = await tlsThrough(proxyPort, HOST, 443, ca.certPem);
    const ws = new WebSocket(`wss://${HOST}/v1/responses`, { createConnection: () => sock });
    const got: string[] = [];
    ws.on('message', (m: Buffer) => got.push(m.toString()));
    await new Promise((r) => ws.once('open', r));
    const create = JSON.stringify({ type: 'response.create', model: 'm' });
    ws.send(create);
    await new Promise((r) => setTimeout(r, 200));
    ws.send(create);
    await new Promise((r) => setTimeout(r, 200));
    // 38 of 20: the third call is answered by the proxy, never sent.
    ws.send(create);
    await new Promise((r) => setTimeout(r, 200));
    ws.close();
    expect(upstreamCalls.filter((c) => c.startsWith('ws'))).toHaveLength(2);
    expect(got).toHaveLength(3);
    // A 400 with the budget's text: Codex shows it and does not retry (a 429 it would).
    const refusal = JSON.parse(got[2] ?? '{}') as { error?: { message?: string } };
    expect(refusal).toMatchObject({
      type: 'error',
      status: 400,
      error: { type: 'invalid_request_error', code: 'budget_exhausted' },
    });
    expect(refusal.error?.message).toContain(
      'bot-bottle: the global claude budget (per day) of 20',
    );
    expect((await ledger.totals({ slug: 'demo' })).tokens).toBe(38);
  });

  it('caps each response.create on a Responses WebSocket, and answers a rate refusal with a 429 event', async () => {
    start(plan({ tokens: 50_000, capping: true, rate: 30 }));
    await linkUp();
    const sock = await tlsThrough(proxyPort, HOST, 443, ca.certPem);
    const ws = new WebSocket(`wss://${HOST}/v1/responses`, { createConnection: () => sock });
    const got: string[] = [];
    ws.on('message', (m: Buffer) => got.push(m.toString()));
    await new Promise((r) => ws.once('open', r));
    const create = JSON.stringify({ type: 'response.create', model: 'm', input: [] });
    for (let i = 0; i < 3; i++) {
      ws.send(create);
      await new Promise((r) => setTimeout(r, 200));
    }
    ws.close();
    const sent = upstreamCalls
      .filter((c) => c.startsWith('ws '))
      .map((c) => JSON.parse(c.slice(3)) as Record<string, unknown>);
    // 19 + 19 of 30 tokens a minute: the third call waits for the minute.
    expect(sent).toHaveLength(2);
    expect(sent[0]?.max_output_tokens).toBeGreaterThan(40_000);
    expect(sent[0]?.max_output_tokens).toBeLessThan(50_000);
    expect(log.filter((l) => l.rule === 'budget-cap').map((l) => l.cap)).toHaveLength(2);
    const refusal = JSON.parse(got[2] ?? '{}') as Record<string, unknown>;
    expect(refusal).toMatchObject({
      type: 'error',
      status: 429,
      error: { code: 'rate_limit_exceeded' },
    });
    expect(crossings).toEqual([]);
  });

  it('ignores malformed messages on the controller socket and drops an oversized line', async () => {
    start(plan({ tokens: null, scope: 'none' }));
    if (control === undefined) throw new Error('no controller');
    const sock = await controllerSocket(control);
    const path = sock.path;
    const talk = (payload: string): Promise<string> =>
      new Promise((resolve) => {
        const c = connect(path);
        let out = '';
        c.on('data', (d: Buffer) => (out += d.toString()));
        c.on('close', () => {
          resolve(out);
        });
        c.on('error', () => {
          resolve(out);
        });
        c.write(payload);
        setTimeout(() => c.end(), 200);
      });
    expect(await talk('not json\n{"t":"usage","id":1,"usage":{"inputTokens":-5}}\n')).toBe('');
    expect(await talk('x'.repeat(70 * 1024))).toBe('');
    // Still serving.
    const reply = await talk('{"t":"admit","id":7,"api":"openai-chat","host":"h","estimate":3}\n');
    expect(JSON.parse(reply)).toEqual({ t: 'admit', id: 7, ok: true });
    expect((await ledger.totals({})).events).toBe(0);
    sock.close();
  });
  /** The ledger behind a switch: while `down`, every call fails as an unreachable server's would. */
  const switchable = (inner: LedgerStore): { store: LedgerStore; down: { on: boolean } } => {
    const down = { on: false };
    const store = new Proxy(inner, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (typeof v !== 'function' || prop === 'close') return v;
        return (...args: unknown[]) =>
          down.on
            ? Promise.reject(new Error('connect ECONNREFUSED 10.0.0.9:5432'))
            : (v as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
    return { store, down };
  };

  it('refuses at once as unavailable, naming the store, while the store is down; usage in flight is kept and written once', async () => {
    const { store, down } = switchable(ledger);
    const dir = spoolDir({ BOT_BOTTLE_HOME: home });
    const spool = spooled(store, { dir, name: 'demo-20261121-100000' });
    start(plan({ tokens: 1000 }), { ledger: spool, storeName: 'postgres://db.test:5432/ledger' });
    await linkUp();
    // Admitted while the store answers; the store goes away before its usage comes back.
    const inFlight = call('/v1/messages?slow=1');
    await new Promise((r) => setTimeout(r, 150));
    down.on = true;
    expect((await inFlight).status).toBe(200);
    const refused = await call();
    expect(refused.status).toBe(503);
    expect(refused.headers['x-bot-bottle-refusal']).toBe('unavailable');
    expect(refused.headers['x-should-retry']).toBe('false');
    const body = JSON.parse(refused.body) as {
      type: string;
      error: { type: string; message: string };
    };
    expect(body).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    expect(body.error.message).toContain('postgres://db.test:5432/ledger');
    expect(body.error.message).toContain('ECONNREFUSED');
    // Only the call admitted before the outage reached the API.
    expect(upstreamCalls.filter((c) => c.startsWith('POST'))).toHaveLength(1);
    await settle();
    const files = spoolFiles(dir);
    expect(files).toHaveLength(1);
    expect(parseSpool(readFileSync(files[0] ?? '', 'utf8')).entries.map((e) => e.op)).toEqual([
      'settle',
    ]);
    // Back: the spooled usage lands once, its reservation is freed, and calls are admitted again.
    down.on = false;
    expect(await spool.flush()).toMatchObject({ written: 1, left: 0 });
    expect(await spool.flush()).toMatchObject({ written: 0, left: 0 });
    expect(spoolFiles(dir)).toEqual([]);
    expect(await ledger.totals({ slug: 'demo' })).toMatchObject({ events: 1, tokens: 19 });
    expect(await ledger.reserved('global:claude')).toBe(0);
    expect((await call()).status).toBe(200);
    await settle();
    expect((await ledger.totals({ slug: 'demo' })).events).toBe(2);
  });
});
