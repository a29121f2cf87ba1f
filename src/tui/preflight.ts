import { describeSource } from '../manifest/sentinel.js';
import type { BottlePlan } from '../plan/schema.js';
import { formatTokens } from '../util/tokens.js';

function rows(label: string, lines: readonly string[]): string[] {
  const pad = ' '.repeat(12);
  if (lines.length === 0) return [`  ${label.padEnd(10)}(none)`];
  return lines.map((l, i) => (i === 0 ? `  ${label.padEnd(10)}${l}` : `${pad}${l}`));
}

/** Suffix of an entry that needs trust: it is refused unless the operator allows it. */
const NEEDS_TRUST = '  ! needs trust';
const mark = (e: { needsTrust: boolean }): string => (e.needsTrust ? NEEDS_TRUST : '');

function trustRow(plan: BottlePlan): string[] {
  const t = plan.trust;
  if (t.state === 'none') return [];
  const state =
    t.state === 'trusted'
      ? 'trusted'
      : t.state === 'changed'
        ? 'changed since it was trusted'
        : 'not trusted';
  const lines = [
    `repository layer ${t.repoRoot ?? ''}: ${state}${t.approvedOnce ? ' (allowed for this launch)' : ''}`,
  ];
  if (t.problem !== null) lines.push(t.problem);
  if (t.needed > 0) {
    lines.push(
      `${t.needed} entr${t.needed === 1 ? 'y acts' : 'ies act'} on this host (marked !): \`bot-bottle trust\` allows them`,
    );
  }
  return rows('trust', lines);
}

function origin(source: string, from: string | null): string {
  switch (source) {
    case 'default':
      return 'default';
    case 'launch':
      return 'this launch';
    case 'settings':
      return `settings ${from ?? ''}`.trim();
    case 'env':
      return 'environment';
    default:
      return `${source} ${from ?? ''}`.trim();
  }
}

/**
 * The preflight: what a launch will create and let through, in the order an
 * operator checks it. Values of secrets never appear, only their sources.
 */
export function renderPreflight(plan: BottlePlan): string {
  const out: string[] = [];
  const a = plan.agent;
  out.push(
    ...rows('agent', [
      `${a.name} (${a.provider}${a.model ? `, model ${a.model}` : ''})  ${a.file}`,
    ]),
  );
  out.push(...trustRow(plan));
  out.push(
    ...rows(
      'bottles',
      plan.bottles.map((b) =>
        b.chain.length > 1
          ? `${b.name}  (extends ${b.chain
              .slice(0, -1)
              .map((c) => c.name)
              .reverse()
              .join(' <- ')})`
          : b.name,
      ),
    ),
  );
  out.push(
    ...rows('label', [
      `${plan.label}  (slug ${plan.slug}${plan.color ? `, color ${plan.color}` : ''})`,
    ]),
  );
  out.push(
    ...rows('backend', [
      `${plan.backend}, runtime ${plan.runtime.name} (${origin(plan.runtime.source, plan.runtime.from)})`,
    ]),
  );
  const img = [
    `${plan.image.base} (${origin(plan.image.baseSource, null)}) + ${plan.image.provider.npmPackage}@${plan.image.provider.npmVersion}`,
  ];
  if (plan.image.apt.length > 0) img.push(`apt: ${plan.image.apt.join(' ')}`);
  for (const l of plan.image.dockerfile) img.push(`dockerfile: ${l}`);
  out.push(...rows('image', img));
  const eg = plan.egress.allow.map((h) => `allow ${h}`);
  eg.push(...plan.egress.deny.map((h) => `deny  ${h}`));
  eg.push(...plan.egress.hosts.map((h) => `host  ${h.name} -> ${h.address}${mark(h)}`));
  if (eg.length === 0) eg.push('nothing: every outbound request is refused');
  eg.push(`secrets: ${plan.egress.mode}; in LLM requests: ${plan.egress.llm}`);
  out.push(...rows('egress', eg));
  out.push(
    ...rows(
      'routes',
      plan.egress.routes.flatMap((r) =>
        r.headers.map(
          (h) =>
            `${r.host}  ${h.name}: ${h.prefix ? JSON.stringify(h.prefix) + ' + ' : ''}<${describeSource(h.source)}>${mark(h)}`,
        ),
      ),
    ),
  );
  out.push(
    ...rows(
      'env',
      plan.env.map((e) => `${e.name} <- ${describeSource(e.source)}${mark(e)}`),
    ),
  );
  out.push(
    ...rows(
      'ssh',
      plan.ssh.map(
        (s) =>
          `${s.host} -> ${s.user ? `${s.user}@` : ''}${s.hostname ?? s.host}${s.port ? `:${s.port}` : ''}  key ${s.identityFile}${s.knownHostKey ? ', host key pinned' : ''}${mark(s)}`,
      ),
    ),
  );
  const git =
    plan.git.name || plan.git.email
      ? [`${plan.git.name ?? '(no name)'} <${plan.git.email ?? 'no email'}>`]
      : [];
  out.push(...rows('git', git));
  out.push(
    ...rows(
      'mounts',
      plan.mounts.map((m) => `${m.kind} ${m.source} -> ${m.target}  (${m.purpose})`),
    ),
  );
  const b = plan.budget;
  out.push(
    ...rows('budget', [
      b.tokens === null
        ? `none for ${b.provider} (usage is still metered)`
        : `${formatTokens(b.tokens)} tokens for ${b.provider} (${b.scope}${b.from ? ` ${b.from}` : ''}; ` +
          `counts ${b.period === 'launch' ? 'this launch' : b.period === 'all' ? 'all time' : `this UTC ${b.period}`})`,
    ]),
  );
  out.push(
    ...rows('cutoff', [`${plan.cutoff.policy} (${origin(plan.cutoff.source, plan.cutoff.from)})`]),
  );
  if (plan.caCerts.length > 0)
    out.push(
      ...rows(
        'extra CA',
        plan.caCerts.map((c) => c.path),
      ),
    );
  if (plan.warnings.length > 0) out.push('', ...rows('warnings', plan.warnings));
  return out.join('\n');
}
