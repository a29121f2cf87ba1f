import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { controllerImageRecipe, egressImageRecipe } from '../../src/backend/backend.js';
import type { ClusterRendering, K8sObject } from '../../src/backend/backend.js';
import { KubernetesCluster } from '../../src/backend/kubernetes/kubectl.js';
import { clusterProxyUrl } from '../../src/backend/kubernetes/render.js';
import { createBackend } from '../../src/backend/select.js';
import { clusterLaunch, clusterSpec, type ClusterLaunch } from '../../src/controller/cluster.js';
import { createCa, type CaMaterial } from '../../src/egress/ca.js';
import { PostgresLedger } from '../../src/ledger/postgres.js';
import type { BottlePlan } from '../../src/plan/schema.js';
import { FAKE_CA_PATH, startFakeLlm, type FakeLlm } from '../fixtures/fake-llm.js';
import { describeDocker, dockerOut, requireImage, sh, testImage } from '../helpers/docker.js';
import { makeFixture, md, type Fixture } from '../helpers/fixture.js';
import { describePostgres, freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { httpsVia } from '../helpers/via-proxy.js';

/**
 * A bottle's Kubernetes proxy pod, run as two docker containers from the
 * real egress and controller images. Everything that shapes them comes
 * from the renderer's Deployment (command, env, mounts, user, readiness
 * probe); the pod's volumes become their docker counterparts: the shared
 * emptyDir is one tmpfs volume both containers mount, the proxy's own
 * emptyDir a tmpfs of its own, ConfigMaps and Secrets read-only files.
 *
 * The controller container runs with `--network host` because the test
 * bed's Postgres listens on 127.0.0.1 only (in a cluster it reaches the
 * store through the proxy pod's NetworkPolicy rule); the egress container
 * stays on docker's bridge. The two share no network namespace, so the
 * admission link can only be the unix socket in the shared volume.
 */

const UID = 65534;
const API_KEY = 'sk-ant-api03-k8sPODrealKEY0123456789abcdefghijklmnopqrstuvwxyz';

interface Container {
  name: string;
  image: string;
  command?: string[];
  env: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef: { name: string; key: string } };
  }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: { exec: { command: string[] } };
  securityContext: { runAsUser: number; runAsGroup: number; readOnlyRootFilesystem: boolean };
}
interface Volume {
  name: string;
  emptyDir?: unknown;
  configMap?: { name: string };
  secret?: { secretName: string };
}

function objectOf(r: ClusterRendering, kind: string, name: string): K8sObject {
  const o = r.objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`no ${kind} ${name} rendered`);
  return o;
}

function proxyPod(r: ClusterRendering): { containers: Container[]; volumes: Volume[] } {
  const dep = objectOf(r, 'Deployment', r.names.egress ?? '');
  return (dep.spec as { template: { spec: { containers: Container[]; volumes: Volume[] } } })
    .template.spec;
}

/** The files of a ConfigMap or Secret, as the kubelet would project them. */
function projected(r: ClusterRendering, v: Volume): Record<string, string> {
  if (v.configMap !== undefined) {
    return objectOf(r, 'ConfigMap', v.configMap.name).data as Record<string, string>;
  }
  if (v.secret !== undefined) {
    return objectOf(r, 'Secret', v.secret.secretName).stringData as Record<string, string>;
  }
  throw new Error(`volume ${v.name} is not projected`);
}

describeDocker('the Kubernetes proxy pod on docker (egress + controller containers)', () => {
  describePostgres('admission against the shared Postgres store', () => {
    let fake: FakeLlm;
    let db: TestDatabase;
    let fx: Fixture;
    let ca: CaMaterial;
    let plan: BottlePlan;
    let launch: ClusterLaunch;
    let rendering: ClusterRendering;
    let files: string;
    let volume: string;
    let port = 0;
    const containers = new Map<string, string>();
    /** What beforeAll made, undone in reverse order. */
    const undo: (() => unknown)[] = [];
    const slugLabel = (): string => `dev.bot-bottle.slug=${plan.slug}`;

    /** docker run argv for one rendered container, its pod volumes mapped as described above. */
    function runArgs(c: Container, volumes: Volume[], extra: string[]): string[] {
      const shared = new Set(
        proxyPod(rendering)
          .containers.filter((o) => o.name !== c.name)
          .flatMap((o) => o.volumeMounts.map((m) => m.name)),
      );
      const args = ['run', '-d', '--name', `${rendering.names.egress ?? ''}-${c.name}`];
      args.push('--label', slugLabel(), '--label', `dev.bot-bottle.role=${c.name}`);
      const sc = c.securityContext;
      args.push('--user', `${sc.runAsUser}:${sc.runAsGroup}`, '--cap-drop', 'ALL');
      args.push('--security-opt', 'no-new-privileges');
      if (sc.readOnlyRootFilesystem) args.push('--read-only');
      for (const m of c.volumeMounts) {
        const v = volumes.find((x) => x.name === m.name);
        if (v === undefined) throw new Error(`mount ${m.name} names no volume`);
        if (v.emptyDir !== undefined && shared.has(v.name)) {
          args.push('--mount', `type=volume,src=${volume},dst=${m.mountPath}`);
        } else if (v.emptyDir !== undefined) {
          args.push('--tmpfs', `${m.mountPath}:uid=${UID},gid=${UID},mode=0700`);
        } else {
          args.push('-v', `${join(files, v.name)}:${m.mountPath}:ro`);
        }
      }
      for (const e of c.env) {
        const ref = e.valueFrom?.secretKeyRef;
        const value =
          ref === undefined
            ? e.value
            : (objectOf(rendering, 'Secret', ref.name).stringData as Record<string, string>)[
                ref.key
              ];
        args.push('-e', `${e.name}=${value ?? ''}`);
      }
      const [entry, ...rest] = c.command ?? [];
      if (entry === undefined) throw new Error(`container ${c.name} has no command`);
      args.push(...extra, '--entrypoint', entry, c.image, ...rest);
      return args;
    }

    const container = (name: string): Container => {
      const c = proxyPod(rendering).containers.find((x) => x.name === name);
      if (c === undefined) throw new Error(`no container ${name}`);
      return c;
    };
    const start = (name: string, extra: string[]): void => {
      const c = container(name);
      const id = dockerOut(runArgs(c, proxyPod(rendering).volumes, extra));
      containers.set(name, id);
      undo.push(() => dockerOut(['rm', '-f', id]));
    };
    /** The rendered readiness probe, run as the kubelet would (exec in the container). */
    const ready = (): boolean => {
      const probe = container('egress').readinessProbe?.exec.command ?? [];
      try {
        sh('docker', ['exec', containers.get('egress') ?? '', ...probe], 15_000);
        return true;
      } catch {
        return false;
      }
    };
    const until = async (ok: () => boolean, what: string, ms = 30_000): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline) {
          const logs = [...containers.values()]
            .map((id) => sh('docker', ['logs', id]).slice(-2000))
            .join('\n');
          throw new Error(`timed out waiting for ${what}\n${logs}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const call = () =>
      httpsVia(port, 'https://api.anthropic.com/v1/messages', ca.certPem, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({
          model: 'claude-fake',
          max_tokens: 16,
          messages: [{ role: 'user', content: 'hello' }],
        }),
      });

    beforeAll(async () => {
      requireImage();
      fake = await startFakeLlm();
      undo.push(() => fake.close());
      db = await freshDatabase('bbk8spod');
      undo.push(() => db.drop());
      fx = makeFixture(
        {
          repo: {
            '.bot-bottle/agents/claude.md': md('provider: claude\nbottle: fake', 'Terse.\n'),
            '.bot-bottle/bottles/fake.md': md(`
egress:
  allow: [api.anthropic.com]
  hosts:
    api.anthropic.com: host-gateway:${fake.port}
  routes:
    - host: api.anthropic.com
      headers:
        x-api-key: env:BB_K8S_POD_KEY
`),
          },
        },
        { BOT_BOTTLE_BASE_IMAGE: testImage, BOT_BOTTLE_LEDGER_URL: db.url },
      );
      undo.push(() => {
        fx.cleanup();
      });
      const label = `k8spod${Math.random().toString(36).slice(2, 8)}`;
      const r = await fx.run([
        'start',
        'claude',
        '--dry-run',
        '--json',
        '--budget',
        '10',
        '--label',
        label,
      ]);
      expect(r.code, r.stderr).toBe(0);
      plan = JSON.parse(r.stdout) as BottlePlan;
      // Output caps off: the first call crosses the 10-token budget and the next is refused.
      plan.budget.capping = { enabled: false, floor: 1024 };

      const images = createBackend('docker').images;
      const logDir = mkdtempSync(join(tmpdir(), 'bb-k8spod-build-'));
      const tags: Record<string, string> = {};
      for (const recipe of [egressImageRecipe(testImage), controllerImageRecipe(testImage)]) {
        const img = await images.ensure(recipe, { logDir });
        if (img.built) undo.push(() => dockerOut(['rmi', '-f', img.tag]));
        tags[recipe.name] = img.tag;
      }
      rmSync(logDir, { recursive: true, force: true });

      ca = await createCa(plan.slug);
      launch = clusterLaunch(plan);
      const spec = clusterSpec(
        plan,
        {
          namespace: 'default',
          runtimeClassName: null,
          template: false,
          images: { egress: tags['bot-bottle-egress'], controller: tags['bot-bottle-controller'] },
          ledgerCidrs: [],
        },
        clusterProxyUrl(plan.slug),
        db.url,
        undefined,
        '',
        launch,
      );
      rendering = new KubernetesCluster().render({
        ...spec,
        secrets: {
          caCertPem: ca.certPem,
          caKeyPem: ca.keyPem,
          upstreamCaPem: readFileSync(FAKE_CA_PATH, 'utf8'),
          values: Object.fromEntries(spec.credentialKeys.map((k) => [k, API_KEY])),
          agentEnv: {},
          ledgerUrl: db.url,
        },
      });

      // The pod's ConfigMaps and Secrets as files the containers' user can read.
      files = mkdtempSync(join(tmpdir(), 'bb-k8spod-'));
      undo.push(() => {
        rmSync(files, { recursive: true, force: true });
      });
      for (const v of proxyPod(rendering).volumes) {
        if (v.emptyDir !== undefined) continue;
        const dir = join(files, v.name);
        mkdirSync(dir, { mode: 0o500 });
        for (const [key, text] of Object.entries(projected(rendering, v))) {
          writeFileSync(join(dir, key), text, { mode: 0o400 });
          chownSync(join(dir, key), UID, UID);
        }
        chownSync(dir, UID, UID);
      }
      volume = dockerOut([
        'volume',
        'create',
        '--label',
        slugLabel(),
        '--driver',
        'local',
        '--opt',
        'type=tmpfs',
        '--opt',
        'device=tmpfs',
        '--opt',
        `o=size=1m,uid=${UID},gid=${UID},mode=0700`,
      ]);
      undo.push(() => dockerOut(['volume', 'rm', '-f', volume]));
      start('egress', [
        '--add-host',
        'host.docker.internal:host-gateway',
        '--publish',
        '127.0.0.1::3128',
      ]);
      const published = dockerOut(['port', containers.get('egress') ?? '', '3128/tcp']);
      port = Number(/:(\d+)\s*$/m.exec(published)?.[1] ?? 0);
    }, 300_000);

    afterAll(async () => {
      // Newest first: the containers before the volume and images they use.
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch {
          /* already gone */
        }
      }
    });

    it('is not Ready and refuses metered calls (503) before its controller links', async () => {
      await until(
        () => sh('docker', ['logs', containers.get('egress') ?? '']).includes('"kind":"ready"'),
        'the proxy to listen',
      );
      expect(ready()).toBe(false);
      const r = await call();
      expect(r.status).toBe(503);
      expect(r.body).toContain('controller');
      expect(fake.requests).toHaveLength(0);
    });

    it("admits a metered call once the controller links, and its usage lands in Postgres under the bottle's slug", async () => {
      start('controller', ['--network', 'host']);
      await until(ready, 'the readiness probe to pass');
      const r = await call();
      expect(r.status, r.body).toBe(200);
      const upstream = fake.requests.filter((q) => q.path.startsWith('/v1/messages'));
      expect(upstream).toHaveLength(1);
      expect(upstream[0]?.headers['x-api-key']).toBe(API_KEY);
      const store = new PostgresLedger(db.url);
      try {
        let totals = await store.totals({ slug: plan.slug });
        const deadline = Date.now() + 10_000;
        while (totals.events === 0 && Date.now() < deadline) {
          await new Promise((res) => setTimeout(res, 200));
          totals = await store.totals({ slug: plan.slug });
        }
        expect(totals).toMatchObject({ events: 1, inputTokens: 12, outputTokens: 7 });
        const launches = await store.byLaunch({ slug: plan.slug });
        expect(launches.map((l) => l.identity)).toEqual([launch.identity]);
      } finally {
        await store.close();
      }
    });

    it('refuses the next call in the API shape once the budget in the store is used up', async () => {
      const before = fake.requests.length;
      const r = await call();
      expect(r.status).toBe(429);
      expect(r.headers['x-should-retry']).toBe('false');
      const body = JSON.parse(r.body) as { type: string; error: { type: string; message: string } };
      expect(body.type).toBe('error');
      expect(body.error.type).toBe('rate_limit_error');
      expect(body.error.message).toContain(
        'launch budget (--budget) of 10 tokens is used up (19 used)',
      );
      expect(fake.requests.length).toBe(before);
      const store = new PostgresLedger(db.url);
      try {
        const actions = await store.actions({ identity: launch.identity });
        expect(actions).toEqual([
          expect.objectContaining({ action: 'cutoff', used: 19, limit: 10, slug: plan.slug }),
        ]);
      } finally {
        await store.close();
      }
    });

    it('fails closed when the controller container stops: not Ready, metered calls 503', async () => {
      const id = containers.get('controller') ?? '';
      dockerOut(['stop', '-t', '10', id]);
      // It stopped on SIGTERM by itself (not killed at the timeout), logging JSON lines.
      expect(dockerOut(['inspect', '--format', '{{.State.ExitCode}}', id])).toBe('0');
      const logs = sh('docker', ['logs', id])
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { message: string }).message);
      expect(logs).toContainEqual(expect.stringContaining('linked to the egress container'));
      await until(() => !ready(), 'the readiness probe to fail');
      const before = fake.requests.length;
      const r = await call();
      expect(r.status).toBe(503);
      expect(r.body).toContain('not reachable');
      expect(fake.requests.length).toBe(before);
    });

    it('its controller container does not start without the shared store: exit 2, saying why', () => {
      const c = container('controller');
      const [entry, ...rest] = c.command ?? [];
      const name = `${rendering.names.egress ?? ''}-nostore`;
      const args = ['run', '--name', name, '--label', slugLabel(), '--user', `${UID}:${UID}`];
      args.push('--read-only', '--entrypoint', entry ?? '', c.image, ...rest);
      undo.push(() => dockerOut(['rm', '-f', name]));
      let out = '';
      let code = 0;
      try {
        sh('docker', args, 60_000);
      } catch (e) {
        const err = e as { status: number; stdout: string };
        code = err.status;
        out = err.stdout;
      }
      expect(code).toBe(2);
      expect(out).toContain('BOT_BOTTLE_LEDGER_URL is not set');
      expect(out).toContain('needs the shared Postgres store');
    });
  });
});
