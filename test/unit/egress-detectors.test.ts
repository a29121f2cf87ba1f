import { createHash, randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIP39_ENGLISH } from '../../src/egress/bip39-english.js';
import {
  Scanner,
  detectorMatches,
  hostnameFinding,
  randomToken,
  wrappedBase64,
} from '../../src/egress/dlp.js';
import { decodeHtmlEntities, decodeJsEscapes, hostToUnicode } from '../../src/egress/encodings.js';
import { dnsQuestionNames, protobufMessage, structuredBinary } from '../../src/egress/entropy.js';
import { findHexPrivateKey } from '../../src/egress/hex-key.js';
import { redactBody } from '../../src/egress/redact.js';
import { nestedPrivateTarget } from '../../src/egress/nested-target.js';
import { abaChecksumValid, findRoutingNumber, findSsn, ssnValid } from '../../src/egress/pii.js';
import { bip39ChecksumValid, findSeedPhrase } from '../../src/egress/seed-phrase.js';
import {
  basicAuthValue,
  findSecretAssignment,
  findUrlUserinfo,
} from '../../src/egress/credentials.js';

const scanner = new Scanner([]);
const kinds = (text: string): string[] => scanner.scanText(text, 'body').map((f) => f.kind);
const urlKinds = (host: string, path: string): string[] =>
  scanner.scanUrl(host, path).map((f) => f.kind);
const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** A random token that always has all three character classes (as real keys do). */
const token = (n: number): string =>
  `aZ9${[...randomBytes(n - 3)].map((x) => A[x % 62] ?? '').join('')}`;
const hex = (n: number): string => randomBytes(n).toString('hex');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A valid BIP39 phrase of `words` words from fresh entropy. */
function mnemonic(words: number): string[] {
  const ent = randomBytes((words * 11 - words / 3) / 8);
  const cs = (createHash('sha256').update(ent).digest()[0] ?? 0) >> (8 - words / 3);
  let bits = (BigInt(`0x${ent.toString('hex')}`) << BigInt(words / 3)) | BigInt(cs);
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    out.unshift(BIP39_ENGLISH[Number(bits & 2047n)] ?? '');
    bits >>= 11n;
  }
  return out;
}

describe('BIP39 seed phrases', () => {
  it('ships the BIP39 English wordlist exactly (its published SHA-256)', () => {
    expect(BIP39_ENGLISH).toHaveLength(2048);
    const digest = createHash('sha256')
      .update(`${BIP39_ENGLISH.join('\n')}\n`)
      .digest('hex');
    expect(digest).toBe('2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda');
  });

  it('verifies the checksum of the published test vectors', () => {
    const idx = (p: string): number[] => p.split(' ').map((w) => BIP39_ENGLISH.indexOf(w));
    expect(bip39ChecksumValid(idx(`${'abandon '.repeat(11)}about`))).toBe(true);
    expect(bip39ChecksumValid(idx(`${'abandon '.repeat(11)}abandon`))).toBe(false);
    expect(bip39ChecksumValid(idx(`${'abandon '.repeat(23)}art`))).toBe(true);
    expect(
      bip39ChecksumValid(
        idx('legal winner thank year wave sausage worth useful legal winner thank yellow'),
      ),
    ).toBe(true);
  });

  it.each([12, 15, 18, 21, 24])('finds a %i-word phrase however it is separated', (n) => {
    const words = mnemonic(n);
    expect(kinds(words.join(' '))).toContain('seed-phrase');
    expect(
      kinds(JSON.stringify({ notes: words.map((w, i) => `${i + 1}. ${w}`).join('\n') })),
    ).toContain('seed-phrase');
    expect(kinds(words.join(',').toUpperCase())).toContain('seed-phrase');
    expect(urlKinds('search.example.com', `/q?text=${words.join('+')}`)).toContain('seed-phrase');
    expect(kinds(b64(`backup: ${words.join(' ')}`))).toContain('seed-phrase');
  });

  it('finds an altered phrase (bad checksum) when the text names it', () => {
    const words = mnemonic(12);
    words[11] = words[11] === 'zoo' ? 'zone' : 'zoo';
    const plain = words.join(' ');
    // One altered phrase in 16 still has a valid checksum: only the named form is asserted.
    expect(findSeedPhrase(`my recovery phrase is ${plain}`)).toBe(true);
    expect(findSeedPhrase(`wallet words: ${plain}`)).toBe(true);
  });

  it('leaves prose, code and short runs of list words alone', () => {
    for (const text of [
      'The quick brown fox jumps over the lazy dog and then it runs away into the forest again.',
      'Please review the pull request: it adds a cache, fixes the race in the worker pool, and updates the docs.',
      `abandon ability able about above absent absorb abstract absurd abuse access and more`,
      'const result = await fetch(url, { method: "POST", body: JSON.stringify(payload) });',
      'seed the random generator with a fixed value so the test is stable',
    ]) {
      expect(findSeedPhrase(text), text).toBe(false);
      expect(kinds(text), text).not.toContain('seed-phrase');
    }
  });
});

describe('raw 64-hex private keys', () => {
  it.each([
    ['0x-prefixed in JSON', (k: string) => JSON.stringify({ pk: `0x${k}` })],
    ['bare after a key word', (k: string) => `PRIVATE_KEY=${k}`],
    ['bare with no label at all', (k: string) => k],
    ['in prose', (k: string) => `here is my signer: ${k} thanks`],
    ['camelCase key name', (k: string) => `{"walletPrivateKey":"${k}"}`],
    ['a key field after a digest field', (k: string) => `{"sha256":"${hex(32)}","key":"${k}"}`],
  ])('finds one %s', (_name, make) => {
    expect(kinds(make(hex(32)))).toContain('hex-private-key');
  });

  it('finds one in the URL and in base64', () => {
    expect(urlKinds('hooks.example.org', `/collect?d=${hex(32)}`)).toContain('hex-private-key');
    expect(kinds(b64(`eth key ${hex(32)}`))).toContain('hex-private-key');
  });

  it.each([
    ['an OCI digest', () => `FROM node:20@sha256:${hex(32)}`],
    ['a registry blob path', () => `/v2/library/node/blobs/sha256:${hex(32)}`],
    ['a labelled JSON digest', () => `{"digests":{"sha256":"${hex(32)}"}}`],
    ['a Cargo.lock checksum', () => `checksum = "${hex(32)}"`],
    ['poetry hashes', () => `{file = "x.whl", hash = "sha256:${hex(32)}"}`],
    ['terraform zh: hashes', () => `"zh:${hex(32)}",`],
    ['sha256sum output', () => `${hex(32)}  dist/app-linux-x64.tar.gz`],
    ['a git ref line', () => `${hex(32)}\trefs/heads/main`],
    ['git pkt-line wants (sha256 repos)', () => `004awant ${hex(32)}\n0032have ${hex(32)}\n`],
    ['a test vector in code', () => `expect(digest('abc')).toBe('${hex(32)}');`],
    ['python hexdigest', () => `assert hashlib.sha256(b"").hexdigest() == "${hex(32)}"`],
    ['a constant named for its digest', () => `export const EMPTY_SHA256 = '${hex(32)}';`],
    ['a telemetry user id', () => `{"user":{"userID":"${hex(32)}"}}`],
    [
      'an Ethereum block hash query',
      () => `{"method":"eth_getBlockByHash","params":["0x${hex(32)}"]}`,
    ],
    ['a 40-hex git commit', () => `commit ${hex(20)}`],
    ['a 128-hex sha512', () => `checksum: ${hex(64)}`],
    ['padding and test patterns', () => `key=${'0'.repeat(64)} or ${'ab'.repeat(32)}`],
  ])('leaves %s alone', (_name, make) => {
    const text = make();
    expect(findHexPrivateKey(text), text).toBe(false);
  });
});

describe('US Social Security and routing numbers', () => {
  it('applies the SSN area, group and serial rules', () => {
    expect(ssnValid('219', '09', '9999')).toBe(true);
    for (const [a, g, s] of [
      ['000', '12', '3456'],
      ['666', '12', '3456'],
      ['912', '12', '3456'],
      ['219', '00', '3456'],
      ['219', '09', '0000'],
    ] as const) {
      expect(ssnValid(a, g, s), `${a}-${g}-${s}`).toBe(false);
    }
  });

  it('finds a written SSN, and a plain one where the text names it', () => {
    expect(kinds('applicant id: 219-09-9999')).toContain('us-ssn');
    expect(kinds(JSON.stringify({ social_security_number: '287654321' }))).toContain('us-ssn');
    expect(kinds('SSN 287 65 4321')).toContain('us-ssn');
    expect(kinds(`&#50;&#49;&#57;-09-9999`)).toContain('us-ssn');
  });

  it('leaves phone numbers, dates, ids and invalid SSNs alone', () => {
    for (const text of [
      'call 555-123-4567 or (555) 987-6543',
      'released 2024-11-05, build 1234-56-78901',
      'ISBN 978-3-16-148410-0, zip 94107-1234, part 12-345-6789',
      'order 123456789 shipped',
      'ssn 666-12-3456 is not valid, nor is 900-12-3456 or 219-00-1234',
      'uuid 123e4567-e89b-12d3-a456-426614174000',
      'range 1-123-45-6789-0',
    ]) {
      expect(findSsn(text), text).toBe(false);
    }
  });

  it('checks routing numbers by prefix, ABA checksum and context', () => {
    expect(abaChecksumValid('011000015')).toBe(true);
    expect(abaChecksumValid('011000016')).toBe(false);
    // Valid checksum but a prefix no Federal Reserve district uses.
    expect(abaChecksumValid('500000005')).toBe(false);
    expect(kinds(JSON.stringify({ bank_routing: '011000015' }))).toContain(
      'us-bank-routing-number',
    );
    expect(kinds('ACH transfer to 011000015 acct 1234')).toContain('us-bank-routing-number');
    // The same nine digits with no banking word near them are an id.
    expect(findRoutingNumber('order 011000015 shipped')).toBe(false);
    expect(findRoutingNumber('routing number 011000016')).toBe(false);
  });
});

describe('Basic and URL-userinfo credentials', () => {
  it('reads Basic headers and refuses ones it cannot read', () => {
    expect(basicAuthValue(`Basic ${b64('deploy:S3cr3t!pass9')}`)).toBe(true);
    expect(basicAuthValue(`basic   ${b64('corp\\jdoe:Winter2026!')}`)).toBe(true);
    expect(basicAuthValue('Basic %%%not-base64%%%')).toBe(true);
    expect(basicAuthValue(`Basic ${b64('user:')}`)).toBe(false);
    expect(basicAuthValue(`Basic ${b64('user:${PASSWORD}')}`)).toBe(false);
    expect(basicAuthValue('Bearer abc')).toBe(false);
  });

  it('reports Basic credentials in an unrouted Authorization or Proxy-Authorization header', () => {
    const auth = `Basic ${b64('deploy:S3cr3t!pass9')}`;
    for (const h of ['authorization', 'Proxy-Authorization']) {
      expect(scanner.scanHeaders({ [h]: auth }, new Set()).map((f) => f.kind)).toContain(
        'basic-auth-credentials',
      );
    }
    // A routed host's credential headers are skipped by the proxy: the route injected them.
    expect(scanner.scanHeaders({ authorization: auth }, new Set(['authorization']))).toEqual([]);
  });

  it('finds user:pass base64 in bodies, with or without the Basic word', () => {
    expect(kinds(`curl -H "Authorization: Basic ${b64('admin:hunter22')}"`)).toContain(
      'basic-auth-credentials',
    );
    expect(
      kinds(JSON.stringify({ auths: { 'ghcr.io': { auth: b64(`bot:${token(20)}`) } } })),
    ).toContain('basic-auth-credentials');
    expect(kinds(JSON.stringify({ note: b64('see you at 10:30 tomorrow') }))).not.toContain(
      'basic-auth-credentials',
    );
  });

  it('finds passwords and tokens in URL userinfo anywhere', () => {
    expect(findUrlUserinfo(`git clone https://ci-bot:${token(16)}@git.corp.example/app.git`)).toBe(
      true,
    );
    expect(findUrlUserinfo('ftp://admin:pw1@[::1]/')).toBe(true);
    expect(findUrlUserinfo(`https://${token(40)}@github.com/acme/app.git`)).toBe(true);
    expect(
      scanner
        .scanHeaders({ referer: `https://admin:${token(10)}@dash.example.com/` }, new Set())
        .map((f) => f.kind),
    ).toContain('url-credentials');
    expect(kinds(encodeURIComponent(`https://u:${token(12)}@h.example/`))).toContain(
      'url-credentials',
    );
  });

  it('leaves placeholders, plain users and other @ forms alone', () => {
    for (const text of [
      'postgres://app:${DB_PASSWORD}@localhost:5432/app',
      'psql postgres://user:<password>@db.example.com/app',
      'https://user:password@example.com in the docs',
      'ssh://git@github.com/acme/app.git and git@github.com:acme/app.git',
      'https://deploy@example.com/path',
      'mailto:someone@example.com',
      'https://example.com/@scope/pkg',
    ]) {
      expect(findUrlUserinfo(text), text).toBe(false);
      expect(kinds(text), text).not.toContain('url-credentials');
    }
  });
});

describe('secrets by name (entropy in context)', () => {
  it.each([
    ['a JSON client secret', () => JSON.stringify({ client_secret: token(40) })],
    ['a YAML hex token', () => `api_token: ${hex(20)}\n`],
    ['a form field', () => `grant_type=x&refresh_token=${token(32)}`],
    ['a Bearer header copied into a body', () => `{"Authorization":"Bearer ${token(36)}"}`],
    ['a session token in a WebSocket frame', () => `{"op":"hello","session_token":"${token(32)}"}`],
    ['camelCase', () => `const apiKey = "${token(32)}";`],
  ])('finds %s', (_name, make) => {
    expect(kinds(make())).toContain('secret-assignment');
  });

  it.each([
    ['UUIDs', () => JSON.stringify({ session_id: '550e8400-e29b-41d4-a716-446655440000' })],
    ['numbers', () => JSON.stringify({ max_tokens: 32000, input_tokens: 1234567890123 })],
    ['placeholders', () => 'API_KEY=${ANTHROPIC_API_KEY}\nSESSION_SECRET=change-me'],
    [
      'names and paths',
      () => JSON.stringify({ key: 'compilerOptions.strict', cookie_name: 'session.sid.v2' }),
    ],
    ['a public client key', () => JSON.stringify({ api_key: `phc_${token(43)}` })],
    [
      'a thinking signature',
      () => JSON.stringify({ type: 'thinking', signature: b64(token(200)) }),
    ],
    [
      'package-lock integrity',
      () => JSON.stringify({ integrity: `sha512-${randomBytes(64).toString('base64')}` }),
    ],
    ['git SHAs', () => `{"sha":"${hex(20)}","tree":{"sha":"${hex(20)}"}}`],
    [
      'an id-only JSON',
      () => JSON.stringify({ id: `msg_01${token(22)}`, tool_use_id: `toolu_01${token(22)}` }),
    ],
  ])('leaves %s alone', (_name, make) => {
    const text = make();
    expect(findSecretAssignment(text), text).toBe(false);
  });

  it('does not judge a Cookie header by its names: a site gets its own session back', () => {
    const f = scanner.scanHeaders({ cookie: `sessionid=${token(32)}` }, new Set());
    expect(f.map((x) => x.kind)).not.toContain('secret-assignment');
  });
});

describe('URLs carried in headers and bodies', () => {
  it('judges a Referer, Origin, Location or any URL in a header as a URL', () => {
    const f = (h: Record<string, string>): string[] =>
      scanner.scanHeaders(h, new Set()).map((x) => x.kind);
    expect(f({ referer: `https://app.example.com/s/${token(36)}` })).toContain('entropy');
    expect(f({ location: `https://cb.example.net/r?q=${token(32)}` })).toContain('entropy');
    expect(f({ 'x-callback': `https://cb.example.net/r?q=${token(32)}` })).toContain('entropy');
    expect(f({ referer: 'https://7365637265745f6170695f6b6579.evil.com/' })).toContain(
      'hostname-encoding',
    );
    expect(
      f({ referer: 'https://docs.python.org/3/library/asyncio-task.html?highlight=gather' }),
    ).toEqual([]);
    expect(f({ origin: 'https://app.example.com' })).toEqual([]);
  });

  it('judges URLs inside bodies', () => {
    expect(kinds(JSON.stringify({ next: `https://c.example.org/p/${token(36)}` }))).toContain(
      'entropy',
    );
    expect(kinds('see https://github.com/acme/app/blob/main/src/index.ts#L10')).toEqual([]);
    expect(kinds(`[report](https://share.example.com/view?k=${token(40)}).`)).toContain('entropy');
    expect(kinds('(see https://docs.python.org/3/library/asyncio.html).')).toEqual([]);
  });
});

describe('encodings the scanner decodes', () => {
  const key = 'AKIAIOSFODNN7EXAMPLE';

  it('decodes HTML references: decimal, hex, named, unterminated, stacked', () => {
    expect(decodeHtmlEntities('&#65;&#x4b;&#X49;&amp;&lt;&colon;&#65')).toBe('AKI&<:A');
    expect(decodeHtmlEntities('no references')).toBeUndefined();
    expect(decodeHtmlEntities('&bogus; stays')).toBeUndefined();
    const dec = key
      .split('')
      .map((c) => `&#${c.charCodeAt(0)};`)
      .join('');
    expect(kinds(dec)).toContain('aws-access-key-id');
    expect(kinds(dec.replace(/&/g, '&amp;'))).toContain('aws-access-key-id');
    expect(urlKinds('search.example.com', `/q?s=${encodeURIComponent(dec)}`)).toContain(
      'aws-access-key-id',
    );
    expect(kinds('<p>Tom &amp; Jerry &lt;3 &#8212; &quot;docs&quot;</p>')).toEqual([]);
  });

  it('decodes JavaScript and JSON escapes, also escaped twice', () => {
    expect(decodeJsEscapes('\\u0041\\x42\\u{43}')).toBe('ABC');
    const esc = key
      .split('')
      .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
      .join('');
    expect(kinds(esc)).toContain('aws-access-key-id');
    expect(kinds(JSON.stringify({ s: esc }))).toContain('aws-access-key-id');
    expect(kinds('const s = "caf\\u00e9 \\u2014 ok"; const re = /\\x41-\\x5a/;')).toEqual([]);
  });

  it('decodes base64 at every alignment, with text around the key', () => {
    for (const prefix of ['', 'x', 'xy', 'xyz']) {
      expect(kinds(`${prefix}${b64(`note: my key is ${key} ok`)}`), prefix).toContain(
        'aws-access-key-id',
      );
    }
    expect(kinds(b64(`\u0000\u0001\u0002binary header then ${key} and more`))).toContain(
      'aws-access-key-id',
    );
  });

  it('joins base64 wrapped over lines, also with JSON \\n escapes', () => {
    const wrapped = b64(`config dump\nGITHUB_TOKEN=ghp_${'A1b2C3d4E5'.repeat(4)}\nmore`);
    expect(kinds(wrapped.replace(/(.{20})/g, '$1\n'))).toContain('github-token');
    expect(kinds(JSON.stringify({ m: wrapped.replace(/(.{16})/g, '$1\r\n') }))).toContain(
      'github-token',
    );
    expect(wrappedBase64('short words here\nand there')).toEqual([]);
  });

  it('decodes punycode host labels before judging them', () => {
    expect(hostToUnicode('xn--pple-43d.com')).toBe('аpple.com');
    expect(hostToUnicode('XN--ZZ.example.com')).toBeUndefined();
    expect(hostnameFinding('login.xn--pple-43d.example.com')).toBe('mixed-script label');
    expect(hostnameFinding('xn--zz.cdn.example.com')).toBe('undecodable punycode label');
    const label = domainToASCII('7365637265745f6b6579é.cdn.example.com');
    expect(hostnameFinding(label)).toBe('hex-encoded label');
    // Single-script international names are ordinary.
    expect(hostnameFinding('www.xn--mnchen-3ya.de')).toBeUndefined();
    expect(hostnameFinding('xn--80ak6aa92e.com')).toBeUndefined();
    expect(hostnameFinding('shop.xn--bcher-kva.example')).toBeUndefined();
  });
});

describe('random tokens versus structured binary in URLs', () => {
  function dnsQuery(name: string, padded: boolean): string {
    const parts = [Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, padded ? 1 : 0])];
    for (const l of name.split('.')) parts.push(Buffer.from([l.length]), Buffer.from(l));
    parts.push(Buffer.from([0, 0, 1, 0, 1]));
    if (padded) parts.push(Buffer.from([0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 4, 0, 12, 0, 0]));
    return Buffer.concat(parts).toString('base64url');
  }

  it('passes DNS-over-HTTPS queries for ordinary names', () => {
    for (const name of [
      'registry.npmjs.org',
      'objects.githubusercontent.com',
      'api.anthropic.com',
    ]) {
      for (const padded of [false, true]) {
        const q = dnsQuery(name, padded);
        expect(dnsQuestionNames(Buffer.from(q, 'base64url'))).toEqual([name]);
        expect(urlKinds('dns.google', `/dns-query?dns=${q}`), name).toEqual([]);
      }
    }
  });

  it('judges the name a DNS query asks for, as a host name', () => {
    const q = dnsQuery('6d792d7365637265742d6b6579.exfil.example.net', false);
    expect(urlKinds('dns.google', `/dns-query?dns=${q}`)).toContain('hostname-encoding');
  });

  it('tells structured binary from random bytes', () => {
    for (let i = 0; i < 50; i++) {
      const r = randomBytes(32);
      expect(structuredBinary(r)).toBe(false);
    }
    expect(
      protobufMessage(Buffer.from('EgZjaHJvbWUqBggBEEUYOzIGCAAQRRg5MgYIARBFGDs', 'base64')),
    ).toBe(true);
    // A random key wrapped in a protobuf string field is still a random key.
    const inner = token(32);
    const pb = Buffer.concat([
      Buffer.from([0x0a, inner.length]),
      Buffer.from(inner),
      Buffer.from([0x10, 1, 0x18, 2]),
    ]);
    expect(randomToken(pb.toString('base64url'))).toBe(true);
    expect(randomToken(token(32))).toBe(true);
    expect(randomToken('API_ListObjectsV2.html')).toBe(false);
    expect(randomToken(`${token(32)}.png`)).toBe(true);
  });
});

describe('private targets nested in an allowed URL', () => {
  it.each([
    '/proxy?url=http://169.254.169.254/latest/meta-data/',
    '/check?target=10.0.0.5:8080',
    '/login?redirect=http%3A%2F%2Flocalhost%3A2375%2Fcontainers%2Fjson',
    '/r?u=http%253A%252F%252F127.0.0.1%252F',
    '/fetch?u=http://0xA9FEA9FE/latest/',
    '/get?url=http://2130706433/',
    '/get?url=http://0177.0.0.1/',
    '/fetch/http://[::ffff:127.0.0.1]:8080/admin',
    '/fetch?host=[fd00:ec2::254]',
    '/hook?to=//192.168.1.1/admin',
    '/x?target=::ffff:10.0.0.1',
    '/x?to=http://metadata.google.internal/computeMetadata/v1/',
    '/x?callback=http://host.docker.internal:8080/',
  ])('finds %s', (path) => {
    expect(nestedPrivateTarget(path), path).toBeDefined();
    expect(urlKinds('relay.example.com', path)).toContain('nested-private-target');
  });

  it.each([
    '/packages/foo/10.2.3/download',
    '/simple/pkg/0.1.2/',
    '/search?time=10:30&page=2',
    '/items?id=2130706433',
    '/docs?fields=metadata,name',
    '/proxy?url=https://registry.npmjs.org/react',
    '/r?next=%2Fsettings%2Fprofile',
    '/v1/models/claude-sonnet-4',
    '/x?url=http://93.184.216.34/',
  ])('leaves %s alone', (path) => {
    expect(nestedPrivateTarget(path), path).toBeUndefined();
  });
});

describe('detector matches for redaction', () => {
  it('locates every plain occurrence of what the detectors find', () => {
    const key = hex(32);
    const phrase = mnemonic(12).join(' ');
    const secret = token(40);
    const text = [
      `PRIVATE_KEY=${key}`,
      `again ${key}`,
      `backup: ${phrase}`,
      'applicant 219-09-9999 and SSN 287654321',
      `{"client_secret":"${secret}"}`,
      `https://ci:${token(16)}@git.example.com/x.git`,
    ].join('\n');
    const found = detectorMatches(text);
    const of = (kind: string): string[] => found.filter((f) => f.kind === kind).map((f) => f.match);
    expect(of('hex-private-key')).toEqual([key]);
    expect(of('seed-phrase')).toEqual([phrase]);
    expect(of('us-ssn')).toEqual(['219-09-9999', '287654321']);
    expect(of('secret-assignment')).toContain(secret);
    expect(of('url-credentials')[0]).toMatch(/^https:\/\/ci:.*@git\.example\.com$/);
    let redacted = text;
    for (const f of found) redacted = redacted.split(f.match).join(`[REDACTED ${f.kind}]`);
    expect(kinds(redacted)).toEqual([]);
  });
});

describe('LLM redaction of what the detectors find', () => {
  it('redacts keys, phrases, SSNs and tokens in URLs instead of refusing the call', () => {
    const key = hex(32);
    const phrase = mnemonic(12).join(' ');
    const link = `https://share.example.com/view?k=${token(40)}`;
    const text = `PRIVATE_KEY=${key}\nbackup: ${phrase}\nSSN 219-09-9999\nsee ${link}\n`;
    const body = JSON.stringify({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: text }] },
      ],
    });
    const r = redactBody(new Scanner([]), Buffer.from(body));
    expect(r.residual).toEqual([]);
    expect(Object.keys(r.redactions).sort()).toEqual(
      ['entropy', 'hex-private-key', 'seed-phrase', 'us-ssn'].sort(),
    );
    const out = r.body.toString();
    for (const secret of [key, phrase, '219-09-9999', link.split('=')[1] ?? '']) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('https://share.example.com/view?k=[REDACTED entropy]');
  });
});
