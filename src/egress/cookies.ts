import { secretForms, type Finding } from './dlp.js';
import { shannon } from './entropy.js';
import { ipLiteral } from './ssrf.js';

/**
 * Cookies of one site carried to another. A session cookie a site set is a
 * credential for that site; an agent that copies it into a request to a
 * different site (in a Cookie header, the URL, another header or the body,
 * raw or encoded) is moving a login out. The ledger remembers the values
 * each site set (Set-Cookie in responses) and reports a request to another
 * site that carries one.
 *
 * "Site" is the registrable domain, approximated without the public suffix
 * list: the last two labels (`api.github.com` -> `github.com`), or the last
 * three when the last two are a known two-level public suffix (`co.uk`,
 * `com.au`, ...); an address literal is its own site. The approximation
 * errs on the side of one site: hosts under a multi-tenant suffix not
 * listed here (`*.herokuapp.com`) count as one site, so a cookie moved
 * between two tenants there is not reported.
 */

const TWO_LEVEL_SUFFIXES = new Set(
  (
    'co.uk org.uk ac.uk gov.uk me.uk ltd.uk plc.uk net.uk sch.uk nhs.uk ' +
    'com.au net.au org.au edu.au gov.au asn.au id.au co.nz org.nz net.nz govt.nz ac.nz ' +
    'co.jp ne.jp or.jp ac.jp go.jp co.kr or.kr ne.kr go.kr com.cn net.cn org.cn gov.cn edu.cn ' +
    'com.br net.br org.br gov.br com.mx org.mx gob.mx com.ar com.tr org.tr gov.tr co.in net.in ' +
    'org.in gov.in ac.in co.za org.za gov.za ac.za com.sg edu.sg gov.sg com.hk org.hk edu.hk ' +
    'com.tw org.tw edu.tw co.il org.il ac.il co.id or.id ac.id com.my com.ph com.vn com.ua ' +
    'com.pl com.es com.pt co.th in.th com.sa com.eg com.ng co.ke'
  ).split(' '),
);

export function registrableDomain(host: string): string {
  const h = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (ipLiteral(h) !== undefined) return h;
  const labels = h.split('.');
  const lastTwo = labels.slice(-2).join('.');
  return labels.length >= 3 && TWO_LEVEL_SUFFIXES.has(lastTwo)
    ? labels.slice(-3).join('.')
    : lastTwo;
}

/** Values too short or too plain to identify anyone (`1`, `true`, `en-US`) are not remembered. */
function identifying(value: string): boolean {
  return value.length >= 8 && shannon(value) >= 2.5;
}

/** The value of one `Set-Cookie` header, unquoted; undefined for a deletion or a plain value. */
export function setCookieValue(header: string): string | undefined {
  const [pair = '', ...attrs] = header.split(';');
  const eq = pair.indexOf('=');
  if (eq < 1) return undefined;
  let value = pair.slice(eq + 1).trim();
  if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
  const deleting = attrs.some((a) => {
    const [k = '', v = ''] = a.trim().split('=');
    return (
      (k.toLowerCase() === 'max-age' && Number(v) <= 0) ||
      (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now())
    );
  });
  return deleting || !identifying(value) ? undefined : value;
}

export interface LabelledText {
  where: string;
  text: string;
}

const MAX_SITES = 512;
const MAX_VALUES_PER_SITE = 128;

export class CookieLedger {
  /** site -> cookie value -> the forms to look for (raw, URL-encoded, base64, hex). */
  private readonly bySite = new Map<string, Map<string, string[]>>();

  /** Remembers the cookies a response from `host` set. */
  observeResponse(host: string, setCookieHeaders: string | readonly string[] | undefined): void {
    if (setCookieHeaders === undefined) return;
    const headers = typeof setCookieHeaders === 'string' ? [setCookieHeaders] : setCookieHeaders;
    const site = registrableDomain(host);
    for (const h of headers) {
      const value = setCookieValue(h);
      if (value === undefined) continue;
      let values = this.bySite.get(site);
      if (values === undefined) {
        // Bounded memory: the oldest site is forgotten first.
        if (this.bySite.size >= MAX_SITES) {
          const oldest = this.bySite.keys().next().value;
          if (oldest !== undefined) this.bySite.delete(oldest);
        }
        values = new Map();
        this.bySite.set(site, values);
      }
      values.delete(value);
      if (values.size >= MAX_VALUES_PER_SITE) {
        const oldest = values.keys().next().value;
        if (oldest !== undefined) values.delete(oldest);
      }
      const forms = new Set([value, ...secretForms(value)]);
      try {
        forms.add(decodeURIComponent(value));
      } catch {
        // Not percent-encoded text: the raw value stands.
      }
      values.set(
        value,
        [...forms].filter((f) => f.length >= 8),
      );
    }
  }

  /** Findings for a request to `host` whose texts carry a cookie value another site set. */
  check(host: string, texts: readonly (string | LabelledText)[]): Finding[] {
    const site = registrableDomain(host);
    const own = this.bySite.get(site);
    const findings: Finding[] = [];
    for (const [other, values] of this.bySite) {
      if (other === site) continue;
      for (const [value, forms] of values) {
        // A value this site also set is its own (shared consent or analytics values).
        if (own?.has(value) === true) continue;
        for (const t of texts) {
          const { where, text } = typeof t === 'string' ? { where: 'request', text: t } : t;
          if (forms.some((f) => text.includes(f))) {
            findings.push({ kind: 'cross-site-cookie', where: `${where} (a cookie of ${other})` });
            break;
          }
        }
      }
    }
    return findings;
  }
}
