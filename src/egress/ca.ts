import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

/**
 * The per-bottle certificate authority. The controller creates it on the
 * host at launch; only the sidecar ever holds the key, and the agent gets
 * the certificate alone. ECDSA P-256 keeps leaf minting under a millisecond
 * or two, so the first request to a new host is not noticeably slower.
 */

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
// The library types its provider with the DOM's Crypto, which Node's webcrypto implements.
x509.cryptoProvider.set(crypto as never);

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const HOUR = 3_600_000;
/** Leaves live two days; clocks of agent and sidecar are the same host's. */
export const LEAF_VALIDITY_MS = 48 * HOUR;
const CA_VALIDITY_MS = 30 * 24 * HOUR;

export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

function pemBody(pem: string, label: string): ArrayBuffer {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`);
  const m = re.exec(pem);
  if (m?.[1] === undefined) throw new Error(`no ${label} block in PEM input`);
  const buf = Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

function randomSerial(): string {
  const bytes = Buffer.from(crypto.getRandomValues(new Uint8Array(16)));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive INTEGER
  return bytes.toString('hex');
}

/** A fresh CA for one bottle, named after it so the agent can tell what signed a leaf. */
export async function createCa(slug: string, now = new Date()): Promise<CaMaterial> {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=bot-bottle egress CA (${slug}), O=bot-bottle`,
    notBefore: new Date(now.getTime() - HOUR),
    notAfter: new Date(now.getTime() + CA_VALIDITY_MS),
    signingAlgorithm: SIGNING,
    keys: keys as never,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const der = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem') + '\n', keyPem: pemKey(der) };
}

export interface Leaf {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

/**
 * Mints leaf certificates for the hosts the agent reaches, one per host,
 * cached until close to expiry. All leaves share one key pair: generating a
 * key per host would cost more than the signature and buys nothing, since
 * every leaf lives in the same process as the CA key.
 */
export class LeafMinter {
  private readonly cache = new Map<string, Promise<Leaf>>();
  private readonly caCert: x509.X509Certificate;
  private caKey: Promise<CryptoKey> | undefined;
  private leafKeys: Promise<{ pair: CryptoKeyPair; pem: string }> | undefined;

  constructor(
    private readonly ca: CaMaterial,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.caCert = new x509.X509Certificate(ca.certPem);
  }

  get caCertPem(): string {
    return this.ca.certPem;
  }

  /** The leaf for `host` (a DNS name or IP literal). */
  leaf(host: string): Promise<Leaf> {
    const key = host.toLowerCase();
    const cached = this.cache.get(key);
    const now = this.clock().getTime();
    if (cached !== undefined) {
      return cached.then((l) => (l.notAfter.getTime() - now > HOUR ? l : this.remint(key)));
    }
    return this.remint(key);
  }

  private remint(host: string): Promise<Leaf> {
    const p = this.mint(host);
    this.cache.set(host, p);
    p.catch(() => this.cache.delete(host));
    return p;
  }

  private async mint(host: string): Promise<Leaf> {
    this.caKey ??= crypto.subtle.importKey(
      'pkcs8',
      pemBody(this.ca.keyPem, 'PRIVATE KEY'),
      EC_KEY,
      false,
      ['sign'],
    );
    this.leafKeys ??= (async () => {
      const pair = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
      return { pair, pem: pemKey(await crypto.subtle.exportKey('pkcs8', pair.privateKey)) };
    })();
    const [caKey, leafKeys] = await Promise.all([this.caKey, this.leafKeys]);
    const now = this.clock();
    const notAfter = new Date(now.getTime() + LEAF_VALIDITY_MS);
    const san =
      isIP(host) !== 0
        ? { type: 'ip' as const, value: host }
        : { type: 'dns' as const, value: host };
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${host.replace(/[,=+<>#;"\\]/g, '')}`,
      issuer: this.caCert.subject,
      notBefore: new Date(now.getTime() - HOUR),
      notAfter,
      signingAlgorithm: SIGNING,
      publicKey: leafKeys.pair.publicKey as never,
      signingKey: caKey as never,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([san]),
        await x509.AuthorityKeyIdentifierExtension.create(this.caCert, false),
      ],
    });
    return { certPem: cert.toString('pem') + '\n', keyPem: leafKeys.pem, notAfter };
  }
}
