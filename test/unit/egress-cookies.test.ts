import { describe, expect, it } from 'vitest';
import { CookieLedger, registrableDomain, setCookieValue } from '../../src/egress/cookies.js';

const SID = 'Zx81QpL0vTn3Ka7WmR2cYe5UbH9dGf4J';

describe('cookie ledger', () => {
  it('approximates the registrable domain', () => {
    expect(registrableDomain('api.github.com')).toBe('github.com');
    expect(registrableDomain('GitHub.com.')).toBe('github.com');
    expect(registrableDomain('www.bbc.co.uk')).toBe('bbc.co.uk');
    expect(registrableDomain('shop.example.com.au')).toBe('example.com.au');
    expect(registrableDomain('10.0.0.5')).toBe('10.0.0.5');
    expect(registrableDomain('localhost')).toBe('localhost');
    // Tenants of a hosting suffix are sites of their own.
    expect(registrableDomain('alice.github.io')).toBe('alice.github.io');
    expect(registrableDomain('www.bob.herokuapp.com')).toBe('bob.herokuapp.com');
    expect(registrableDomain('github.io')).toBe('github.io');
  });

  it('reads the value of a Set-Cookie header, skipping deletions and plain values', () => {
    expect(setCookieValue(`sid=${SID}; Path=/; HttpOnly; Secure`)).toBe(SID);
    expect(setCookieValue(`sid="${SID}"; Path=/`)).toBe(SID);
    expect(setCookieValue(`sid=${SID}; Max-Age=0`)).toBeUndefined();
    expect(setCookieValue(`sid=${SID}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`)).toBeUndefined();
    expect(setCookieValue('lang=en; Path=/')).toBeUndefined();
    expect(setCookieValue('consent=true')).toBeUndefined();
    expect(setCookieValue('garbage')).toBeUndefined();
    // Near misses: words, flags and timestamps occur in ordinary text; they identify nobody.
    expect(setCookieValue('theme=darkmode')).toBeUndefined();
    expect(setCookieValue('consent=yes-all-accepted')).toBeUndefined();
    expect(setCookieValue('seen=1700000000123')).toBeUndefined();
    expect(setCookieValue('id=ab12')).toBeUndefined();
  });

  function ledger(): CookieLedger {
    const l = new CookieLedger();
    l.observeResponse('app.example-bank.com', [`sid=${SID}; Path=/; HttpOnly`, 'lang=en']);
    return l;
  }

  it('reports a cookie of one site carried to another, wherever it is carried', () => {
    const l = ledger();
    const b64 = Buffer.from(`sid=${SID};`).toString('base64');
    for (const text of [
      `sid=${SID}`,
      `/c?v=${SID}`,
      JSON.stringify({ d: b64 }),
      encodeURIComponent(`{"c":"${SID}"}`),
      Buffer.from(SID).toString('hex'),
    ]) {
      expect(l.check('collect.other-site.net', [text]), text).toEqual([
        { kind: 'cross-site-cookie', where: 'request (a cookie of example-bank.com)' },
      ]);
    }
    expect(l.check('x.other.net', [{ where: 'header cookie', text: `a=${SID}` }])[0]?.where).toBe(
      'header cookie (a cookie of example-bank.com)',
    );
  });

  it('lets a site have its own cookies back, on any of its hosts', () => {
    const l = ledger();
    expect(l.check('app.example-bank.com', [`sid=${SID}`])).toEqual([]);
    expect(l.check('api.example-bank.com', [`sid=${SID}`])).toEqual([]);
    expect(l.check('other.net', ['lang=en', 'sid=something-else-entirely'])).toEqual([]);
  });

  it('does not treat a value two sites both set as one site leaking to the other', () => {
    const l = ledger();
    l.observeResponse('www.partner.com', [`shared=${SID}`]);
    expect(l.check('www.partner.com', [`x=${SID}`])).toEqual([]);
    expect(l.check('third.net', [`x=${SID}`])).toHaveLength(2);
  });

  it('keeps sub-domains of a two-level public suffix apart', () => {
    const l = new CookieLedger();
    l.observeResponse('www.alpha.co.uk', [`sid=${SID}`]);
    expect(l.check('shop.alpha.co.uk', [SID])).toEqual([]);
    expect(l.check('www.beta.co.uk', [SID])).toHaveLength(1);
  });

  it('keeps a session cookie however often the site rotates another cookie', () => {
    const l = ledger();
    // A tracking cookie renewed on every response (which an agent can provoke at will).
    for (let i = 0; i < 1000; i++)
      l.observeResponse('app.example-bank.com', [`_t=trk${i}x9Qm2LpZ4`]);
    expect(l.check('other.net', [SID])).toHaveLength(1);
    // A rotated session keeps its last few values: an old one may still be valid.
    l.observeResponse('app.example-bank.com', ['sid=Rot4tedSess10nValue2']);
    expect(l.check('other.net', [SID])).toHaveLength(1);
    expect(l.check('other.net', ['Rot4tedSess10nValue2'])).toHaveLength(1);
  });

  it('lists the values a host must not receive, by the site that set them', () => {
    const l = ledger();
    expect(l.foreignTo('www.example-bank.com')).toEqual([]);
    const f = l.foreignTo('paste.example.org');
    expect(f.map((x) => x.site)).toEqual(['example-bank.com']);
    expect(f[0]?.forms).toContain(SID);
    expect(f[0]?.forms).toContain(Buffer.from(SID).toString('hex'));
  });

  it('accepts one Set-Cookie string, none, and bounds what it remembers', () => {
    const l = new CookieLedger();
    l.observeResponse('a.com', undefined);
    l.observeResponse('a.com', `sid=${SID}`);
    expect(l.check('b.com', [SID])).toHaveLength(1);
    for (let i = 0; i < 200; i++) l.observeResponse('a.com', [`c${i}=value-number-${i}-xyz`]);
    // The oldest values are forgotten first once a site has set many.
    expect(l.check('b.com', [SID])).toEqual([]);
    expect(l.check('b.com', ['value-number-199-xyz'])).toHaveLength(1);
  });
});

describe('cookie findings in the decision core', () => {
  it('are findings of the request verdict on another site only, and survive a policy change', async () => {
    const { createCa } = await import('../../src/egress/ca.js');
    const { emptyPolicy } = await import('../../src/egress/config.js');
    const { buildState } = await import('../../src/egress/state.js');
    const { requestVerdict } = await import('../../src/egress/decide/request.js');
    const ca = await createCa('cookies');
    const secrets = { caCertPem: ca.certPem, caKeyPem: ca.keyPem, upstreamCaPem: '', values: {} };
    const policy = { ...emptyPolicy('demo'), allow: ['*.example-bank.com', 'paste.example.org'] };
    let state = buildState(policy, secrets);
    state.cookies.observeResponse('app.example-bank.com', [`sid=${SID}; Secure`]);
    state = buildState({ ...policy, revision: 2 }, secrets, state);
    const facts = (host: string, cookie: string) => ({
      target: { scheme: 'http' as const, host, port: 80 },
      servername: undefined,
      method: 'GET',
      rawTarget: '/',
      headers: { host, cookie },
    });
    const away = requestVerdict(state, facts('paste.example.org', `sid=${SID}`));
    expect(away).toMatchObject({
      kind: 'allow',
      findings: [
        { kind: 'cross-site-cookie', where: 'header cookie (a cookie of example-bank.com)' },
      ],
    });
    const home = requestVerdict(state, facts('api.example-bank.com', `sid=${SID}`));
    expect(home).toMatchObject({ kind: 'allow', findings: [] });
  });
});
