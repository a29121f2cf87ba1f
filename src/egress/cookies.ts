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
 * `com.au`, ...) or a common multi-tenant hosting suffix (`github.io`,
 * `herokuapp.com`, ...); an address literal is its own site. The
 * approximation errs on the side of one site: hosts under a multi-tenant
 * suffix not listed here count as one site, so a cookie moved between two
 * tenants there is not reported.
 */

const TWO_LEVEL_SUFFIXES = new Set(
  (
    'co.uk org.uk ac.uk gov.uk me.uk ltd.uk plc.uk net.uk sch.uk nhs.uk ' +
    'com.au net.au org.au edu.au gov.au asn.au id.au co.nz org.nz net.nz govt.nz ac.nz ' +
    'co.jp ne.jp or.jp ac.jp go.jp co.kr or.kr ne.kr go.kr com.cn net.cn org.cn gov.cn edu.cn ' +
    'com.br net.br org.br gov.br com.mx org.mx gob.mx com.ar com.tr org.tr gov.tr co.in net.in ' +
    'org.in gov.in ac.in co.za org.za gov.za ac.za com.sg edu.sg gov.sg com.hk org.hk edu.hk ' +
    'com.tw org.tw edu.tw co.il org.il ac.il co.id or.id ac.id com.my com.ph com.vn com.ua ' +
    'com.pl com.es com.pt co.th in.th com.sa com.eg com.ng co.ke ' +
    // Hosting where every tenant has its own sub-domain (the public suffix list's private part).
    'github.io gitlab.io herokuapp.com vercel.app netlify.app pages.dev workers.dev web.app ' +
    'firebaseapp.com appspot.com azurewebsites.net cloudfront.net fly.dev onrender.com ' +
    'ngrok.io ngrok-free.app glitch.me blogspot.com'
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

/**
 * Values too short or too plain to identify anyone (`1`, `true`, `en-US`,
 * `darkmode`, a timestamp) are not remembered: they occur in ordinary text,
 * and a request to another site that happens to hold one is no leak.
 * Session identifiers are long and mix digits or letter cases.
 */
function identifying(value: string): boolean {
  return (
    value.length >= 12 &&
    shannon(value) >= 3 &&
    (/\d/.test(value) || (/[a-z]/.test(value) && /[A-Z]/.test(value)))
  );
}

/** The name and value of one `Set-Cookie` header; undefined for a deletion or a plain value. */
export function setCookie(header: string): { name: string; value: string } | undefined {
  const [pair = '', ...attrs] = header.split(';');
  const eq = pair.indexOf('=');
  if (eq < 1) return undefined;
  const name = pair.slice(0, eq).trim();
  let value = pair.slice(eq + 1).trim();
  if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
  const deleting = attrs.some((a) => {
    const [k = '', v = ''] = a.trim().split('=');
    return (
      (k.toLowerCase() === 'max-age' && Number(v) <= 0) ||
      (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now())
    );
  });
  return deleting || !identifying(value) ? undefined : { name, value };
}

/** The value of one `Set-Cookie` header, unquoted; undefined for a deletion or a plain value. */
export function setCookieValue(header: string): string | undefined {
  return setCookie(header)?.value;
}

export interface LabelledText {
  where: string;
  text: string;
}

/** Values of one site another site must not receive, and the forms to look for. */
export interface ForeignCookies {
  /** The site that set them (registrable domain). */
  site: string;
  /** Every form of every value (raw, URL-decoded, URL-encoded, base64, hex). */
  forms: readonly string[];
}

const MAX_SITES = 512;
/** Cookie names remembered per site, and values per name (a rotated session is still a session). */
const MAX_NAMES_PER_SITE = 64;
const MAX_VALUES_PER_NAME = 4;

/** Inserts `key` as the newest entry, forgetting the oldest past `max`. */
function touch<K, V>(m: Map<K, V>, key: K, value: V, max: number): void {
  m.delete(key);
  if (m.size >= max) {
    const oldest = m.keys().next().value;
    if (oldest !== undefined) m.delete(oldest);
  }
  m.set(key, value);
}

function formsOf(value: string): string[] {
  const forms = new Set([value, ...secretForms(value)]);
  try {
    forms.add(decodeURIComponent(value));
  } catch {
    // Not percent-encoded text: the raw value stands.
  }
  return [...forms].filter((f) => f.length >= 8);
}

export class CookieLedger {
  /**
   * site -> cookie name -> value -> the forms to look for. Kept per name so
   * that a site setting a fresh tracking cookie on every response (which an
   * agent can provoke at will) rolls over that name's values only, and never
   * pushes the session cookie out of memory.
   */
  private readonly bySite = new Map<string, Map<string, Map<string, string[]>>>();
  private changes = 0;

  /** Grows whenever a cookie is remembered: what was derived from the ledger before is stale. */
  get version(): number {
    return this.changes;
  }

  /** Remembers the cookies a response from `host` set. */
  observeResponse(host: string, setCookieHeaders: string | readonly string[] | undefined): void {
    if (setCookieHeaders === undefined) return;
    const headers = typeof setCookieHeaders === 'string' ? [setCookieHeaders] : setCookieHeaders;
    const site = registrableDomain(host);
    for (const h of headers) {
      const c = setCookie(h);
      if (c === undefined) continue;
      const names = this.bySite.get(site) ?? new Map<string, Map<string, string[]>>();
      if (!this.bySite.has(site)) touch(this.bySite, site, names, MAX_SITES);
      const values = names.get(c.name) ?? new Map<string, string[]>();
      touch(names, c.name, values, MAX_NAMES_PER_SITE);
      touch(values, c.value, formsOf(c.value), MAX_VALUES_PER_NAME);
      this.changes++;
    }
  }

  /** Every value `site` set, by value. */
  private valuesOf(site: string): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const values of this.bySite.get(site)?.values() ?? []) {
      for (const [v, forms] of values) out.set(v, forms);
    }
    return out;
  }

  /**
   * The cookies other sites set that a request to `host` must not carry. A
   * value this host's site also set is its own (shared consent or analytics
   * values), so it is left out.
   */
  foreignTo(host: string): ForeignCookies[] {
    const site = registrableDomain(host);
    const own = this.valuesOf(site);
    const out: ForeignCookies[] = [];
    for (const other of this.bySite.keys()) {
      if (other === site) continue;
      const forms: string[] = [];
      for (const [value, fs] of this.valuesOf(other)) if (!own.has(value)) forms.push(...fs);
      if (forms.length > 0) out.push({ site: other, forms });
    }
    return out;
  }

  /** Findings for a request to `host` whose texts carry a cookie value another site set. */
  check(host: string, texts: readonly (string | LabelledText)[]): Finding[] {
    const findings: Finding[] = [];
    for (const { site, forms } of this.foreignTo(host)) {
      for (const t of texts) {
        const { where, text } = typeof t === 'string' ? { where: 'request', text: t } : t;
        if (forms.some((f) => text.includes(f))) {
          findings.push({ kind: 'cross-site-cookie', where: `${where} (a cookie of ${site})` });
        }
      }
    }
    return findings;
  }
}
