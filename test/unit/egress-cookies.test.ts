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
  });

  it('reads the value of a Set-Cookie header, skipping deletions and plain values', () => {
    expect(setCookieValue(`sid=${SID}; Path=/; HttpOnly; Secure`)).toBe(SID);
    expect(setCookieValue(`sid="${SID}"; Path=/`)).toBe(SID);
    expect(setCookieValue(`sid=${SID}; Max-Age=0`)).toBeUndefined();
    expect(setCookieValue(`sid=${SID}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`)).toBeUndefined();
    expect(setCookieValue('lang=en; Path=/')).toBeUndefined();
    expect(setCookieValue('consent=true')).toBeUndefined();
    expect(setCookieValue('garbage')).toBeUndefined();
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
