import type { EgressPolicyConfig } from '../egress/config.js';
import { firstMatch } from '../egress/host-match.js';
import { currentPolicy, updatePolicy } from '../controller/egress-live.js';
import { UsageError } from '../errors.js';
import { hostPattern } from '../manifest/schema.js';
import { bottleCommand, onBottle, type Program, type Target } from './command.js';
import { registerEdit } from './config-edit.js';
import type { CliContext } from './context.js';
import { registerLog } from './egress-log.js';
import { registerRoute } from './egress-route.js';

/** `bot-bottle egress ...`: a running bottle's egress proxy, its log and live changes. */
export function register(program: Program, ctx: CliContext): void {
  const egress = program
    .command('egress')
    .description("a running bottle's egress proxy: its audit log and live allow/deny changes")
    .addHelpText(
      'after',
      `
Changes made here apply at once, keep open connections, and last for this
run of the bottle; put them in the bottle's file to keep them.

Examples:
  bot-bottle egress log fix-ci --follow
  bot-bottle egress allow fix-ci registry.npmjs.org
  bot-bottle egress deny fix-ci '*.pastebin.com'
  bot-bottle egress show fix-ci --json`,
    );
  registerLog(
    egress,
    ctx,
    'log',
    'one line per request decision: verdict, host, path (no query values), rule, bytes, time',
  );
  bottleCommand(
    egress,
    'show',
    'the live policy: allow, deny, passthrough, rules, credential routes (names only)',
  )
    .option('--json', 'print the policy as JSON')
    .action((slug, opts) =>
      onBottle(ctx, slug, opts, async ({ backend }) => {
        // Route header names only, never values (the sidecar holds those).
        const p = await currentPolicy(backend, slug);
        return { json: p, text: describePolicy(p) };
      }),
    );
  registerRoute(egress, ctx);
  registerEdit(
    egress,
    ctx,
    'egress',
    "edit a running bottle's egress rules (egress.yaml) with the same checks and audit as an approved proposal",
  );
  for (const action of ['allow', 'deny'] as const) {
    bottleCommand(
      egress,
      action,
      action === 'allow'
        ? 'let the bottle reach these hosts now (also lifts an identical deny entry)'
        : 'refuse these hosts from now on (deny wins over allow)',
    )
      .argument('<host...>', 'host patterns: api.example.com, *.example.com, example.com:8443')
      .option('--json', 'print the policy before and after as JSON')
      .action((slug, hosts, opts) => {
        const patterns = parseHosts(hosts);
        return onBottle(ctx, slug, opts, (t) => changePolicy(t, action, patterns));
      });
  }
}

function describePolicy(p: EgressPolicyConfig): string[] {
  const list = (xs: readonly string[]): string => (xs.length === 0 ? '(none)' : xs.join(', '));
  return [
    `revision:    ${p.revision}`,
    `mode:        ${p.mode}`,
    `llm:         ${p.llm}`,
    `count:       ${p.count ?? 'estimate'} (input tokens at admission)`,
    `allow:       ${list(p.allow)}`,
    `deny:        ${list(p.deny)}`,
    `passthrough: ${list(p.passthrough)}`,
    `rules:       ${list(p.rules.map((r) => `${r.host} ${r.methods?.join(',') ?? '*'} ${r.paths?.join(',') ?? '/'}`))}`,
    `routes:      ${list(p.routes.map((r) => `${r.host} (${r.headers.map((h) => h.name).join(', ')})`))}`,
    `host map:    ${list(Object.entries(p.hosts).map(([h, a]) => `${h} -> ${a}`))}`,
  ];
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
async function changePolicy(
  { backend, slug }: Target,
  action: 'allow' | 'deny',
  patterns: readonly string[],
): Promise<{ json: unknown; text: string; warnings: string[] }> {
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
  return {
    json: {
      slug,
      action,
      hosts: patterns,
      revision: after.revision,
      before,
      after,
      warnings: stillDenied,
    },
    text: `${slug}: ${action} ${patterns.join(', ')} (policy revision ${before.revision} -> ${after.revision}; open connections kept)`,
    warnings: stillDenied,
  };
}
