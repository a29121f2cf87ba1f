import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { NO_TICKET } from '../../src/egress/admission.js';
import { createCa } from '../../src/egress/ca.js';
import { emptyPolicy, type EgressPolicyConfig } from '../../src/egress/config.js';
import { bodyVerdict, problemVerdict } from '../../src/egress/decide/body.js';
import { encodingVerdict, type Coding } from '../../src/egress/decide/encoding.js';
import { findingsVerdict } from '../../src/egress/decide/findings.js';
import { decodeLlmBody } from '../../src/egress/decide/llm.js';
import {
  hostHeaderVerdict,
  hostVerdict,
  sniVerdict,
  splitAuthority,
} from '../../src/egress/decide/host.js';
import { admissionVerdict, meteringVerdict } from '../../src/egress/decide/metering.js';
import { pathVerdict, removeDotSegments } from '../../src/egress/decide/path.js';
import { requestVerdict, type RequestFacts } from '../../src/egress/decide/request.js';
import { unreachable } from '../../src/egress/decide/unreachable.js';
import { decide, mergeFlags, type Refuse } from '../../src/egress/decide/verdict.js';
import { buildState } from '../../src/egress/state.js';
import type { Scanner } from '../../src/egress/dlp.js';
import { BodyInspector, SCAN_WINDOW, scanAll } from '../../src/egress/transport/inspector.js';
import type { ProxyState } from '../../src/egress/types.js';
import { PrivateAddressError } from '../../src/egress/upstream.js';

/**
 * The proxy's decision core on its own: every verdict it can give, from the
 * facts the transport hands it, with no socket in sight.
 */

let state: (over?: Partial<EgressPolicyConfig>) => ProxyState;
const REAL_KEY = 'sk-ant-api03-REAL-KEY-0123456789abcdefghijklmnopqrstuv';

beforeAll(async () => {
  const ca = await createCa('decide');
  const secrets = {
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    upstreamCaPem: '',
    values: { anthropic: REAL_KEY },
  };
  state = (over = {}) =>
    buildState(
      {
        ...emptyPolicy('demo'),
        allow: ['api.example.test', '*.wild.test', '10.1.2.3'],
        deny: ['blocked.wild.test'],
        passthrough: ['pass.wild.test'],
        routes: [
          { host: 'api.example.test', headers: [{ name: 'x-api-key', secret: 'anthropic' }] },
        ],
        hosts: { '10.1.2.3': '10.1.2.3:443' },
        ...over,
      },
      secrets,
    );
});

const refusedRule = (v: { kind: string }): string | undefined =>
  v.kind === 'refuse' ? (v as Refuse).rule : undefined;

describe('decide(): a check that cannot decide refuses', () => {
  it('turns a thrown check into a refusal naming the check', () => {
    const v = decide(
      'path',
      () => state(),
      {},
      () => {
        throw new Error('boom');
      },
    );
    expect(v).toMatchObject({ kind: 'refuse', status: 403, rule: 'check-failed path' });
    expect(v.why).toContain('the path check could not decide (boom)');
  });

  it('refuses when the state cannot be read or has no policy', () => {
    const pass = (): { kind: 'allow' } => ({ kind: 'allow' });
    const thrown = decide(
      'host',
      () => {
        throw new Error('not configured');
      },
      {},
      pass,
    );
    expect(thrown).toMatchObject({ kind: 'refuse', status: 503, rule: 'no-policy' });
    expect((thrown as Refuse).why).toContain('not configured');
    expect(decide('host', () => undefined, {}, pass)).toMatchObject({ rule: 'no-policy' });
    expect(
      decide('host', () => ({ ...state(), policy: undefined }) as unknown as ProxyState, {}, pass),
    ).toMatchObject({ rule: 'no-policy' });
  });

  it('passes the verdict of a check that decides', () => {
    expect(
      decide('host', () => state(), { host: 'api.example.test', port: 443 }, hostVerdict),
    ).toEqual({ kind: 'allow', rule: 'allow api.example.test', passthrough: false });
  });
});

describe('host verdicts', () => {
  it.each([
    ['api.example.test', 443, undefined],
    ['x.wild.test', 443, undefined],
    ['blocked.wild.test', 443, 'deny blocked.wild.test'],
    ['other.example.test', 443, 'no-allow-match'],
    ['127.0.0.1', 443, 'private-address loopback'],
    ['169.254.169.254', 80, 'private-address linkLocal'],
    ['10.1.2.3', 443, undefined],
    ['bWFkZSB1cCBzZWNyZXQgZGF0YQ.wild.test', 443, 'dlp hostname-encoding'],
  ])('%s:%d -> %s', (host, port, rule) => {
    expect(refusedRule(hostVerdict(state(), { host, port }))).toBe(rule);
  });

  it('says which hosts are tunnelled without interception', () => {
    expect(hostVerdict(state(), { host: 'pass.wild.test', port: 443 })).toMatchObject({
      kind: 'allow',
      passthrough: true,
    });
  });

  it('splits authorities, normalising case and a trailing dot', () => {
    expect(splitAuthority('Example.COM.:8443', 443)).toEqual({ host: 'example.com', port: 8443 });
    expect(splitAuthority('[::1]', 443)).toEqual({ host: '::1', port: 443 });
    expect(splitAuthority('a:b:c', 443)).toBeUndefined();
    expect(splitAuthority('a:70000', 443)).toBeUndefined();
  });

  it('checks the TLS server name and the Host header against the connection', () => {
    expect(sniVerdict('a.test', undefined)).toEqual({ kind: 'allow' });
    expect(sniVerdict('a.test', 'A.test')).toEqual({ kind: 'allow' });
    expect(sniVerdict('a.test', 'a.test.')).toEqual({ kind: 'allow' });
    expect(sniVerdict('a.test', 'A.TEST.')).toEqual({ kind: 'allow' });
    expect(refusedRule(sniVerdict('a.test', 'a.test..'))).toBe('sni-mismatch');
    expect(sniVerdict('a.test', 'b.test')).toMatchObject({
      rule: 'sni-mismatch',
      why: "TLS server name 'b.test' differs from the CONNECT host",
    });
    const t = { scheme: 'https' as const, host: 'a.test', port: 443 };
    expect(hostHeaderVerdict(t, 'a.test')).toEqual({ kind: 'allow' });
    expect(hostHeaderVerdict(t, 'a.test:443')).toEqual({ kind: 'allow' });
    expect(refusedRule(hostHeaderVerdict(t, 'a.test:8443'))).toBe('host-mismatch');
    expect(refusedRule(hostHeaderVerdict(t, undefined))).toBe('host-mismatch');
  });
});

describe('merged flags', () => {
  it('keeps every rule, reason and finding, and is nothing when nothing flagged', () => {
    const a = { kind: 'flag' as const, rule: 'dlp aws', why: 'a key', findings: [] };
    const b = {
      kind: 'flag' as const,
      rule: 'body-decoded-size',
      why: 'too large',
      findings: [{ kind: 'aws', where: 'body' }],
    };
    expect(mergeFlags([], ' ')).toBeUndefined();
    expect(mergeFlags([a, b], ' ')).toEqual({
      kind: 'flag',
      rule: 'dlp aws body-decoded-size',
      why: 'a key; too large',
      findings: [{ kind: 'aws', where: 'body' }],
    });
    expect(mergeFlags([a, b], '; ')?.rule).toBe('dlp aws; body-decoded-size');
  });
});

describe('an upstream that cannot be reached', () => {
  it('is a refusal naming the range when the name led to a private address', () => {
    const u = unreachable(new PrivateAddressError('evil.test', '10.0.0.5', 'private'));
    expect(u.refuse).toMatchObject({
      kind: 'refuse',
      status: 403,
      rule: 'private-address private',
      why: 'evil.test resolves to 10.0.0.5, a private address',
    });
  });

  it('is a failure with its message and system code otherwise, never a refusal', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    expect(unreachable(refused)).toEqual({
      why: 'connect ECONNREFUSED 127.0.0.1:1',
      code: 'ECONNREFUSED',
    });
    expect(unreachable(new Error('socket hang up'))).toEqual({ why: 'socket hang up' });
    expect(unreachable('gone')).toEqual({ why: 'gone' });
  });
});

describe('request verdicts', () => {
  const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
    target: { scheme: 'https', host: 'api.example.test', port: 443 },
    servername: 'api.example.test',
    method: 'GET',
    rawTarget: '/v1/models',
    headers: { host: 'api.example.test' },
    ...over,
  });

  it('allows a clean request and names the rule', () => {
    expect(requestVerdict(state(), facts())).toEqual({
      kind: 'allow',
      rule: 'allow api.example.test',
      target: '/v1/models',
      findings: [],
    });
  });

  it('checks in order: server name, host, Host header, rules', () => {
    expect(refusedRule(requestVerdict(state(), facts({ servername: 'x.wild.test' })))).toBe(
      'sni-mismatch',
    );
    expect(
      refusedRule(
        requestVerdict(state({ deny: ['api.example.test'] }), facts({ headers: { host: 'x' } })),
      ),
    ).toBe('deny api.example.test');
    expect(refusedRule(requestVerdict(state(), facts({ headers: { host: 'x.wild.test' } })))).toBe(
      'host-mismatch',
    );
    const ruled = state({
      rules: [{ host: 'api.example.test', methods: ['GET'], paths: ['/v1/'] }],
    });
    expect(requestVerdict(ruled, facts())).toMatchObject({
      kind: 'allow',
      rule: 'rule api.example.test GET /v1/',
    });
    expect(requestVerdict(ruled, facts({ method: 'POST' }))).toMatchObject({
      kind: 'refuse',
      why: 'POST /v1/models matches none of the method/path rules for this host',
    });
  });

  it('reports findings in URL and headers, but not the route credential it replaces', () => {
    const v = requestVerdict(
      state(),
      facts({
        rawTarget: '/x?k=AKIAIOSFODNN7EXAMPLE',
        headers: { host: 'api.example.test', 'x-api-key': REAL_KEY, 'x-note': REAL_KEY },
      }),
    );
    expect(v.kind === 'allow' && v.findings.map((f) => `${f.kind}@${f.where}`)).toEqual([
      'aws-access-key-id@url',
      'bottle-secret@header x-note',
      'anthropic-key@header x-note',
    ]);
  });
});

describe('findings verdicts', () => {
  const f = [{ kind: 'aws-access-key-id', where: 'body' }];
  it('passes nothing found, refuses in enforce, flags in audit', () => {
    expect(findingsVerdict(state(), [])).toEqual({ kind: 'pass' });
    expect(findingsVerdict(state(), f)).toMatchObject({
      kind: 'refuse',
      status: 403,
      rule: 'dlp aws-access-key-id',
      why: 'the request carries what looks like a secret (aws-access-key-id in body)',
    });
    expect(findingsVerdict(state({ mode: 'audit' }), f)).toMatchObject({
      kind: 'flag',
      rule: 'dlp aws-access-key-id',
    });
  });
});

describe('metering verdicts', () => {
  const base = {
    method: 'POST',
    path: '/v1/messages',
    host: 'api.example.test',
    bodyBytes: 400,
    measuring: true,
    admitting: true,
  };
  it('is free when nobody listens or the call is not an LLM call', () => {
    expect(meteringVerdict({ ...base, measuring: false, admitting: false })).toEqual({
      kind: 'free',
    });
    expect(meteringVerdict({ ...base, path: '/v1/models' })).toEqual({ kind: 'free' });
  });
  it('measures without a controller, asks admission with an estimate with one', () => {
    expect(meteringVerdict({ ...base, admitting: false })).toEqual({
      kind: 'measure',
      api: 'anthropic-messages',
      estimate: 100,
      acceptEncoding: 'identity',
    });
    expect(meteringVerdict(base)).toEqual({
      kind: 'admit',
      api: 'anthropic-messages',
      request: { api: 'anthropic-messages', host: 'api.example.test', estimate: 100 },
      acceptEncoding: 'identity',
    });
  });
  it('offers upstream only the codings the meter decodes on a metered call', () => {
    expect(meteringVerdict({ ...base, acceptEncoding: 'gzip, deflate, br, zstd' })).toMatchObject({
      kind: 'admit',
      acceptEncoding: 'gzip, deflate, br',
    });
    expect(meteringVerdict({ ...base, acceptEncoding: 'zstd' })).toMatchObject({
      acceptEncoding: 'identity',
    });
    expect(
      meteringVerdict({ ...base, path: '/v1/messages/count_tokens', acceptEncoding: 'zstd' }),
    ).toEqual({ kind: 'free' });
  });
  it("turns the controller's answer into a verdict in the API's own error shape", () => {
    expect(admissionVerdict('anthropic-messages', { ok: true, ticket: NO_TICKET })).toEqual({
      kind: 'admitted',
      ticket: NO_TICKET,
      cap: null,
    });
    const no = admissionVerdict('anthropic-messages', {
      ok: false,
      refusal: { kind: 'exhausted', message: 'budget used up' },
    });
    expect(no).toMatchObject({ kind: 'refuse', status: 429, rule: 'budget-exhausted' });
    expect(JSON.parse((no as Refuse).shaped?.body ?? '{}')).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'bot-bottle: budget used up' },
    });
    const down = admissionVerdict('openai-responses', { error: new Error('link down') });
    expect(down).toMatchObject({
      kind: 'refuse',
      status: 503,
      rule: 'budget-unavailable',
      why: 'admission failed: link down',
    });
  });
});

describe('path normalisation and encoded separators', () => {
  it.each([
    ['/a/b/../c', '/a/c'],
    ['/a/./b/.', '/a/b/'],
    ['/repos/ok/../../admin', '/admin'],
    ['/..', '/'],
    ['/../..', '/'],
    ['/.', '/'],
    ['/a/b/..', '/a/'],
    ['/a//../b', '/a/b'],
    ['/a..b/', '/a..b/'],
    ['/v1.2/models', '/v1.2/models'],
    ['/.../x', '/.../x'],
    ['/a/...b/..c/', '/a/...b/..c/'],
  ])('remove_dot_segments(%s) = %s', (input, output) => {
    expect(removeDotSegments(input)).toBe(output);
  });

  const ruled = (): ProxyState =>
    state({ rules: [{ host: 'api.example.test', paths: ['/repos/ok/'] }] });
  const judge = (s: ProxyState, rawTarget: string, host = 'api.example.test') =>
    pathVerdict(s, { host, port: 443, method: 'GET', rawTarget });

  it('judges the normalised path and sends it upstream, the query untouched', () => {
    expect(judge(ruled(), '/repos/ok/./x/../y?next=/../../admin')).toEqual({
      kind: 'allow',
      target: '/repos/ok/y?next=/../../admin',
      path: '/repos/ok/y',
      rule: 'rule api.example.test * /repos/ok/',
    });
    expect(judge(ruled(), '/repos/ok/../../admin')).toMatchObject({
      kind: 'refuse',
      status: 403,
      why: 'GET /admin matches none of the method/path rules for this host',
    });
    expect(judge(ruled(), '/..')).toMatchObject({ kind: 'refuse', status: 403 });
    // A host without rules is normalised too.
    expect(judge(state(), '/a/b/../c?q=..')).toMatchObject({ target: '/a/c?q=..' });
  });

  it.each([
    ['/repos/ok/%2e%2e/%2e%2e/admin', "an encoded '.' (%2e)"],
    ['/repos/ok/%2E%2e/admin', "an encoded '.' (%2E)"],
    ['/repos/ok/x%2f..%2f..%2fadmin', "an encoded '/' (%2f)"],
    ['/repos/ok/x%5c..%5cadmin', "an encoded '\\' (%5c)"],
    ['/repos/ok/x%5C', "an encoded '\\' (%5C)"],
    ['/repos/ok/..\\..\\admin', 'a backslash'],
    ['/repos/ok/%252e%252e/admin', "a double-encoded '.' (%2e)"],
    ['/repos/ok/%25252f', "a double-encoded '/' (%2f)"],
    ['/repos/ok/%25%32%65%25%32%65/admin', "a double-encoded '.' (%2e)"],
    ['/repos/ok/..;/admin', "'..;'"],
  ])('refuses %s on a host with rules, saying why', (path, why) => {
    const v = judge(ruled(), path);
    expect(v).toMatchObject({ kind: 'refuse', status: 400, rule: 'path-encoding' });
    expect((v as Refuse).why).toContain(why);
  });

  it('lets near-misses through', () => {
    for (const p of [
      '/repos/ok/a..b/',
      '/repos/ok/v1.2/',
      '/repos/ok/...x/',
      '/repos/ok/%41%20b',
    ]) {
      expect(judge(ruled(), p), p).toMatchObject({ kind: 'allow', target: p });
    }
    // Encoded separators are the upstream's business where no rule could be dodged.
    for (const p of ['/x/%2e%2e/y', '/a%2fb', '/%41', '/a\\b']) {
      expect(judge(state(), p), p).toMatchObject({ kind: 'allow', target: p });
    }
  });

  it('refuses a request target that is not a path', () => {
    for (const t of ['https://other.example.test/x', '*', 'x/y', '/a\u0100']) {
      expect(judge(state(), t), t).toMatchObject({
        kind: 'refuse',
        status: 400,
        rule: 'request-target',
      });
    }
  });
});

describe('body encoding verdicts', () => {
  const enc = (ce?: string, te?: string, s = state()) =>
    encodingVerdict(s, { contentEncoding: ce, transferEncoding: te });

  it.each([
    [undefined, 'identity'],
    ['identity', 'identity'],
    ['gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    [' GZip ', 'gzip'],
    ['deflate', 'deflate'],
    ['br', 'br'],
    ['identity, br', 'br'],
  ])('decodes content-encoding %s as %s', (ce, coding) => {
    expect(enc(ce, 'chunked')).toEqual({ kind: 'decode', coding });
  });

  it.each([
    ['gzip, gzip', undefined, 415, 'body-encoding stacked', 'content-encoding: gzip, gzip'],
    ['br,gzip', undefined, 415, 'body-encoding stacked', 'content-encoding: br, gzip'],
    ['zstd', undefined, 415, 'body-encoding unknown', "'zstd'"],
    ['compress', undefined, 415, 'body-encoding unknown', "'compress'"],
    ['gzip;q=1', undefined, 415, 'body-encoding unknown', "'gzip;q=1'"],
    // Names every JavaScript object has are codings like any other unknown one.
    ['constructor', undefined, 415, 'body-encoding unknown', "'constructor'"],
    ['__proto__', undefined, 415, 'body-encoding unknown', "'__proto__'"],
    [undefined, 'gzip, chunked', 415, 'body-encoding transfer', "'gzip'"],
  ])('refuses %s / %s', (ce, te, status, rule, why) => {
    const v = enc(ce, te);
    expect(v).toMatchObject({ kind: 'refuse', status, rule });
    expect((v as Refuse).why).toContain(why);
  });

  it('flags instead of refusing in audit mode', () => {
    expect(enc('zstd', undefined, state({ mode: 'audit' }))).toMatchObject({
      kind: 'flag',
      rule: 'body-encoding unknown',
    });
  });
});

describe('body verdicts', () => {
  const f = [{ kind: 'aws-access-key-id', where: 'body' }];
  const undecodable = {
    kind: 'undecodable' as const,
    coding: 'gzip',
    detail: 'incorrect header check',
  };
  const over = { kind: 'over-limit' as const, limit: 64 * 1024 * 1024 };

  it('refuses a body that could not be read whole before looking at findings', () => {
    expect(problemVerdict(state(), undecodable)).toMatchObject({
      kind: 'refuse',
      status: 400,
      why: 'the body does not decode as gzip (incorrect header check), so it cannot be scanned',
    });
    expect(problemVerdict(state(), over)).toMatchObject({
      kind: 'refuse',
      status: 413,
      rule: 'body-decoded-size',
    });
    expect(bodyVerdict(state(), { findings: f, problem: over, encoding: undefined })).toMatchObject(
      { status: 413 },
    );
    expect(
      bodyVerdict(state(), { findings: f, problem: undefined, encoding: undefined }),
    ).toMatchObject({ status: 403, rule: 'dlp aws-access-key-id' });
    expect(bodyVerdict(state(), { findings: [], problem: undefined, encoding: undefined })).toEqual(
      {
        kind: 'pass',
      },
    );
  });

  it('keeps every reason in one flag in audit mode', () => {
    const audit = state({ mode: 'audit' });
    const encoding = encodingVerdict(audit, {
      contentEncoding: 'zstd',
      transferEncoding: undefined,
    });
    const v = bodyVerdict(audit, {
      findings: f,
      problem: over,
      encoding: encoding.kind === 'flag' ? encoding : undefined,
    });
    expect(v.kind).toBe('flag');
    const why = v.kind === 'flag' ? v.why : '';
    expect(why).toContain("'zstd'");
    expect(why).toContain('decodes to more than 64 MiB');
    expect(why).toContain('aws-access-key-id in body');
  });
});

describe('body inspector', () => {
  const scanner = (): Scanner => state().scanner;
  const run = (coding: Coding | undefined, chunks: Buffer[], limit = 1024 * 1024) =>
    new Promise<BodyInspector>((resolve) => {
      const ins = new BodyInspector(scanner, coding, limit);
      let i = 0;
      const next = (): void => {
        const c = chunks[i++];
        if (c === undefined)
          ins.end(() => {
            resolve(ins);
          });
        else ins.write(c, next);
      };
      next();
    });
  const split = (b: Buffer, n: number): Buffer[] => {
    const out: Buffer[] = [];
    for (let at = 0; at < b.length; at += n) out.push(b.subarray(at, at + n));
    return out;
  };
  const KEY = 'AKIAIOSFODNN7EXAMPLE';

  it('finds a secret split across chunks, in every coding', async () => {
    const text = Buffer.from(`${'a'.repeat(5000)} ${KEY} ${'b'.repeat(5000)}`);
    const forms: [Coding, Buffer][] = [
      ['identity', text],
      ['gzip', gzipSync(text)],
      ['deflate', deflateSync(text)],
      ['deflate', deflateRawSync(text)],
      ['br', brotliCompressSync(text)],
    ];
    for (const [coding, body] of forms) {
      const ins = await run(coding, split(body, 7));
      expect(ins.problem, coding).toBeUndefined();
      expect(
        ins.findings.map((x) => x.kind),
        coding,
      ).toContain('aws-access-key-id');
    }
  });

  it('stops at the decode limit and at a stream that ends early', async () => {
    const bomb = await run('gzip', [gzipSync(Buffer.alloc(2 * 1024 * 1024))]);
    expect(bomb.problem).toEqual({ kind: 'over-limit', limit: 1024 * 1024 });
    const short = await run('gzip', [gzipSync(Buffer.from(`x ${KEY} y`)).subarray(0, 15)]);
    expect(short.problem).toMatchObject({ kind: 'undecodable', detail: 'unexpected end of file' });
    const junk = await run('br', [Buffer.from('not brotli at all')]);
    expect(junk.problem).toMatchObject({ kind: 'undecodable', coding: 'br' });
  });

  it('refuses bytes after the end of a compressed stream, which decoders ignore', async () => {
    const tail = Buffer.from(` ${KEY} `);
    const forms: [Coding, Buffer][] = [
      ['gzip', gzipSync('clean')],
      ['deflate', deflateSync('clean')],
      ['deflate', deflateRawSync('clean')],
      ['br', brotliCompressSync('clean')],
    ];
    for (const [coding, body] of forms) {
      const ins = await run(coding, [body, tail]);
      expect(ins.problem?.kind, coding).toBe('undecodable');
      const one = await run(coding, [Buffer.concat([body, tail])]);
      expect(one.problem?.kind, coding).toBe('undecodable');
    }
    const br = await run('br', [brotliCompressSync('clean'), tail]);
    expect(br.problem).toMatchObject({
      detail: `${tail.length} bytes after the end of the compressed stream`,
    });
  });

  it('scans raw bytes when the coding is unknown (audit)', async () => {
    const ins = await run(undefined, [Buffer.from(`zstd-ish ${KEY}`)]);
    expect(ins.findings.map((x) => x.kind)).toContain('aws-access-key-id');
  });

  it('scans text longer than the scanner reads at once, window by window', () => {
    const long = `${'a'.repeat(SCAN_WINDOW + 10)} ${KEY} `;
    expect(scanAll(scanner, long, 'websocket message').map((x) => x.kind)).toContain(
      'aws-access-key-id',
    );
    expect(state().scanner.scanText(long, 'x')).toEqual([]);
  });
});

describe('LLM bodies: the same encodings rule', () => {
  it('cannot pass bytes after the end of a compressed stream, which decoders skip', () => {
    const tail = Buffer.from(' AKIAIOSFODNN7EXAMPLE ');
    for (const [enc, body] of [
      ['deflate', deflateSync('{"a":1}')],
      ['br', brotliCompressSync('{"a":1}')],
    ] as const) {
      const d = decodeLlmBody(Buffer.concat([body, tail]), enc);
      expect(d.ok, enc).toBe(false);
      expect(!d.ok && d.why, enc).toContain(
        `${tail.length} bytes after the end of its ${enc} stream`,
      );
      expect(decodeLlmBody(body, enc)).toEqual({ ok: true, body: Buffer.from('{"a":1}') });
    }
    // Concatenated gzip members are one gzip body (RFC 1952), decoded whole.
    const two = Buffer.concat([gzipSync('{"a":'), gzipSync('1}')]);
    expect(decodeLlmBody(two, 'gzip')).toEqual({ ok: true, body: Buffer.from('{"a":1}') });
  });

  it('cannot pass a coding it does not know, also one named like an object property', () => {
    for (const enc of ['zstd', 'constructor', '__proto__']) {
      const d = decodeLlmBody(Buffer.from('{"a":"AKIAIOSFODNN7EXAMPLE"}'), enc);
      expect(d.ok, enc).toBe(false);
      expect(!d.ok && d.why, enc).toContain(`content-encoding '${enc}' cannot be read`);
    }
  });
});
