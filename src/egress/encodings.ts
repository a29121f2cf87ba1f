import { domainToUnicode } from 'node:url';

/**
 * Text encodings an agent can wrap a secret in that are not percent, base64
 * or hex: HTML character references and JavaScript/JSON string escapes. Each
 * decoder returns the text with what it understood replaced, or undefined
 * when there was nothing of its kind in the text (so callers add a view only
 * when it differs).
 */

/** The named references that matter for hiding ASCII (HTML5 names for punctuation included). */
const NAMED: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  colon: ':',
  sol: '/',
  bsol: '\\',
  equals: '=',
  period: '.',
  comma: ',',
  semi: ';',
  lpar: '(',
  rpar: ')',
  lsqb: '[',
  rsqb: ']',
  lbrack: '[',
  rbrack: ']',
  lcub: '{',
  rcub: '}',
  lbrace: '{',
  rbrace: '}',
  num: '#',
  dollar: '$',
  percnt: '%',
  plus: '+',
  minus: '-',
  hyphen: '-',
  dash: '-',
  lowbar: '_',
  commat: '@',
  excl: '!',
  quest: '?',
  ast: '*',
  grave: '`',
  vert: '|',
  verbar: '|',
  tilde: '~',
  hat: '^',
  Tab: '\t',
  NewLine: '\n',
};

export const ENTITY = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z]{2,8}));?/g;

function fromCodePoint(n: number): string | undefined {
  return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : undefined;
}

/**
 * HTML character references decoded (`&#65;`, `&#x41;`, `&amp;`), with or
 * without the final `;` as browsers accept them. Unknown names stay as they
 * are.
 */
export function decodeHtmlEntities(text: string): string | undefined {
  if (!text.includes('&')) return undefined;
  const out = text.replace(ENTITY, (m, dec?: string, hex?: string, name?: string) => {
    let r: string | undefined;
    if (dec !== undefined) r = fromCodePoint(parseInt(dec, 10));
    else if (hex !== undefined) r = fromCodePoint(parseInt(hex, 16));
    else if (name !== undefined && m.endsWith(';')) r = NAMED[name] ?? NAMED[name.toLowerCase()];
    if (r === undefined) return m;
    return r;
  });
  return out === text ? undefined : out;
}

export const JS_ESCAPE =
  /(?<!\\)\\{1,8}(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))/g;

/**
 * `\u0041`, `\u{41}` and `\x41` escapes (JSON, JavaScript, Python) decoded,
 * also when escaped again (`\\u0041`, as JSON carries a JavaScript string).
 */
export function decodeJsEscapes(text: string): string | undefined {
  if (!text.includes('\\')) return undefined;
  const out = text.replace(JS_ESCAPE, (m, braced?: string, u4?: string, x2?: string) => {
    const hex = braced ?? u4 ?? x2 ?? '';
    // Surrogate halves are joined by the string itself, so they are decoded one by one.
    const n = parseInt(hex, 16);
    if (n > 0x10ffff) return m;
    return n >= 0xd800 && n <= 0xdfff ? String.fromCharCode(n) : String.fromCodePoint(n);
  });
  return out === text ? undefined : out;
}

/**
 * A host name with its punycode (`xn--`) labels decoded, by the WHATWG URL
 * algorithm (`node:url`). Undefined when a label claims to be punycode and
 * is not: such a name cannot be judged and is treated as encoded data.
 */
export function hostToUnicode(host: string): string | undefined {
  const lower = host.toLowerCase();
  if (!/(?:^|\.)xn--/.test(lower)) return lower;
  const u = domainToUnicode(lower);
  if (u === '' || /(?:^|\.)xn--/.test(u)) return undefined;
  return u;
}

/** The writing systems a label mixes (Latin, Cyrillic, Greek, ...): more than one is a homograph. */
export function scriptsOf(label: string): Set<string> {
  const scripts = new Set<string>();
  for (const ch of label) {
    if (/\p{Script=Latin}/u.test(ch)) scripts.add('Latin');
    else if (/\p{Script=Cyrillic}/u.test(ch)) scripts.add('Cyrillic');
    else if (/\p{Script=Greek}/u.test(ch)) scripts.add('Greek');
    else if (/\p{Script=Armenian}/u.test(ch)) scripts.add('Armenian');
    else if (/\p{Script=Cherokee}/u.test(ch)) scripts.add('Cherokee');
  }
  return scripts;
}
