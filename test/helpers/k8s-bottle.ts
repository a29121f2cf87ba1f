import type { ClusterRendering, K8sObject } from '../../src/backend/backend.js';
import { makeFixture, md, type Fixture } from './fixture.js';

/** Secret values a test bottle is given; none may appear in a dry run's output. */
export const SECRETS = {
  apiKey: 'sk-ant-api03-REAL-SECRET-VALUE-0123456789',
  agentEnv: 'agent-env-REAL-SECRET-4242',
  ledgerPassword: 'ledger-PASSWORD-9999',
} as const;

export const LEDGER_URL = `postgres://bb:${SECRETS.ledgerPassword}@10.0.5.7:5432/ledger`;

/** A repository with one claude agent whose bottle has a credential route and an `env:` entry. */
export function k8sFixture(extraEnv: NodeJS.ProcessEnv = {}): Fixture {
  return makeFixture(
    {
      repo: {
        '.bot-bottle/agents/a.md': md('provider: claude\nbottle: b', 'Prompt.'),
        '.bot-bottle/bottles/b.md': md(`
egress:
  allow: [api.anthropic.com, github.com]
  routes:
    - host: api.anthropic.com
      headers: { x-api-key: { secret: env:ANTHROPIC_KEY } }
env:
  TEAM_TOKEN: env:TEAM_TOKEN
`),
      },
    },
    {
      BOT_BOTTLE_LEDGER_URL: LEDGER_URL,
      ANTHROPIC_KEY: SECRETS.apiKey,
      TEAM_TOKEN: SECRETS.agentEnv,
      ...extraEnv,
    },
  );
}

export async function renderViaCli(
  fx: Fixture,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<{ rendering: ClusterRendering; stdout: string; stderr: string }> {
  const r = await fx.run(
    ['start', 'a', '--backend', 'kubernetes', '--dry-run', '--json', ...extra],
    {
      env,
    },
  );
  if (r.code !== 0) throw new Error(`start failed (${r.code}): ${r.stderr}`);
  return {
    rendering: JSON.parse(r.stdout) as ClusterRendering,
    stdout: r.stdout,
    stderr: r.stderr,
  };
}

export function byKind(r: ClusterRendering, kind: string, name?: string): K8sObject {
  const o = r.objects.find(
    (x) => x.kind === kind && (name === undefined || x.metadata.name === name),
  );
  if (o === undefined) throw new Error(`no ${kind} ${name ?? ''} rendered`);
  return o;
}

/** The agent's pod spec, from the Sandbox or the SandboxTemplate. */
export function agentPod(r: ClusterRendering): {
  metadata: { labels: Record<string, string> };
  spec: Record<string, unknown> & {
    containers: Record<string, unknown>[];
    initContainers: Record<string, unknown>[];
    volumes: Record<string, unknown>[];
  };
} {
  const o = r.objects.find((x) => x.kind === 'Sandbox' || x.kind === 'SandboxTemplate');
  if (o === undefined) throw new Error('no agent object rendered');
  return (o.spec as { podTemplate: ReturnType<typeof agentPod> }).podTemplate;
}
