import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface CaFileReport {
  path: string;
  ok: boolean;
  certificates: number;
  /** ISO date of the soonest expiry among the certificates. */
  earliestExpiry: string | undefined;
  expired: number;
  hasPrivateKey: boolean;
  problem: string | undefined;
}

const CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Read a PEM bundle and say whether it is usable as extra trust anchors. */
export function inspectCaFile(path: string, now: Date = new Date()): CaFileReport {
  const report: CaFileReport = {
    path,
    ok: false,
    certificates: 0,
    earliestExpiry: undefined,
    expired: 0,
    hasPrivateKey: false,
    problem: undefined,
  };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    report.problem = `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    return report;
  }
  report.hasPrivateKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
  let earliest: Date | undefined;
  for (const pem of text.match(CERT_RE) ?? []) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      report.problem = `certificate #${report.certificates + 1} is not valid PEM`;
      return report;
    }
    report.certificates++;
    const until = new Date(cert.validTo);
    if (until < now) report.expired++;
    if (earliest === undefined || until < earliest) earliest = until;
  }
  report.earliestExpiry = earliest?.toISOString().slice(0, 10);
  if (report.certificates === 0) {
    report.problem = 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)';
    return report;
  }
  if (report.hasPrivateKey) {
    report.problem = 'holds a private key; a CA bundle must hold certificates only';
    return report;
  }
  report.ok = true;
  return report;
}
