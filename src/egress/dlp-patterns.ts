import { createHash } from 'node:crypto';
import { findUrlUserinfo } from './credentials.js';

/**
 * Known secret formats. Each has a distinctive prefix or structure, so a
 * match is unlikely to be ordinary text; the few structural ones (cards,
 * IBANs, base58 keys) carry a checksum that is verified before reporting.
 */

export interface SecretPattern {
  name: string;
  category: 'cloud' | 'ai' | 'vcs' | 'payment' | 'crypto' | 'saas' | 'key' | 'token';
  re: RegExp;
  /** Extra check on the match (checksums), to keep false positives out. */
  verify?: (match: string) => boolean;
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base58Decode(s: string): Buffer | undefined {
  let n = 0n;
  for (const c of s) {
    const i = B58.indexOf(c);
    if (i < 0) return undefined;
    n = n * 58n + BigInt(i);
  }
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const lead = /^1*/.exec(s)?.[0].length ?? 0;
  return Buffer.concat([Buffer.alloc(lead), Buffer.from(n === 0n ? '' : hex, 'hex')]);
}

/** Base58Check: the last four bytes are the double SHA-256 of the rest. */
export function base58Check(s: string, version?: number): boolean {
  const raw = base58Decode(s);
  if (raw === undefined || raw.length < 5) return false;
  const body = raw.subarray(0, raw.length - 4);
  const sum = createHash('sha256').update(createHash('sha256').update(body).digest()).digest();
  if (!sum.subarray(0, 4).equals(raw.subarray(raw.length - 4))) return false;
  return version === undefined || body[0] === version;
}

export function luhn(digits: string): boolean {
  const d = digits.replace(/\D/g, '');
  if (d.length < 13 || d.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < d.length; i++) {
    let x = Number(d[d.length - 1 - i]);
    if (i % 2 === 1) {
      x *= 2;
      if (x > 9) x -= 9;
    }
    sum += x;
  }
  return sum % 10 === 0;
}

export function ibanValid(iban: string): boolean {
  const s = iban.replace(/\s/g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(s)) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const c of moved) {
    const v = c >= 'A' ? String(c.charCodeAt(0) - 55) : c;
    for (const digit of v) rem = (rem * 10 + Number(digit)) % 97;
  }
  return rem === 1;
}

export const SECRET_PATTERNS: readonly SecretPattern[] = [
  // cloud
  {
    name: 'aws-access-key-id',
    category: 'cloud',
    re: /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b/,
  },
  {
    name: 'aws-secret-access-key',
    category: 'cloud',
    re: /(?:aws.{0,20}secret.{0,20}|secret.{0,3}(?:access.{0,3})?key.{0,5})["'\s:=]{1,4}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/i,
  },
  { name: 'gcp-api-key', category: 'cloud', re: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { name: 'gcp-oauth-client-secret', category: 'cloud', re: /\bGOCSPX-[A-Za-z0-9_-]{28}\b/ },
  { name: 'gcp-oauth-access-token', category: 'cloud', re: /\bya29\.[0-9A-Za-z_-]{30,}/ },
  { name: 'gcp-service-account', category: 'cloud', re: /"type"\s*:\s*"service_account"/ },
  { name: 'azure-storage-key', category: 'cloud', re: /AccountKey=[A-Za-z0-9+/]{86}==/ },
  {
    name: 'azure-client-secret',
    category: 'cloud',
    re: /\b[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}\b/,
  },
  { name: 'digitalocean-token', category: 'cloud', re: /\bdo[opr]_v1_[a-f0-9]{64}\b/ },
  { name: 'alibaba-access-key', category: 'cloud', re: /\bLTAI[A-Za-z0-9]{12,20}\b/ },
  { name: 'vault-token', category: 'cloud', re: /\bhv[sbr]\.[A-Za-z0-9_-]{24,}/ },
  {
    name: 'terraform-cloud-token',
    category: 'cloud',
    re: /\b[a-z0-9]{14}\.atlasv1\.[a-z0-9_=-]{60,}/,
  },
  // AI providers
  { name: 'anthropic-key', category: 'ai', re: /\bsk-ant-[A-Za-z0-9_-]{20,}/ },
  {
    name: 'openai-project-key',
    category: 'ai',
    re: /\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}/,
  },
  {
    name: 'openai-legacy-key',
    category: 'ai',
    re: /\bsk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}\b/,
  },
  { name: 'sk-style-key', category: 'ai', re: /\bsk-[A-Za-z0-9]{32,}\b/ },
  { name: 'sk-live-test-key', category: 'payment', re: /\bsk-(?:live|test)-[A-Za-z0-9]{16,}/ },
  { name: 'huggingface-token', category: 'ai', re: /\bhf_[A-Za-z0-9]{34,}\b/ },
  { name: 'replicate-token', category: 'ai', re: /\br8_[A-Za-z0-9]{37}\b/ },
  { name: 'groq-key', category: 'ai', re: /\bgsk_[A-Za-z0-9]{48,}\b/ },
  { name: 'perplexity-key', category: 'ai', re: /\bpplx-[A-Za-z0-9]{48}\b/ },
  { name: 'xai-key', category: 'ai', re: /\bxai-[A-Za-z0-9]{70,}\b/ },
  // version control and package registries
  { name: 'github-token', category: 'vcs', re: /\bgh[pousr]_[A-Za-z0-9]{30,}\b/ },
  { name: 'github-fine-grained-token', category: 'vcs', re: /\bgithub_pat_[A-Za-z0-9_]{22,}/ },
  {
    name: 'gitlab-token',
    category: 'vcs',
    re: /\bgl(?:pat|ptt|dt|rt|cbt|imt|oas|ft|soat)-[A-Za-z0-9_-]{20,}/,
  },
  { name: 'bitbucket-app-password', category: 'vcs', re: /\bATBB[A-Za-z0-9_=.-]{28,}/ },
  { name: 'npm-token', category: 'vcs', re: /\bnpm_[A-Za-z0-9]{36}\b/ },
  { name: 'pypi-token', category: 'vcs', re: /\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}/ },
  { name: 'docker-hub-token', category: 'vcs', re: /\bdckr_pat_[A-Za-z0-9_-]{27,}/ },
  { name: 'rubygems-key', category: 'vcs', re: /\brubygems_[a-f0-9]{48}\b/ },
  // payment
  { name: 'stripe-key', category: 'payment', re: /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9_]{20,}/ },
  { name: 'stripe-webhook-secret', category: 'payment', re: /\bwhsec_[A-Za-z0-9]{32,}\b/ },
  { name: 'square-token', category: 'payment', re: /\bsq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}\b/ },
  {
    name: 'braintree-token',
    category: 'payment',
    re: /access_token\$production\$[a-z0-9]{16}\$[a-f0-9]{32}/,
  },
  {
    name: 'payment-card-number',
    category: 'payment',
    re: /\b(?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|3[47]\d{2}|6(?:011|5\d{2}))[ -]?\d{4,6}[ -]?\d{4,5}(?:[ -]?\d{1,4})?\b/,
    verify: luhn,
  },
  {
    name: 'iban',
    category: 'payment',
    re: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b/,
    verify: ibanValid,
  },
  // cryptocurrency
  {
    name: 'bitcoin-wif-private-key',
    category: 'crypto',
    re: /\b[5KL][1-9A-HJ-NP-Za-km-z]{50,51}\b/,
    verify: (s) => base58Check(s, 0x80),
  },
  {
    name: 'bitcoin-address',
    category: 'crypto',
    re: /\b[13][1-9A-HJ-NP-Za-km-z]{25,34}\b/,
    verify: (s) => base58Check(s),
  },
  { name: 'bitcoin-bech32-address', category: 'crypto', re: /\bbc1[ac-hj-np-z02-9]{11,71}\b/ },
  {
    name: 'extended-private-key',
    category: 'crypto',
    re: /\b[xyz]prv[1-9A-HJ-NP-Za-km-z]{100,112}\b/,
  },
  // SaaS and messaging
  { name: 'slack-token', category: 'saas', re: /\bxox[abposre]-[A-Za-z0-9-]{10,}/ },
  {
    name: 'slack-webhook',
    category: 'saas',
    re: /hooks\.slack\.com\/services\/T[A-Z0-9]+\/B[A-Z0-9]+\/[A-Za-z0-9]+/,
  },
  {
    name: 'discord-webhook',
    category: 'saas',
    re: /discord(?:app)?\.com\/api\/webhooks\/\d+\/[A-Za-z0-9_-]{60,}/,
  },
  { name: 'telegram-bot-token', category: 'saas', re: /\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b/ },
  { name: 'twilio-api-key', category: 'saas', re: /\bSK[0-9a-f]{32}\b/ },
  { name: 'sendgrid-key', category: 'saas', re: /\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{30,}/ },
  { name: 'mailgun-key', category: 'saas', re: /\bkey-[0-9a-f]{32}\b/ },
  { name: 'mailchimp-key', category: 'saas', re: /\b[0-9a-f]{32}-us\d{1,2}\b/ },
  { name: 'shopify-token', category: 'saas', re: /\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b/ },
  { name: 'atlassian-token', category: 'saas', re: /\bATATT3[A-Za-z0-9_=-]{50,}/ },
  { name: 'linear-key', category: 'saas', re: /\blin_api_[A-Za-z0-9]{40}\b/ },
  {
    name: 'notion-token',
    category: 'saas',
    re: /\b(?:secret_[A-Za-z0-9]{43}|ntn_\d{11}[A-Za-z0-9]{35})\b/,
  },
  { name: 'new-relic-key', category: 'saas', re: /\bNRAK-[A-Z0-9]{27}\b/ },
  { name: 'sentry-token', category: 'saas', re: /\bsntry[su]_[A-Za-z0-9+/=_-]{50,}/ },
  { name: 'postman-key', category: 'saas', re: /\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b/ },
  // keys and generic tokens
  {
    name: 'private-key',
    category: 'key',
    re: /-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----/,
  },
  { name: 'age-secret-key', category: 'key', re: /\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b/ },
  {
    name: 'jwt',
    category: 'token',
    re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{6,}/,
  },
  {
    name: 'url-credentials',
    category: 'token',
    // Bounded scheme: an unbounded one made a long `a.a.a...` run quadratic.
    re: /\b[a-z][a-z0-9+.-]{0,15}:\/\/[^\s/:@]{1,64}:[^\s/@]{3,128}@[a-z0-9.-]+/i,
    // Placeholders (`${PGPASSWORD}`, `<password>`) are documentation, not credentials.
    verify: findUrlUserinfo,
  },
  {
    name: 'password-assignment',
    category: 'token',
    re: /\b(?:password|passwd|secret_key|api_key|apikey|access_token)\s*[:=]\s*["']?(?=[^\s"']*\d)(?=[^\s"']*[A-Za-z])[^\s"'&]{12,}/i,
  },
];
