import { describe, expect, it } from 'vitest';
import { createCa, LeafMinter } from '../../src/egress/ca.js';
import { X509Certificate } from 'node:crypto';
import {
  endsWithTokenFragment,
  highEntropyToken,
  hostnameFinding,
  Scanner,
  secretForms,
} from '../../src/egress/dlp.js';
import { base58Check, ibanValid, luhn, SECRET_PATTERNS } from '../../src/egress/dlp-patterns.js';
import { emptyPolicy } from '../../src/egress/config.js';
import { decideHost, decideRequest, refusalText } from '../../src/egress/policy.js';
import { forbiddenRange, ipLiteral } from '../../src/egress/ssrf.js';
import { redactPath } from '../../src/egress/audit.js';
import { parseOverride } from '../../src/egress/upstream.js';

const kinds = (s: Scanner, text: string): string[] => s.scanText(text, 'body').map((f) => f.kind);

describe('secret scanner', () => {
  const scanner = new Scanner(['my-bottle-secret-value-123']);

  it('knows at least 40 secret formats across cloud, AI, VCS, payment, keys and tokens', () => {
    expect(SECRET_PATTERNS.length).toBeGreaterThanOrEqual(40);
    const cats = new Set(SECRET_PATTERNS.map((p) => p.category));
    for (const c of ['cloud', 'ai', 'vcs', 'payment', 'key', 'token']) expect(cats).toContain(c);
  });

  it.each([
    ['aws-access-key-id', 'key=AKIAIOSFODNN7EXAMPLE'],
    ['anthropic-key', 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789'],
    ['openai-project-key', 'sk-proj-abcdefghijklmnopqrstuvwxyz012345'],
    ['github-token', 'ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij'],
    ['gitlab-token', 'glpat-abcdefghijklmnopqrst'],
    ['stripe-key', 'sk_live_abcdefghijklmnopqrstuvwx'],
    ['slack-token', 'xoxb-1234567890-abcdefghij'],
    ['private-key', '-----BEGIN OPENSSH PRIVATE KEY-----\nabc'],
    ['jwt', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N'],
    ['payment-card-number', 'card 4111 1111 1111 1111 exp'],
    ['iban', 'GB82WEST12345698765432'],
    ['bitcoin-wif-private-key', '5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ'],
    ['url-credentials', 'https://admin:hunter22@db.example.com/'],
  ])('finds %s', (name, text) => {
    expect(kinds(scanner, text)).toContain(name);
  });

  it('finds secrets hidden by base64, hex and repeated URL encoding', () => {
    const key = 'AKIAIOSFODNN7EXAMPLE';
    expect(kinds(scanner, Buffer.from(key).toString('base64'))).toContain('aws-access-key-id');
    expect(kinds(scanner, Buffer.from(key).toString('hex'))).toContain('aws-access-key-id');
    const twice = encodeURIComponent(
      encodeURIComponent(key).replace(/[A-Z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16)}`),
    );
    expect(kinds(scanner, twice)).toContain('aws-access-key-id');
  });

  it("finds the bottle's own secret raw, URL-encoded, base64 at any offset, and hex", () => {
    const secret = 'my-bottle-secret-value-123';
    for (const shift of ['', 'a', 'ab']) {
      const text = Buffer.from(`${shift}${secret}!!`).toString('base64');
      expect(kinds(scanner, `{"x":"${text}"}`), shift).toContain('bottle-secret');
    }
    expect(kinds(scanner, encodeURIComponent(secret))).toContain('bottle-secret');
    expect(kinds(scanner, Buffer.from(secret).toString('hex').toUpperCase())).toContain(
      'bottle-secret',
    );
    expect(secretForms('short')).toEqual([]);
  });

  it('leaves ordinary traffic alone', () => {
    for (const text of [
      '{"model":"claude-sonnet","messages":[{"role":"user","content":"fix the failing test in src/app.ts"}]}',
      'commit 3f786850e387550fdab836ed7e6dc881de23001b',
      'id 550e8400-e29b-41d4-a716-446655440000 and 4111 is a number',
      'const apiKey = process.env.API_KEY;',
    ]) {
      expect(kinds(scanner, text), text).toEqual([]);
    }
    expect(scanner.scanUrl('api.github.com', '/repos/golang/go/issues?state=open&page=2')).toEqual(
      [],
    );
  });

  it('flags random tokens in URL segments and encoded host labels, not images or UUIDs', () => {
    expect(
      scanner
        .scanUrl('evil.example', '/api/x7Kp2mQ9vR4sL8nW1bY6cT3fA0jH5dE/status')
        .map((f) => f.kind),
    ).toContain('entropy');
    expect(highEntropyToken('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk')).toBe(
      false,
    );
    expect(highEntropyToken('550e8400-e29b-41d4-a716-446655440000')).toBe(false);
    expect(hostnameFinding('7365637265745f6170695f6b6579.exfil.evil.com')).toBe(
      'hex-encoded label',
    );
    expect(hostnameFinding('jbswy3dpehpk3pxp.exfil.evil.com')).toBe('base32-encoded label');
    expect(hostnameFinding('a.b.c.d.e.evil.com')).toBe('deep sub-domain chain');
    expect(hostnameFinding('cdnjs.cloudflare.com')).toBeUndefined();
    expect(hostnameFinding('objects.githubusercontent.com')).toBeUndefined();
  });

  it('spots a token cut at the end of a message', () => {
    expect(endsWithTokenFragment('part1: ghp_ABCDEFGHIJKLMN')).toBe(true);
    expect(endsWithTokenFragment('sk-test-')).toBe(false);
    expect(endsWithTokenFragment('the ghp_ prefix marks GitHub tokens')).toBe(false);
  });

  it('verifies checksums instead of trusting shapes', () => {
    expect(luhn('4111111111111111')).toBe(true);
    expect(luhn('4111111111111112')).toBe(false);
    expect(ibanValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanValid('GB82WEST12345698765433')).toBe(false);
    expect(base58Check('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa')).toBe(true);
    expect(base58Check('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb')).toBe(false);
  });
});

describe('private-address guard', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['10.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['100.100.100.200', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
  ])('refuses %s (%s)', (addr, range) => {
    expect(forbiddenRange(addr)).toBe(range);
  });

  it('lets public addresses and names through', () => {
    expect(forbiddenRange('93.184.216.34')).toBeUndefined();
    expect(forbiddenRange('2001:4860:4860::8888')).toBeUndefined();
    expect(ipLiteral('api.anthropic.com')).toBeUndefined();
  });

  it('reads the host map: address, port, host-gateway', () => {
    expect(parseOverride('10.0.0.5:8443')).toEqual({ address: '10.0.0.5', port: 8443 });
    expect(parseOverride('host-gateway')).toEqual({
      address: 'host.docker.internal',
      port: undefined,
    });
    expect(parseOverride('gw.corp.example')).toEqual({
      address: 'gw.corp.example',
      port: undefined,
    });
  });
});

describe('policy', () => {
  const p = {
    ...emptyPolicy('demo'),
    allow: ['*.github.com', 'api.example.com:8443'],
    deny: ['gist.github.com'],
    passthrough: ['pinned.github.com'],
    rules: [{ host: 'api.github.com', methods: ['GET'], paths: ['/repos/acme/'] }],
  };

  it('lets deny win, needs an allow, honours ports and passthrough', () => {
    expect(decideHost(p, 'gist.github.com', 443)).toMatchObject({
      allowed: false,
      rule: 'deny gist.github.com',
    });
    expect(decideHost(p, 'github.com', 443)).toMatchObject({
      allowed: false,
      rule: 'no-allow-match',
    });
    expect(decideHost(p, 'api.example.com', 443)).toMatchObject({ allowed: false });
    expect(decideHost(p, 'api.example.com', 8443)).toMatchObject({
      allowed: true,
      passthrough: false,
    });
    expect(decideHost(p, 'pinned.github.com', 443)).toMatchObject({
      allowed: true,
      passthrough: true,
    });
  });

  it('narrows a host to its method/path rules', () => {
    expect(decideRequest(p, 'api.github.com', 443, 'GET', '/repos/acme/x')).toMatchObject({
      allowed: true,
    });
    expect(decideRequest(p, 'api.github.com', 443, 'DELETE', '/repos/acme/x')).toMatchObject({
      allowed: false,
    });
    expect(decideRequest(p, 'api.github.com', 443, 'GET', '/repos/other/x')).toMatchObject({
      allowed: false,
    });
    expect(decideRequest(p, 'raw.github.com', 443, 'DELETE', '/')).toBeUndefined();
  });

  it('says in a refusal what was refused, by which rule, and how to ask', () => {
    const t = refusalText('demo', 'evil.example:443', 'no-allow-match', 'not allowed');
    expect(t).toContain('refused evil.example:443');
    expect(t).toContain('rule: no-allow-match');
    expect(t).toContain("'egress-block'");
    expect(t).toContain('bot-bottle egress allow demo');
  });

  it('logs paths without query values', () => {
    expect(redactPath('/search?q=secret&page=2#frag')).toBe('/search?q=&page=');
    expect(redactPath('/plain')).toBe('/plain');
  });
});

describe('per-bottle CA', () => {
  it('mints short-lived leaves for names and addresses, cached per host', async () => {
    const ca = await createCa('demo');
    expect(ca.keyPem).toContain('PRIVATE KEY');
    const caCert = new X509Certificate(ca.certPem);
    expect(caCert.ca).toBe(true);
    expect(caCert.subject).toContain('demo');
    const m = new LeafMinter(ca);
    const a = await m.leaf('api.example.com');
    expect(await m.leaf('API.example.com')).toBe(a);
    const leaf = new X509Certificate(a.certPem);
    expect(leaf.subjectAltName).toBe('DNS:api.example.com');
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    const hours = (Date.parse(leaf.validTo) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(40);
    expect(hours).toBeLessThan(49);
    expect(new X509Certificate((await m.leaf('93.184.216.34')).certPem).subjectAltName).toBe(
      'IP Address:93.184.216.34',
    );
  });
});
