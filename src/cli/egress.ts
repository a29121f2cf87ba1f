import type { EgressPolicyConfig } from '../egress/config.js';
import type { Usage } from '../egress/meter.js';
import { describeRedactions } from '../egress/redact.js';
import { firstMatch } from '../egress/host-match.js';
import { archivedIdentities, readArchivedEgressLog } from '../controller/egress-archive.js';
import { currentPolicy, removeRoute, setRoute, updatePolicy } from '../controller/egress-live.js';
import { resolveSource, routeHeaderValue } from '../controller/values.js';
import { classifyValue, SentinelError } from '../manifest/sentinel.js';
import { UsageError } from '../errors.js';
import type { z } from 'zod';
import {
  basicUserName,
  exactHost,
  headerName,
  headerPrefix,
  hostPattern,
} from '../manifest/schema.js';
import type { CliContext } from './context.js';
import { findActive } from './find.js';
import { services } from './services.js';

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
  const unmetered = e.unmetered === true ? ' UNMETERED' : '';
  const r = e.redactions;
  const redacted =
    typeof r !== 'object' || r === null || Array.isArray(r) || Object.keys(r).length === 0
      ? ''
      : ` - redacted ${describeRedactions(r as Record<string, number>)}`;
  return `${at} ${verdict} ${(e.kind ?? '').padEnd(9)} ${e.method ?? ''} ${target} ${e.status ?? ''} [${e.rule ?? ''}]${bytes} ${e.ms ?? 0} ms${unmetered}${redacted}${reason}`;
}

export async function runEgressLog(
  ctx: CliContext,
  slug: string,
  opts: { follow?: boolean; json?: boolean },
): Promise<number> {
  const backend = services(ctx).backend('docker');
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

function describePolicy(p: EgressPolicyConfig): string[] {
  const list = (xs: readonly string[]): string => (xs.length === 0 ? '(none)' : xs.join(', '));
  return [
    `revision:    ${p.revision}`,
    `mode:        ${p.mode}`,
    `llm:         ${p.llm}`,
    `allow:       ${list(p.allow)}`,
    `deny:        ${list(p.deny)}`,
    `passthrough: ${list(p.passthrough)}`,
    `rules:       ${list(p.rules.map((r) => `${r.host} ${r.methods?.join(',') ?? '*'} ${r.paths?.join(',') ?? '/'}`))}`,
    `routes:      ${list(p.routes.map((r) => `${r.host} (${r.headers.map((h) => h.name).join(', ')})`))}`,
    `host map:    ${list(Object.entries(p.hosts).map(([h, a]) => `${h} -> ${a}`))}`,
  ];
}

/** The policy as shown: route header names only, never values (the sidecar holds those). */
export async function runEgressShow(
  ctx: CliContext,
  slug: string,
  opts: { json?: boolean },
): Promise<number> {
  const backend = services(ctx).backend('docker');
  await findActive(backend, slug);
  const p = await currentPolicy(backend, slug);
  if (opts.json === true) ctx.io.out(JSON.stringify(p, null, 2));
  else for (const l of describePolicy(p)) ctx.io.out(l);
  return 0;
}

function parseHosts(hosts: readonly string[]): string[] {
  return hosts.map((h) => {
    const r = hostPattern.safeParse(h);
    if (!r.success) {
      throw new UsageError(`'${h}' ${r.error.issues[0]?.message ?? 'is not a host pattern'}`);
    }
    return r.data;
  });
}

/**
 * `egress allow|deny <slug> HOST...`: a live change, for this run of the
 * bottle only (the bottle's file is the permanent record). Allowing a host
 * also lifts an identical deny entry; a wider deny still wins and is named.
 */
export async function runEgressChange(
  ctx: CliContext,
  action: 'allow' | 'deny',
  slug: string,
  hosts: readonly string[],
  opts: { json?: boolean },
): Promise<number> {
  const patterns = parseHosts(hosts);
  const backend = services(ctx).backend('docker');
  await findActive(backend, slug);
  const { before, after } = await updatePolicy(backend, slug, (p) => {
    if (action === 'deny') {
      return { ...p, deny: [...p.deny, ...patterns.filter((h) => !p.deny.includes(h))] };
    }
    return {
      ...p,
      allow: [...p.allow, ...patterns.filter((h) => !p.allow.includes(h))],
      deny: p.deny.filter((d) => !patterns.includes(d)),
    };
  });
  const stillDenied =
    action === 'allow'
      ? patterns.flatMap((h) => {
          const bare = h.replace(/^\*\./, '').replace(/:\d+$/, '');
          const d = firstMatch(after.deny, bare);
          return d === undefined ? [] : [`${h} is still refused by the deny rule '${d}'`];
        })
      : [];
  if (opts.json === true) {
    ctx.io.out(
      JSON.stringify(
        {
          slug,
          action,
          hosts: patterns,
          revision: after.revision,
          before,
          after,
          warnings: stillDenied,
        },
        null,
        2,
      ),
    );
  } else {
    ctx.io.out(
      `${slug}: ${action} ${patterns.join(', ')} (policy revision ${before.revision} -> ${after.revision}; open connections kept)`,
    );
    for (const w of stillDenied) ctx.io.err(`warning: ${w}`);
  }
  return 0;
}

/**
 * `egress route <slug> <host> <header> <value>`: a credential route for a
 * running bottle. The value is a value source (`env:NAME`, `file:PATH`,
 * `cmd:COMMAND`, `?`, or literal text), resolved here on the host; only
 * the egress proxy receives it.
 */
export async function runEgressRoute(
  ctx: CliContext,
  slug: string,
  host: string,
  header: string | undefined,
  value: string | undefined,
  opts: { prefix?: string; basicUser?: string; remove?: boolean; json?: boolean },
): Promise<number> {
  const h = exactHost.safeParse(host);
  if (!h.success)
    throw new UsageError(`'${host}' ${h.error.issues[0]?.message ?? 'is not a host'}`);
  const svc = services(ctx);
  const backend = svc.backend('docker');
  await findActive(backend, slug);
  let result;
  if (opts.remove === true) {
    result = await removeRoute(backend, slug, h.data);
  } else {
    if (header === undefined || value === undefined) {
      throw new UsageError(
        'give a header and a value source, e.g. authorization "cmd:gh auth token" --prefix "Bearer "',
      );
    }
    const checks: [string, string | undefined, z.ZodString][] = [
      ['header', header, headerName],
      ['--prefix', opts.prefix, headerPrefix],
      ['--basic-user', opts.basicUser, basicUserName],
    ];
    for (const [what, v, schema] of checks) {
      const r = v === undefined ? undefined : schema.safeParse(v);
      if (r?.success === false) throw new UsageError(`${what} ${r.error.issues[0]?.message ?? ''}`);
    }
    let classified;
    try {
      classified = classifyValue(value, ctx.cwd);
    } catch (e) {
      if (e instanceof SentinelError) throw new UsageError(e.message);
      throw e;
    }
    const what = `route ${h.data} header ${header}`;
    const secret = await resolveSource(
      what,
      classified.source,
      classified.literal,
      ctx.env,
      svc.interactive ? (q) => svc.ui.secret(q) : undefined,
    );
    result = await setRoute(
      backend,
      slug,
      h.data,
      new Map([
        [header.toLowerCase(), routeHeaderValue(what, secret, opts.prefix, opts.basicUser)],
      ]),
    );
  }
  const { before, after } = result;
  if (opts.json === true) {
    ctx.io.out(
      JSON.stringify(
        {
          slug,
          host: h.data,
          removed: opts.remove === true,
          revision: after.revision,
          routes: after.routes,
        },
        null,
        2,
      ),
    );
  } else {
    ctx.io.out(
      `${slug}: ${opts.remove === true ? 'removed the credential route for' : 'credential route set for'} ${h.data} (policy revision ${before.revision} -> ${after.revision})`,
    );
  }
  return 0;
}
