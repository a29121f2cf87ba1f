import type { CliContext } from './context.js';
import { findActive } from './find.js';
import { services } from './services.js';

interface Entry {
  at?: string;
  kind?: string;
  host?: string;
  port?: number;
  allowed?: boolean;
  rule?: string | null;
  status?: number;
  detail?: string;
}

/** One egress decision as a readable line. */
export function formatEgressLine(line: string): string {
  let e: Entry;
  try {
    e = JSON.parse(line) as Entry;
  } catch {
    return line;
  }
  if (e.kind === 'ready') return `${e.at ?? ''} egress proxy ready`;
  const verdict = e.allowed === true ? 'ALLOW' : 'DENY ';
  const target = e.host === '' ? '' : `${e.host ?? ''}:${e.port ?? ''}`;
  const rule = e.rule === null || e.rule === undefined ? '' : ` (rule ${e.rule})`;
  const detail = e.detail === undefined ? '' : ` ${e.detail}`;
  return `${e.at ?? ''} ${verdict} ${(e.kind ?? '').toUpperCase()} ${target} ${e.status ?? ''}${rule}${detail}`;
}

export async function runLogs(
  ctx: CliContext,
  slug: string,
  opts: { follow?: boolean; json?: boolean },
): Promise<number> {
  const backend = services(ctx).backend('docker');
  await findActive(backend, slug);
  await backend.egressLog(slug, opts.follow === true, (line) => {
    ctx.io.out(opts.json === true ? line : formatEgressLine(line));
  });
  return 0;
}
