import type { Usage } from '../egress/meter.js';
import { describeRedactions } from '../egress/redact.js';
import { archivedIdentities, readArchivedEgressLog } from '../controller/egress-archive.js';
import { UsageError } from '../errors.js';
import { bottleCommand, exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { findActive } from './find.js';
import { services, backendName } from './services.js';

interface Entry {
  at?: string;
  kind?: string;
  method?: string;
  host?: string;
  port?: number;
  path?: string;
  rule?: string;
  verdict?: string;
  status?: number;
  reason?: string;
  bytesUp?: number;
  bytesDown?: number;
  ms?: number;
  unmetered?: boolean;
  revision?: number;
  redactions?: unknown;
  cap?: string;
  allow?: string[];
  deny?: string[];
}

/** One line of the egress log, readable. Lines that are not JSON pass through. */
export function formatEgressLine(line: string): string {
  let e: Entry;
  try {
    e = JSON.parse(line) as Entry;
  } catch {
    return line;
  }
  const at = e.at ?? '';
  if (e.kind === 'ready') return `${at} egress proxy ready`;
  if (e.kind === 'control') return `${at} egress control socket open`;
  if (e.kind === 'usage') {
    const u = e as Entry & Partial<Usage>;
    return `${at} USAGE    ${u.host ?? ''} ${u.api ?? ''} ${u.model ?? ''} in ${u.inputTokens ?? 0} out ${u.outputTokens ?? 0} (cache write ${u.cacheCreationTokens ?? 0}, read ${u.cacheReadTokens ?? 0})${u.estimated === true ? ' estimated' : ''}${u.unmetered === true ? " UNMETERED (usage unreadable: charged the request's estimate)" : ''}`;
  }
  if (e.kind === 'policy') {
    return `${at} POLICY revision ${e.revision ?? '?'}: allow ${(e.allow ?? []).join(', ') || '(none)'}; deny ${(e.deny ?? []).join(', ') || '(none)'}`;
  }
  const verdict = (e.verdict ?? '').toUpperCase().padEnd(8);
  const target = `${e.host ?? ''}${e.port === undefined || e.port === 0 ? '' : `:${e.port}`}${e.path ?? ''}`;
  const bytes = e.bytesUp === undefined ? '' : ` up ${e.bytesUp} B down ${e.bytesDown ?? 0} B`;
  const reason = e.reason === undefined ? '' : ` - ${e.reason}`;
  const cap = typeof e.cap === 'string' ? ` - cap ${e.cap}` : '';
  const unmetered = e.unmetered === true ? ' UNMETERED' : '';
  const r = e.redactions;
  const redacted =
    typeof r !== 'object' || r === null || Array.isArray(r) || Object.keys(r).length === 0
      ? ''
      : ` - redacted ${describeRedactions(r as Record<string, number>)}`;
  return `${at} ${verdict} ${(e.kind ?? '').padEnd(9)} ${e.method ?? ''} ${target} ${e.status ?? ''} [${e.rule ?? ''}]${bytes} ${e.ms ?? 0} ms${unmetered}${cap}${redacted}${reason}`;
}

/**
 * `egress log` and its short form `logs`: a running bottle's log as it
 * grows, or an ended or frozen one's archived log.
 */
export function registerLog(
  parent: Program,
  ctx: CliContext,
  name: string,
  description: string,
): void {
  defineLog(parent, name, description).action(async (slug, opts) =>
    exit(await runEgressLog(ctx, slug, opts)),
  );
}

function defineLog(parent: Program, name: string, description: string) {
  return bottleCommand(parent, name, description)
    .option('-f, --follow', 'keep printing new entries')
    .option('--json', 'print the raw JSON lines');
}

async function runEgressLog(
  ctx: CliContext,
  slug: string,
  opts: OptionsOf<typeof defineLog>,
): Promise<number> {
  const backend = services(ctx).backend(backendName(ctx));
  const print = (line: string): void => {
    ctx.io.out(opts.json === true ? line : formatEgressLine(line));
  };
  const running = (await backend.enumerateActive()).some((a) => a.slug === slug);
  if (!running) {
    // An ended or frozen bottle: its archived log, by identity or by its latest run's slug.
    const identity = archivedIdentities(ctx.env).find(
      (id) => id === slug || id.replace(/-\d{8}-\d{6}$/, '') === slug,
    );
    const lines = identity === undefined ? undefined : readArchivedEgressLog(ctx.env, identity);
    if (lines !== undefined) {
      if (opts.follow === true) {
        throw new UsageError(`${slug} is not running; its log is complete (leave out --follow)`);
      }
      for (const l of lines) print(l);
      return 0;
    }
  }
  await findActive(backend, slug);
  await backend.egressLog(slug, opts.follow === true, print);
  return 0;
}
