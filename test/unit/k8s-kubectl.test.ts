import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterRendering } from '../../src/backend/backend.js';
import {
  API_RESOURCES_ARGV,
  KubernetesCluster,
  PREFLIGHT_ARGV,
  SUPPORT_KINDS,
  WORKLOAD_KINDS,
  applyArgv,
  teardownArgvs,
  type Kubectl,
} from '../../src/backend/kubernetes/kubectl.js';
import { main } from '../../src/cli/main.js';
import { EnvironmentError, ExitCode } from '../../src/errors.js';
import type { Ui } from '../../src/tui/pickers.js';
import type { RunResult } from '../../src/util/exec.js';
import type { Fixture } from '../helpers/fixture.js';
import { SECRETS, k8sFixture, renderViaCli } from '../helpers/k8s-bottle.js';

interface Call {
  args: readonly string[];
  input: string | undefined;
}

/** A kubectl that records its calls and answers from a script. */
function fakeKubectl(answer: (args: readonly string[]) => Partial<RunResult> = () => ({})) {
  const calls: Call[] = [];
  const kubectl: Kubectl = (args, input) => {
    calls.push({ args, input });
    return Promise.resolve({ code: 0, stdout: '', stderr: '', ...answer(args) });
  };
  return { calls, kubectl };
}

const SELECTOR = 'app.kubernetes.io/managed-by=bot-bottle,dev.bot-bottle.slug=a';

let fx: Fixture | undefined;
afterEach(() => {
  fx?.cleanup();
  fx = undefined;
});

/** A terminal whose operator answers every confirmation with `answer`. */
function terminal(answer: boolean, asked: string[]): Ui {
  const never = (): Promise<never> => Promise.reject(new Error('not asked in these tests'));
  return {
    pickAgent: never,
    // The interactive start offers the bottles, the agent's own preselected.
    pickBottles: (_all, pre) => Promise.resolve([...pre]),
    labelAndColor: never,
    secret: never,
    confirm: (m) => {
      asked.push(m);
      return Promise.resolve(answer);
    },
  };
}

async function run(f: Fixture, argv: string[], kubectl: Kubectl, ui?: Ui) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    cwd: f.repo,
    env: f.env,
    io: { out: (t) => (stdout += `${t}\n`), err: (t) => (stderr += `${t}\n`) },
    services: {
      cluster: () => new KubernetesCluster(kubectl),
      interactive: ui !== undefined,
      ...(ui === undefined ? {} : { ui }),
    },
  });
  return { code, stdout, stderr };
}

describe('kubectl argv and stdin', () => {
  it('applies the rendered objects as one List on stdin, strictly validated', async () => {
    fx = k8sFixture();
    const { rendering } = await renderViaCli(fx);
    const { calls, kubectl } = fakeKubectl();
    await new KubernetesCluster(kubectl).apply(rendering);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args).toEqual([
      'apply',
      '--validate=strict',
      '--field-manager=bot-bottle',
      '-f',
      '-',
    ]);
    expect(applyArgv()).toEqual(calls[0]?.args);
    const list = JSON.parse(calls[0]?.input ?? '') as {
      apiVersion: string;
      kind: string;
      items: unknown[];
    };
    expect(list).toEqual({ apiVersion: 'v1', kind: 'List', items: rendering.objects });
  });

  it('tears down by label: the workloads first, then what isolates and configures them', () => {
    expect(teardownArgvs('a', 'team-x')).toEqual([
      [
        'delete',
        'sandboxclaims.extensions.agents.x-k8s.io,sandboxwarmpools.extensions.agents.x-k8s.io,sandboxtemplates.extensions.agents.x-k8s.io,sandboxes.agents.x-k8s.io,deployments.apps',
        '--namespace',
        'team-x',
        '--selector',
        SELECTOR,
        '--ignore-not-found',
        '--wait=true',
      ],
      [
        'delete',
        'services,configmaps,secrets,networkpolicies.networking.k8s.io',
        '--namespace',
        'team-x',
        '--selector',
        SELECTOR,
        '--ignore-not-found',
        '--wait=true',
      ],
    ]);
  });

  it('leaves out kinds the cluster does not have (agent-sandbox extensions not installed)', () => {
    const core = new Set(['sandboxes.agents.x-k8s.io', 'deployments.apps', ...SUPPORT_KINDS]);
    expect(teardownArgvs('a', 'default', core).map((a) => a[1])).toEqual([
      'sandboxes.agents.x-k8s.io,deployments.apps',
      'services,configmaps,secrets,networkpolicies.networking.k8s.io',
    ]);
  });

  it('fails with a typed environment error when kubectl is missing or no cluster answers', async () => {
    const enoent = Object.assign(new Error('spawn kubectl ENOENT'), { code: 'ENOENT' });
    const gone = fakeKubectl(() => ({ code: 127, spawnError: enoent }));
    const e1 = await new KubernetesCluster(gone.kubectl).preflight().catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(EnvironmentError);
    expect((e1 as EnvironmentError).exitCode).toBe(ExitCode.environment);
    expect((e1 as Error).message).toMatch(/kubectl is not installed/);
    expect(gone.calls[0]?.args).toEqual([...PREFLIGHT_ARGV]);

    const down = fakeKubectl(() => ({
      code: 1,
      stderr:
        'The connection to the server localhost:8080 was refused - did you specify the right host or port?\n',
    }));
    const e2 = await new KubernetesCluster(down.kubectl)
      .teardown('a', 'default')
      .catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(EnvironmentError);
    expect((e2 as Error).message).toMatch(
      /no Kubernetes cluster answers kubectl: The connection to the server/,
    );
    // Nothing is deleted when the cluster did not answer.
    expect(down.calls).toHaveLength(1);
  });
});

describe('start and kill with --backend kubernetes', () => {
  it('applies real values through kubectl stdin but prints them nowhere', async () => {
    fx = k8sFixture();
    expect((await fx.run(['trust'])).code).toBe(0);
    const { calls, kubectl } = fakeKubectl((args) =>
      args[0] === 'apply' ? { stdout: 'sandbox.agents.x-k8s.io/bb-a-agent created\n' } : {},
    );
    const r = await run(fx, ['start', 'a', '--backend', 'kubernetes', '--json'], kubectl);
    expect(r.code, r.stderr).toBe(0);
    expect(calls.map((c) => c.args[0])).toEqual(['version', 'apply']);
    const applied = JSON.parse(calls[1]?.input ?? '') as { items: ClusterRendering['objects'] };
    const text = JSON.stringify(applied);
    expect(text).toContain(SECRETS.apiKey);
    expect(text).toContain(SECRETS.agentEnv);
    expect(text).toContain(SECRETS.ledgerPassword);
    expect(text).toContain('BEGIN CERTIFICATE');
    for (const s of Object.values(SECRETS)) {
      expect(r.stdout).not.toContain(s);
      expect(r.stderr).not.toContain(s);
    }
    const out = JSON.parse(r.stdout) as { outcome: string; kubectl: string; objects: unknown[] };
    expect(out.outcome).toBe('applied');
    expect(out.kubectl).toMatch(/bb-a-agent created/);
    expect(r.stderr).toMatch(/proxy pod is Ready only while its controller container .* is linked/);
  });

  it('asks before applying on a terminal, and applies nothing on no', async () => {
    fx = k8sFixture();
    expect((await fx.run(['trust'])).code).toBe(0);
    const { calls, kubectl } = fakeKubectl();
    const asked: string[] = [];
    const r = await run(
      fx,
      ['start', 'a', '--backend', 'kubernetes'],
      kubectl,
      terminal(false, asked),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(asked).toEqual(['Apply bottle a to namespace default of the current kubectl context?']);
    expect(r.stderr).toMatch(/not applied; nothing was created/);
    expect(calls).toEqual([]);
    const yes = await run(
      fx,
      ['start', 'a', '--backend', 'kubernetes', '-y'],
      kubectl,
      terminal(false, asked),
    );
    expect(yes.code, yes.stderr).toBe(0);
    expect(calls.map((c) => c.args[0])).toEqual(['version', 'apply']);
  });

  it('exits 3 with a clear message when kubectl is missing, before resolving any secret', async () => {
    fx = k8sFixture({ ANTHROPIC_KEY: undefined });
    expect((await fx.run(['trust'])).code).toBe(0);
    const enoent = Object.assign(new Error('spawn kubectl ENOENT'), { code: 'ENOENT' });
    const { calls, kubectl } = fakeKubectl(() => ({ code: 127, spawnError: enoent }));
    const r = await run(fx, ['start', 'a', '--backend', 'kubernetes'], kubectl);
    expect(r.code).toBe(ExitCode.environment);
    expect(r.stderr).toMatch(/kubectl is not installed/);
    expect(calls).toHaveLength(1);
  });

  it('kill --backend kubernetes deletes by label in the namespace given', async () => {
    fx = k8sFixture();
    const { calls, kubectl } = fakeKubectl((args) =>
      args[0] === 'delete'
        ? { stdout: `deleted ${args[1]?.split(',')[0] ?? ''}\n` }
        : args[0] === 'api-resources'
          ? { stdout: `${[...WORKLOAD_KINDS, ...SUPPORT_KINDS].join('\n')}\n` }
          : {},
    );
    const r = await run(
      fx,
      ['kill', 'a', '--backend', 'kubernetes', '--k8s-namespace', 'team-x', '--json'],
      kubectl,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(calls.map((c) => c.args)).toEqual([
      [...PREFLIGHT_ARGV],
      [...API_RESOURCES_ARGV],
      ...teardownArgvs('a', 'team-x'),
    ]);
    expect(calls.every((c) => c.input === undefined)).toBe(true);
    expect(JSON.parse(r.stdout)).toMatchObject({
      slug: 'a',
      namespace: 'team-x',
      outcome: 'killed',
    });
  });
});
