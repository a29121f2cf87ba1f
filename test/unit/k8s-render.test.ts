import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterRendering, K8sObject } from '../../src/backend/backend.js';
import { KubernetesCluster } from '../../src/backend/kubernetes/kubectl.js';
import { CONTROLLER_MAIN } from '../../src/backend/controller-image.js';
import { escapeExpansion } from '../../src/backend/kubernetes/pods.js';
import {
  DNS1123_LABEL,
  LABEL_VALUE,
  bottleNames,
  serviceEnvNames,
} from '../../src/backend/kubernetes/names.js';
import { clusterSpec } from '../../src/controller/cluster.js';
import { policyFromPlan } from '../../src/controller/egress.js';
import { parseLaunchDocument } from '../../src/controller/pod-launch.js';
import type { BottlePlan } from '../../src/plan/schema.js';
import { providerGuestSetup } from '../../src/providers/guest-config.js';
import { md, type Fixture } from '../helpers/fixture.js';
import { k8sValidator } from '../helpers/k8s-schema.js';
import {
  LEDGER_URL,
  SECRETS,
  agentPod,
  byKind,
  k8sFixture,
  renderViaCli,
} from '../helpers/k8s-bottle.js';

let fx: Fixture;
let sandbox: ClusterRendering;
let template: ClusterRendering;
let plan: BottlePlan;

beforeAll(async () => {
  fx = k8sFixture();
  sandbox = (await renderViaCli(fx)).rendering;
  template = (await renderViaCli(fx, ['--k8s-template'])).rendering;
  const r = await fx.run(['start', 'a', '--dry-run', '--json']);
  plan = JSON.parse(r.stdout) as BottlePlan;
});
afterAll(() => {
  fx.cleanup();
});

const clone = <T>(v: T): T => structuredClone(v);

describe('start --backend kubernetes --dry-run --json: schema validity', () => {
  it('renders every object of both shapes valid against the vendored schemas (unknown fields rejected)', () => {
    const v = k8sValidator();
    for (const r of [sandbox, template]) {
      for (const o of r.objects) expect(v.validate(o), `${o.kind} ${o.metadata.name}`).toEqual([]);
    }
    expect(sandbox.objects.map((o) => o.kind)).toEqual([
      'NetworkPolicy',
      'NetworkPolicy',
      'ConfigMap',
      'ConfigMap',
      'ConfigMap',
      'ConfigMap',
      'Secret',
      'Secret',
      'Secret',
      'Service',
      'Deployment',
      'Sandbox',
    ]);
    expect(template.objects.slice(-3).map((o) => `${o.apiVersion} ${o.kind}`)).toEqual([
      'extensions.agents.x-k8s.io/v1beta1 SandboxTemplate',
      'extensions.agents.x-k8s.io/v1beta1 SandboxWarmPool',
      'extensions.agents.x-k8s.io/v1beta1 SandboxClaim',
    ]);
    expect(byKind(sandbox, 'Sandbox').apiVersion).toBe('agents.x-k8s.io/v1beta1');
  });

  it('rejects a typo field, a wrong type and a missing required field, naming each', () => {
    const v = k8sValidator();
    const typo = clone(byKind(sandbox, 'Sandbox'));
    const pod = (typo.spec as { podTemplate: { spec: { containers: Record<string, unknown>[] } } })
      .podTemplate.spec;
    pod.containers[0] = { ...pod.containers[0], imagePullPolicyy: 'Never' };
    expect(v.validate(typo).join('\n')).toMatch(
      /\/spec\/podTemplate\/spec\/containers\/0: must NOT have additional properties 'imagePullPolicyy'/,
    );

    const wrongType = clone(byKind(sandbox, 'Deployment'));
    (wrongType.spec as Record<string, unknown>).replicas = 'one';
    expect(v.validate(wrongType).join('\n')).toMatch(/\/spec\/replicas: must be integer/);

    const missing = clone(byKind(sandbox, 'NetworkPolicy'));
    delete (missing.spec as Record<string, unknown>).podSelector;
    expect(v.validate(missing).join('\n')).toMatch(
      /\/spec: must have required property 'podSelector'/,
    );

    const badPort = clone(byKind(sandbox, 'Service'));
    (badPort.spec as { ports: Record<string, unknown>[] }).ports[0] = {
      port: 3128,
      protocl: 'TCP',
    };
    expect(v.validate(badPort).join('\n')).toMatch(/additional properties 'protocl'/);

    const badMeta = clone(byKind(sandbox, 'ConfigMap')) as K8sObject & { metadata: object };
    Object.assign(badMeta.metadata, { label: { a: 'b' } });
    expect(v.validate(badMeta).join('\n')).toMatch(
      /\/metadata: must NOT have additional properties 'label'/,
    );
  });
});

describe('the agent pod', () => {
  it('holds the agent container only, hardened, on gVisor, with no service account token', () => {
    for (const r of [sandbox, template]) {
      const { spec } = agentPod(r);
      expect(spec.containers.map((c) => c.name)).toEqual(['agent']);
      expect(spec.runtimeClassName).toBe('gvisor');
      expect(spec.automountServiceAccountToken).toBe(false);
      expect(spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      for (const c of [...spec.containers, ...spec.initContainers]) {
        expect(c.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          seccompProfile: { type: 'RuntimeDefault' },
        });
      }
      // No resolver: DNS would be a way out past the proxy.
      expect(spec.dnsPolicy).toBe('None');
    }
  });

  it('reaches the proxy by the Service variables (no DNS), with the provider variables of the docker path', () => {
    const names = bottleNames(sandbox.slug);
    const svc = byKind(sandbox, 'Service');
    expect(svc.metadata.name).toBe(names.egressService);
    const vars = serviceEnvNames(svc.metadata.name);
    const proxy = `http://$(${vars.host}):$(${vars.port})`;
    const env = agentPod(sandbox).spec.containers[0]?.env as { name: string; value?: string }[];
    const value = (n: string) => env.find((e) => e.name === n)?.value;
    for (const n of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'])
      expect(value(n)).toBe(proxy);
    // Every variable the provider sets on docker, with the same value (the proxy URL aside).
    const docker = providerGuestSetup(plan, proxy).env;
    for (const [k, v] of Object.entries(docker)) expect(value(k), k).toBe(v);
    // The Service comes before the agent's pod, so the kubelet has its variables.
    const kinds = sandbox.objects.map((o) => o.kind);
    expect(kinds.indexOf('Service')).toBeLessThan(kinds.indexOf('Sandbox'));
  });

  it("mounts the bottle's CA from a ConfigMap holding the public certificate only", () => {
    const ca = byKind(sandbox, 'ConfigMap', bottleNames(sandbox.slug).caConfig);
    expect(Object.keys(ca.data as object)).toEqual(['ca.crt']);
    const vol = agentPod(sandbox).spec.volumes.find((v) => v.name === 'ca');
    expect(vol).toEqual({
      name: 'ca',
      configMap: { name: ca.metadata.name, items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
  });

  it("places the provider's config files and the agent's prompt in its home", () => {
    const names = bottleNames(sandbox.slug);
    const data = byKind(sandbox, 'ConfigMap', names.homeConfig).data as Record<string, string>;
    const vol = agentPod(sandbox).spec.volumes.find((v) => v.name === 'home-files') as {
      configMap: { items: { key: string; path: string }[] };
    };
    const byPath = Object.fromEntries(vol.configMap.items.map((i) => [i.path, data[i.key]]));
    const prompt = plan.agent.prompt.guestPath.replace('/home/agent/', '');
    expect(byPath[prompt]).toBe('Prompt.');
    for (const f of providerGuestSetup(plan, 'http://proxy').files) {
      expect(Object.keys(byPath)).toContain(f.path);
    }
  });

  it('keeps a literal $( in other values literal (the kubelet would expand it)', () => {
    expect(escapeExpansion('echo $(HOME) and $HOME')).toBe('echo $$(HOME) and $HOME');
    const spec = clusterSpec(
      plan,
      {
        namespace: 'default',
        runtimeClassName: null,
        template: false,
        images: {},
        ledgerCidrs: [],
      },
      'http://$(P_SERVICE_HOST):$(P_SERVICE_PORT)',
      LEDGER_URL,
      undefined,
    );
    const r = new KubernetesCluster().render({
      ...spec,
      agentEnv: { ...spec.agentEnv, ODD: 'a$(b)' },
    });
    const env = agentPod(r).spec.containers[0]?.env as { name: string; value?: string }[];
    expect(env.find((e) => e.name === 'ODD')?.value).toBe('a$$(b)');
  });

  it('takes another RuntimeClass, or the cluster default with none', async () => {
    const kata = (await renderViaCli(fx, ['--k8s-runtime-class', 'kata'])).rendering;
    expect(agentPod(kata).spec.runtimeClassName).toBe('kata');
    const none = (await renderViaCli(fx, ['--k8s-runtime-class', 'none'])).rendering;
    expect(agentPod(none).spec).not.toHaveProperty('runtimeClassName');
  });
});

describe('the egress proxy pod', () => {
  it('is its own Deployment with its Service, its policy ConfigMap and its credentials Secret', () => {
    const names = bottleNames(sandbox.slug);
    const dep = byKind(sandbox, 'Deployment');
    const pod = (dep.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    const volumes = pod.volumes as Record<string, unknown>[];
    expect(volumes).toContainEqual({
      name: 'credentials',
      secret: { secretName: names.credentials, defaultMode: 0o400 },
    });
    expect(volumes).toContainEqual({ name: 'policy', configMap: { name: names.policyConfig } });
    expect(pod.automountServiceAccountToken).toBe(false);
    const policy = byKind(sandbox, 'ConfigMap', names.policyConfig).data as Record<string, string>;
    expect(JSON.parse(policy['policy.json'] ?? '')).toEqual(policyFromPlan({ ...plan }));
    const containers = pod.containers as { name: string; command?: string[] }[];
    expect(containers.map((c) => c.name)).toEqual(['egress', 'controller']);
  });
});

interface Container {
  name: string;
  command?: string[];
  env: { name: string; value?: string; valueFrom?: unknown }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: unknown;
}

describe('the proxy pod and its controller', () => {
  const proxyPod = () => {
    const dep = byKind(sandbox, 'Deployment');
    const pod = (dep.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    const containers = pod.containers as Container[];
    const [egress, controller] = containers;
    if (egress === undefined || controller === undefined) throw new Error('two containers');
    return { pod, egress, controller };
  };
  const envOf = (c: Container, name: string) => c.env.find((e) => e.name === name);

  it("runs the controller image's program, given the launch file, the link socket and the store's URL from its Secret", () => {
    const { controller } = proxyPod();
    const names = bottleNames(sandbox.slug);
    expect(controller.command).toEqual(['node', CONTROLLER_MAIN]);
    expect(envOf(controller, 'BOT_BOTTLE_LEDGER_URL')?.valueFrom).toEqual({
      secretKeyRef: { name: names.ledger, key: 'url' },
    });
    const launchFile = envOf(controller, 'BOT_BOTTLE_CONTROLLER_LAUNCH')?.value ?? '';
    const mount = controller.volumeMounts.find((m) => launchFile.startsWith(`${m.mountPath}/`));
    expect(mount).toMatchObject({ name: 'launch', readOnly: true });
    const launch = byKind(sandbox, 'ConfigMap', names.launchConfig).data as Record<string, string>;
    const doc = parseLaunchDocument(launch['launch.json'] ?? '');
    if (!doc.ok) throw new Error(doc.error);
    expect(doc.launch.plan.slug).toBe(sandbox.slug);
    expect(doc.launch.plan.cutoff.policy).toBe('cutoff');
    expect(doc.launch.identity).toMatch(new RegExp(`^${sandbox.slug}-\\d{8}-\\d{6}$`));
    expect(launch['launch.json']).not.toContain(SECRETS.ledgerPassword);
  });

  it("shares only the link's volume between the containers, and both name the same socket in it", () => {
    const { pod, egress, controller } = proxyPod();
    const socket = envOf(controller, 'BOT_BOTTLE_CONTROLLER_SOCKET')?.value ?? '';
    expect(envOf(egress, 'BOT_BOTTLE_CONTROLLER_SOCKET')?.value).toBe(socket);
    const shared = controller.volumeMounts.filter((m) =>
      egress.volumeMounts.some((e) => e.name === m.name),
    );
    expect(shared.map((m) => m.name)).toEqual(['link']);
    expect(socket.startsWith(`${shared[0]?.mountPath ?? '?'}/`)).toBe(true);
    expect(pod.volumes).toContainEqual({
      name: 'link',
      emptyDir: { medium: 'Memory', sizeLimit: '1Mi' },
    });
    // The proxy's run directory (its control socket) stays the proxy's own.
    expect(controller.volumeMounts.map((m) => m.name)).not.toContain('run');
  });

  it('makes the egress container Ready only by the mark the proxy keeps while its controller is linked', () => {
    const { egress } = proxyPod();
    const mark = envOf(egress, 'BOT_BOTTLE_EGRESS_READY_FILE')?.value;
    expect(mark).toBeDefined();
    expect(egress.readinessProbe).toEqual({
      exec: { command: ['test', '-e', mark] },
      periodSeconds: 2,
      failureThreshold: 1,
    });
    expect(envOf(egress, 'BOT_BOTTLE_CONTROLLER_LINK')?.value).toBe('1');
  });

  it('refuses a bottle whose cutoff policy is freeze or kill, naming where it was set', async () => {
    for (const policy of ['freeze', 'kill']) {
      const f = k8sFixture();
      try {
        writeFileSync(
          join(f.repo, '.bot-bottle', 'bottles', 'b.md'),
          md(`cutoff: ${policy}\negress:\n  allow: [github.com]`),
        );
        const r = await f.run(['start', 'a', '--backend', 'kubernetes', '--dry-run', '--json']);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(
          `the kubernetes backend cannot carry out cutoff policy '${policy}' (set by bottle b)`,
        );
        expect(r.stderr).toContain('cutoff: cutoff');
        expect(r.stdout).not.toContain('"objects"');
      } finally {
        f.cleanup();
      }
    }
  });
});

describe('secrets', () => {
  it('never prints a secret value in a dry run: keys are shown, values are <redacted>', async () => {
    const { stdout, stderr } = await renderViaCli(fx);
    for (const s of Object.values(SECRETS)) {
      expect(stdout).not.toContain(s);
      expect(stderr).not.toContain(s);
    }
    const names = bottleNames(sandbox.slug);
    const creds = byKind(sandbox, 'Secret', names.credentials).stringData as Record<string, string>;
    expect(JSON.parse(creds['secrets.json'] ?? '')).toEqual({
      caCertPem: '<redacted>',
      caKeyPem: '<redacted>',
      upstreamCaPem: '<redacted>',
      values: { 'api.anthropic.com x-api-key': '<redacted>' },
    });
    expect(byKind(sandbox, 'Secret', names.ledger).stringData).toEqual({ url: '<redacted>' });
    expect(byKind(sandbox, 'Secret', names.agentEnv).stringData).toEqual({
      TEAM_TOKEN: '<redacted>',
    });
  });

  it("keeps credentials out of the agent's pod: it names neither the credentials nor the ledger Secret", () => {
    const names = bottleNames(sandbox.slug);
    for (const r of [sandbox, template]) {
      const text = JSON.stringify(agentPod(r));
      expect(text).not.toContain(names.credentials);
      expect(text).not.toContain(names.ledger);
    }
  });

  it('puts real values (at apply) in the Secrets only', () => {
    const spec = clusterSpec(
      plan,
      {
        namespace: 'default',
        runtimeClassName: 'gvisor',
        template: false,
        images: {},
        ledgerCidrs: [],
      },
      'http://$(BB_A_EGRESS_SERVICE_HOST):$(BB_A_EGRESS_SERVICE_PORT)',
      LEDGER_URL,
      {
        caCertPem: '-----BEGIN CERTIFICATE-----\nPUBLIC\n-----END CERTIFICATE-----\n',
        caKeyPem: 'CA-PRIVATE-KEY-VALUE',
        upstreamCaPem: '',
        values: { 'api.anthropic.com x-api-key': SECRETS.apiKey },
        agentEnv: { TEAM_TOKEN: SECRETS.agentEnv },
        ledgerUrl: LEDGER_URL,
      },
    );
    const r = new KubernetesCluster().render(spec);
    for (const o of r.objects) {
      const text = JSON.stringify(o);
      const holds = [
        'CA-PRIVATE-KEY-VALUE',
        SECRETS.apiKey,
        SECRETS.agentEnv,
        SECRETS.ledgerPassword,
      ].filter((s) => text.includes(s));
      if (o.kind !== 'Secret') expect(holds, `${o.kind} ${o.metadata.name}`).toEqual([]);
    }
    const creds = byKind(r, 'Secret', bottleNames(plan.slug).credentials);
    expect(JSON.stringify(creds)).toContain(SECRETS.apiKey);
    expect(JSON.stringify(creds)).toContain('CA-PRIVATE-KEY-VALUE');
    expect(byKind(r, 'ConfigMap', bottleNames(plan.slug).caConfig).data).toEqual({
      'ca.crt': '-----BEGIN CERTIFICATE-----\nPUBLIC\n-----END CERTIFICATE-----\n',
    });
  });
});

describe('the shared ledger', () => {
  it('refuses to render without a shared store, saying one is required', async () => {
    const r = await fx.run(['start', 'a', '--backend', 'kubernetes', '--dry-run', '--json'], {
      env: { BOT_BOTTLE_LEDGER_URL: '' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /needs a shared ledger store: a pod in the cluster has no host ledger/,
    );
    expect(r.stderr).toMatch(/BOT_BOTTLE_LEDGER_URL/);
  });

  it('needs the addresses of a ledger named by host name, for the proxy NetworkPolicy', async () => {
    const env = { BOT_BOTTLE_LEDGER_URL: 'postgres://bb:pw@ledger.db.svc:5433/ledger' };
    const r = await fx.run(['start', 'a', '--backend', 'kubernetes', '--dry-run', '--json'], {
      env,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ledger host 'ledger\.db\.svc' is a name.*--k8s-ledger-cidr/s);
    const ok = (await renderViaCli(fx, ['--k8s-ledger-cidr', '10.96.7.0/24'], env)).rendering;
    const egress = (
      byKind(ok, 'NetworkPolicy', bottleNames(ok.slug).egressPolicy).spec as {
        egress: unknown[];
      }
    ).egress;
    expect(egress).toContainEqual({
      to: [{ ipBlock: { cidr: '10.96.7.0/24' } }],
      ports: [{ protocol: 'TCP', port: 5433 }],
    });
  });
});

describe('names and labels', () => {
  const objectsOf = (slug: string): K8sObject[] =>
    new KubernetesCluster().render({
      ...clusterSpec(
        plan,
        {
          namespace: 'default',
          runtimeClassName: 'gvisor',
          template: true,
          images: {},
          ledgerCidrs: [],
        },
        'http://proxy',
        LEDGER_URL,
        undefined,
      ),
      slug,
    }).objects;

  it('turns odd and long bottle names into valid, distinct DNS-1123 names and label values', () => {
    const odd = ['Weird_Name!!..', 'ÜBER/agent:1', `x${'-long'.repeat(60)}`, '--', 'a'.repeat(300)];
    const seen = new Set<string>();
    for (const slug of odd) {
      const objects = objectsOf(slug);
      for (const o of objects) {
        expect(o.metadata.name, slug).toMatch(DNS1123_LABEL);
        expect(o.metadata.name.length).toBeLessThanOrEqual(63);
        for (const [k, v] of Object.entries(o.metadata.labels)) {
          expect(v, `${k} of ${slug}`).toMatch(LABEL_VALUE);
          expect(v.length).toBeLessThanOrEqual(63);
        }
      }
      seen.add(objects[0]?.metadata.name ?? '');
    }
    expect(seen.size).toBe(odd.length);
    const v = k8sValidator();
    for (const o of objectsOf('Weird_Name!!..')) expect(v.validate(o)).toEqual([]);
  });

  it('slugs an odd --label into names the cluster accepts', async () => {
    const { rendering } = await renderViaCli(fx, ['--label', 'Fix CI: Ünïcode & spaces!!']);
    for (const o of rendering.objects) expect(o.metadata.name).toMatch(DNS1123_LABEL);
    expect(rendering.selector).toMatch(
      /^app\.kubernetes\.io\/managed-by=bot-bottle,dev\.bot-bottle\.slug=[a-z0-9-]+$/,
    );
  });

  it('labels every object so one selector finds them all', () => {
    for (const r of [sandbox, template]) {
      for (const o of r.objects) {
        expect(o.metadata.labels).toMatchObject({
          'app.kubernetes.io/managed-by': 'bot-bottle',
          'app.kubernetes.io/part-of': 'bot-bottle',
          'dev.bot-bottle.slug': r.slug,
        });
        expect(o.metadata.namespace).toBe('default');
      }
    }
  });
});

describe('start options', () => {
  it('refuses --k8s-* options without --backend kubernetes, and --headless with it', async () => {
    const a = await fx.run(['start', 'a', '--dry-run', '--k8s-template']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--k8s-\* options are for --backend kubernetes/);
    const b = await fx.run([
      'start',
      'a',
      '--backend',
      'kubernetes',
      '--headless',
      '--prompt',
      'x',
    ]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/on kubernetes it is started in its pod/);
    const c = await fx.run([
      'start',
      'a',
      '--backend',
      'kubernetes',
      '--dry-run',
      '--k8s-namespace',
      'Bad_NS',
    ]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--k8s-namespace: 'Bad_NS' is not a namespace name/);
  });

  it('documents the flags in --help', async () => {
    const r = await fx.run(['start', '--help']);
    for (const f of [
      '--k8s-namespace',
      '--k8s-runtime-class',
      '--k8s-template',
      '--k8s-ledger-cidr',
    ]) {
      expect(r.stdout).toContain(f);
    }
    expect(r.stdout).toMatch(/docs\/kubernetes\.md/);
  });
});
