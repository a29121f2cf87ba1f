import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { hostname } from 'node:os';
import { EnvironmentError } from '../../errors.js';
import type { RuntimeName } from '../../manifest/schema.js';
import { GUEST_USER, GUEST_WORKSPACE } from '../../providers/registry.js';
import { runStreaming } from '../../util/exec.js';
import {
  LABEL,
  type ActiveBottle,
  type Backend,
  type ContainerFile,
  type ContainerRole,
  type EngineImage,
  type EngineStream,
  type EgressOp,
  type EgressReply,
  type ExecOptions,
  type ExecResult,
  type LaunchSpec,
  type TeardownReport,
} from '../backend.js';
import { docker, DOCKER_BIN, firstLine } from './cli.js';
import { SIDECAR_MAIN, SIDECAR_RUN_DIR, SUPERVISE_MAIN } from './egress-image.js';
import { SUPERVISE_HOST, SUPERVISE_RUN_DIR } from '../../supervise/paths.js';
import { FIX } from './fixes.js';
import { engineFacts, imageId } from './health.js';
import { listImages, removeImage } from './images.js';
import { tarFiles, WRITE_FILES_ARGV } from '../container-files.js';

/** The proxy port inside the sidecar, and the name the agent reaches it by. */
export const EGRESS_PORT = 3128;
export const EGRESS_ALIAS = 'egress';

export const names = {
  agent: (slug: string): string => `bot-bottle-${slug}`,
  egress: (slug: string): string => `bot-bottle-${slug}-egress`,
  supervise: (slug: string): string => `bot-bottle-${slug}-supervise`,
  internalNet: (slug: string): string => `bot-bottle-${slug}-internal`,
  egressNet: (slug: string): string => `bot-bottle-${slug}-egress`,
  savedImage: (identity: string): string => `bot-bottle-saved:${identity}`,
};

async function must(
  args: readonly string[],
  what: string,
  timeoutMs = 60_000,
  env?: NodeJS.ProcessEnv,
): Promise<string> {
  const r = await docker(args, { timeoutMs, ...(env === undefined ? {} : { env }) });
  if (r.code !== 0) {
    throw new EnvironmentError(`${what} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
  }
  return r.stdout;
}

/** Spawn docker with the caller's stdio choices; values travel in its environment. */
function spawnDocker(
  args: readonly string[],
  opts: ExecOptions & { stdinStream?: NodeJS.ReadableStream },
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const stdin =
      opts.stdinStream !== undefined || opts.input !== undefined
        ? 'pipe'
        : (opts.stdin ?? 'ignore');
    const child = spawn(DOCKER_BIN, args, {
      env: { ...process.env, ...opts.env },
      stdio: [stdin, opts.stdout ?? 'inherit', opts.stderr ?? 'inherit'],
    });
    child.on('error', (e) => {
      reject(new EnvironmentError(`the docker CLI could not be started: ${e.message}`));
    });
    if (child.stdout !== null) {
      child.stdout.on('data', (c: Buffer) => opts.onStdout?.(c));
    }
    if (child.stderr !== null) {
      child.stderr.on('data', (c: Buffer) => opts.onStderr?.(c));
    }
    if (opts.stdinStream !== undefined && child.stdin !== null) {
      opts.stdinStream.pipe(child.stdin);
      child.stdin.on('error', () => undefined);
    } else if (opts.input !== undefined && child.stdin !== null) {
      child.stdin.end(opts.input);
    }
    child.on('close', (code, signal) => {
      resolve({ code: code ?? (signal === null ? 1 : 128 + signalNumber(signal)) });
    });
  });
}

function signalNumber(s: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return table[s] ?? 1;
}

function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

interface InspectedContainer {
  Config?: { Labels?: unknown };
  State?: { Status?: unknown };
}

/** Bottles from `docker container inspect` output; labels are read as the map they are. */
export function bottlesFromInspect(json: string): ActiveBottle[] {
  const parsed: unknown = JSON.parse(json === '' ? '[]' : json);
  if (!Array.isArray(parsed)) throw new EnvironmentError('docker inspect did not return a list');
  return bottlesFrom(parsed as InspectedContainer[]);
}

/**
 * `docker ps` joins a container's labels with commas, so a value holding
 * `,key=value` would forge a label. Each label is asked for on its own and
 * printed as JSON instead: one `docker ps` gives the same map inspect does.
 */
const PS_FORMAT = `{"Config":{"Labels":{${Object.values(LABEL)
  .map((k) => `${JSON.stringify(k)}:{{json (.Label ${JSON.stringify(k)})}}`)
  .join(',')}}},"State":{"Status":{{json .State}}}}`;

/** Bottles from `docker ps --format PS_FORMAT` lines (a label docker lacks prints as ''). */
export function bottlesFromPs(out: string): ActiveBottle[] {
  return bottlesFrom(
    out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const c = JSON.parse(l) as { Config: { Labels: Record<string, string> }; State: unknown };
        const labels = Object.entries(c.Config.Labels).filter(([, v]) => v !== '');
        return {
          Config: { Labels: Object.fromEntries(labels) },
          State: c.State,
        } as InspectedContainer;
      }),
  );
}

function bottlesFrom(containers: readonly InspectedContainer[]): ActiveBottle[] {
  return containers.map((c) => {
    const raw = c.Config?.Labels;
    const labels = new Map<string, string>();
    if (raw !== null && typeof raw === 'object') {
      for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels.set(k, v);
    }
    const get = (k: string): string => labels.get(k) ?? '';
    const pid = Number(get(LABEL.controllerPid));
    const state = c.State?.Status;
    return {
      slug: get(LABEL.slug),
      label: get(LABEL.label),
      agent: get(LABEL.agent),
      provider: get(LABEL.provider),
      bottles: get(LABEL.bottles)
        .split(' ')
        .filter((b) => b !== ''),
      identity: get(LABEL.identity),
      startedAt: get(LABEL.startedAt),
      state: typeof state === 'string' ? state : 'unknown',
      controllerPid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
      controllerHost: labels.get(LABEL.controllerHost),
    };
  });
}

function containerOf(slug: string, role: ContainerRole): string {
  return role === 'agent'
    ? names.agent(slug)
    : role === 'egress'
      ? names.egress(slug)
      : names.supervise(slug);
}

export class DockerBackend implements Backend {
  readonly name = 'docker' as const;

  async preflight(runtime: RuntimeName): Promise<void> {
    const facts = await engineFacts();
    if (facts.error !== undefined) {
      throw new EnvironmentError(
        `the Docker engine does not answer: ${facts.error}`,
        `${FIX.startEngine}; then \`bot-bottle doctor\``,
      );
    }
    if (!facts.runtimes.includes(runtime)) {
      throw new EnvironmentError(
        `runtime '${runtime}' is not registered with the Docker engine (it has: ${facts.runtimes.join(', ')})`,
        runtime === 'runsc' ? FIX.registerRunsc : undefined,
      );
    }
  }

  async launch(spec: LaunchSpec, progress: (line: string) => void): Promise<void> {
    const common = {
      [LABEL.slug]: spec.slug,
      [LABEL.agent]: spec.agent,
      [LABEL.startedAt]: spec.startedAt,
      [LABEL.identity]: spec.identity,
      [LABEL.controllerPid]: String(process.pid),
      [LABEL.controllerHost]: hostname(),
    };
    const internal = names.internalNet(spec.slug);
    const egressNet = names.egressNet(spec.slug);
    progress(`creating networks ${internal} (internal) and ${egressNet}`);
    await must(
      [
        'network',
        'create',
        '--internal',
        // No address for the host on this bridge: without it the agent has no route to the host.
        '--opt',
        'com.docker.network.bridge.inhibit_ipv4=true',
        ...labelArgs({ ...common, [LABEL.role]: 'network' }),
        internal,
      ],
      'creating the internal network',
    );
    await must(
      ['network', 'create', ...labelArgs({ ...common, [LABEL.role]: 'network' }), egressNet],
      'creating the egress network',
    );

    // Nothing of the host is shared with a sidecar, so both run as nobody.
    const sidecarUid = 65534;
    const sidecarGid = 65534;
    // Both sidecars: unprivileged, read-only, no capabilities, bounded logs.
    const sidecarHardening = [
      '--log-opt',
      'max-size=10m',
      '--log-opt',
      'max-file=5',
      '--user',
      `${sidecarUid}:${sidecarGid}`,
      '--read-only',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
    ];
    const tmpfs = (dir: string): string[] => [
      '--tmpfs',
      `${dir}:rw,noexec,nosuid,nodev,size=4m,uid=${sidecarUid},gid=${sidecarGid},mode=0700`,
    ];
    progress('starting the egress proxy');
    await must(
      [
        'create',
        '--name',
        names.egress(spec.slug),
        '--network',
        egressNet,
        ...labelArgs({ ...common, [LABEL.role]: 'egress' }),
        // The operator's host map may point at the docker host (`host-gateway`).
        '--add-host',
        'host.docker.internal:host-gateway',
        // Policy, secrets, the control socket and the controller link live in memory only.
        ...tmpfs(SIDECAR_RUN_DIR),
        // Metered calls need the controller's admission, over `exec ... link`.
        '--env',
        'BOT_BOTTLE_CONTROLLER_LINK=1',
        '--env',
        `BOT_BOTTLE_SLUG=${spec.slug}`,
        ...sidecarHardening,
        spec.egressImage,
      ],
      'creating the egress sidecar',
    );
    await must(
      ['network', 'connect', '--alias', EGRESS_ALIAS, internal, names.egress(spec.slug)],
      'attaching the egress sidecar to the internal network',
    );
    await must(['start', names.egress(spec.slug)], 'starting the egress sidecar');

    if (spec.supervise !== undefined) {
      progress('starting the supervise server (MCP at supervise:9100)');
      await must(
        [
          'run',
          '--detach',
          '--name',
          names.supervise(spec.slug),
          // Only the internal network: it answers the agent and reaches nothing else.
          '--network',
          internal,
          '--network-alias',
          SUPERVISE_HOST,
          ...labelArgs({ ...common, [LABEL.role]: 'supervise' }),
          // Its link to the controller's queue: a socket in memory, reached by `exec ... link`.
          ...tmpfs(SUPERVISE_RUN_DIR),
          '--env',
          `BOT_BOTTLE_SLUG=${spec.slug}`,
          '--env',
          `BOT_BOTTLE_SUPERVISE_TIMEOUT_MS=${spec.supervise.timeoutMs}`,
          ...sidecarHardening,
          '--entrypoint',
          'node',
          spec.egressImage,
          SUPERVISE_MAIN,
        ],
        'starting the supervise sidecar',
      );
    }

    progress(`starting the agent container (runtime ${spec.runtime})`);
    const envNames = Object.keys(spec.agentEnv).flatMap((n) => ['--env', n]);
    const errs: Buffer[] = [];
    const r = await spawnDocker(
      [
        'run',
        '--detach',
        '--name',
        names.agent(spec.slug),
        '--hostname',
        spec.slug,
        '--network',
        internal,
        '--runtime',
        spec.runtime,
        ...labelArgs({
          ...common,
          [LABEL.role]: 'agent',
          [LABEL.provider]: spec.provider,
          // Space-separated (bottle names are kebab-case, so no space is ever in one).
          [LABEL.bottles]: spec.bottles.join(' '),
          [LABEL.label]: spec.label,
        }),
        '--cap-drop',
        'ALL',
        '--security-opt',
        'no-new-privileges',
        '--user',
        GUEST_USER,
        '--workdir',
        GUEST_WORKSPACE,
        ...envNames,
        '--entrypoint',
        'sleep',
        spec.agentImage,
        'infinity',
      ],
      { env: spec.agentEnv, stdout: 'pipe', stderr: 'pipe', onStderr: (c) => errs.push(c) },
    );
    if (r.code !== 0) {
      throw new EnvironmentError(
        `starting the agent container failed: ${firstLine(Buffer.concat(errs).toString('utf8'))}`,
      );
    }
  }

  async egressControl(slug: string, op: EgressOp, input?: string): Promise<EgressReply> {
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    const r = await spawnDocker(
      [
        'exec',
        ...(input === undefined ? [] : ['--interactive']),
        names.egress(slug),
        'node',
        SIDECAR_MAIN,
        'ctl',
        op,
      ],
      {
        stdout: 'pipe',
        stderr: 'pipe',
        onStdout: (c) => out.push(c),
        onStderr: (c) => errs.push(c),
        ...(input === undefined ? {} : { input }),
      },
    );
    const text = Buffer.concat(out).toString('utf8').trim();
    try {
      return JSON.parse(text.split('\n').at(-1) ?? '') as EgressReply;
    } catch {
      throw new EnvironmentError(
        `the egress proxy of ${slug} did not answer '${op}' (exit ${r.code})`,
        firstLine(Buffer.concat(errs).toString('utf8')) || text.slice(0, 300),
      );
    }
  }

  async trustCa(slug: string, certPem: string): Promise<void> {
    // Fixed script, certificate on stdin; root only for this step (the agent runs as `agent`).
    const script = [
      'set -e',
      'b=/etc/ssl/certs/ca-certificates.crt',
      'sed -i \'/^# bot-bottle egress CA begin$/,/^# bot-bottle egress CA end$/d\' "$b"',
      "{ echo '# bot-bottle egress CA begin'; cat; echo '# bot-bottle egress CA end'; } >> \"$b\"",
    ].join('\n');
    const errs: Buffer[] = [];
    const r = await spawnDocker(
      ['exec', '--interactive', '--user', '0', names.agent(slug), 'sh', '-c', script],
      { input: certPem, stdout: 'pipe', stderr: 'pipe', onStderr: (c) => errs.push(c) },
    );
    if (r.code !== 0) {
      throw new EnvironmentError(
        `installing the bottle CA in the agent container failed: ${firstLine(Buffer.concat(errs).toString('utf8'))}`,
      );
    }
  }

  async waitForEgress(slug: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await docker(['logs', names.egress(slug)], { timeoutMs: 10_000 });
      if (r.code === 0 && r.stdout.includes('"kind":"ready"')) return;
      if (Date.now() > deadline) {
        throw new EnvironmentError(
          `the egress proxy of ${slug} did not become ready within ${timeoutMs / 1000} s`,
          `its log:\n${(r.stdout + r.stderr).trim().slice(-2000)}`,
        );
      }
      const state = await docker(['inspect', '--format', '{{.State.Status}}', names.egress(slug)]);
      if (state.stdout.trim() === 'exited') {
        throw new EnvironmentError(
          `the egress proxy of ${slug} exited at start`,
          `its log:\n${(r.stdout + r.stderr).trim().slice(-2000)}`,
        );
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  exec(slug: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const flags: string[] = [];
    if (opts.tty === true) flags.push('--tty');
    if (opts.stdin === 'inherit' || opts.stdin === 'pipe' || opts.input !== undefined)
      flags.push('--interactive');
    if (opts.user !== undefined) flags.push('--user', opts.user);
    if (opts.workdir !== undefined) flags.push('--workdir', opts.workdir);
    for (const n of Object.keys(opts.env ?? {})) flags.push('--env', n);
    return spawnDocker(['exec', ...flags, names.agent(slug), ...argv], {
      ...opts,
      stdin: opts.input !== undefined ? 'pipe' : (opts.stdin ?? 'ignore'),
    });
  }

  openStream(slug: string, role: ContainerRole, argv: readonly string[]): EngineStream {
    const child = spawn(DOCKER_BIN, ['exec', '--interactive', containerOf(slug, role), ...argv], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stderr.resume();
    const done = new Promise<number>((resolve) => {
      child.on('error', () => {
        resolve(127);
      });
      child.on('close', (code) => {
        resolve(code ?? 1);
      });
    });
    child.stdin.on('error', () => undefined);
    return {
      stdin: child.stdin,
      stdout: child.stdout,
      done,
      close: () => {
        child.stdin.end();
        child.kill('SIGTERM');
      },
    };
  }

  async writeFiles(
    slug: string,
    role: ContainerRole,
    dir: string,
    files: readonly ContainerFile[],
  ): Promise<void> {
    const errs: Buffer[] = [];
    const r = await spawnDocker(
      ['exec', '--interactive', '--user', '0', containerOf(slug, role), ...WRITE_FILES_ARGV, dir],
      {
        input: tarFiles(files),
        stdout: 'pipe',
        stderr: 'pipe',
        onStderr: (c) => errs.push(c),
      },
    );
    if (r.code !== 0) {
      throw new EnvironmentError(
        `writing ${dir} in the ${role} container of ${slug} failed: ${firstLine(Buffer.concat(errs).toString('utf8')) || `exit ${r.code}`}`,
      );
    }
  }

  async copyIn(slug: string, tar: NodeJS.ReadableStream, dest: string): Promise<void> {
    const errs: Buffer[] = [];
    const r = await spawnDocker(
      ['exec', '--interactive', names.agent(slug), 'tar', '-x', '-f', '-', '-C', dest],
      { stdinStream: tar, stdout: 'pipe', stderr: 'pipe', onStderr: (c) => errs.push(c) },
    );
    if (r.code !== 0) {
      throw new EnvironmentError(
        `copying files into ${dest} failed: ${firstLine(Buffer.concat(errs).toString('utf8'))}`,
      );
    }
  }

  async copyOut(slug: string, argv: readonly string[], hostPath: string): Promise<number> {
    const out = createWriteStream(hostPath);
    const r = await spawnDocker(['exec', names.agent(slug), ...argv], {
      stdout: 'pipe',
      stderr: 'pipe',
      onStdout: (c) => out.write(c),
    });
    await new Promise<void>((res) => out.end(res));
    return r.code;
  }

  async enumerateActive(): Promise<ActiveBottle[]> {
    // One process: the dashboard asks every second.
    return bottlesFromPs(
      await must(
        ['ps', '--all', '--filter', `label=${LABEL.role}=agent`, '--format', PS_FORMAT],
        'listing bottles',
      ),
    );
  }

  async freeze(slug: string, identity: string): Promise<string> {
    const image = names.savedImage(identity);
    await must(
      [
        'commit',
        '--change',
        `LABEL ${LABEL.role}=saved-image`,
        '--change',
        `LABEL ${LABEL.identity}=${identity}`,
        names.agent(slug),
        image,
      ],
      `saving the agent container of ${slug}`,
      300_000,
    );
    return image;
  }

  async teardown(slug: string): Promise<TeardownReport> {
    const filter = ['--filter', `label=${LABEL.slug}=${slug}`];
    const list = async (args: string[]): Promise<string[]> =>
      (await must(args, `listing what ${slug} created`)).split('\n').filter((s) => s !== '');
    // Idempotent: a freeze, a stop and the controller may tear down at once.
    const gone = (stderr: string): boolean => /no such|not found/i.test(stderr);
    const containers = await list(['ps', '--all', '--quiet', ...filter]);
    if (containers.length > 0) {
      const r = await docker(['rm', '--force', '--volumes', ...containers]);
      if (r.code !== 0 && !gone(r.stderr)) {
        throw new EnvironmentError(
          `removing the containers of ${slug} failed: ${firstLine(r.stderr)}`,
        );
      }
    }
    const networks = await list(['network', 'ls', '--quiet', ...filter]);
    for (const n of networks) {
      const r = await docker(['network', 'rm', n]);
      if (r.code !== 0 && !gone(r.stderr)) {
        throw new EnvironmentError(
          `removing the networks of ${slug} failed: ${firstLine(r.stderr)}`,
        );
      }
    }
    return { containers, networks };
  }

  async pruneNetworks(): Promise<string[]> {
    const nets = (
      await must(
        ['network', 'ls', '--filter', `label=${LABEL.role}=network`, '--format', '{{.Name}}'],
        'listing networks',
      )
    )
      .split('\n')
      .filter((s) => s !== '');
    const removed: string[] = [];
    for (const n of nets) {
      const users = await must(
        ['network', 'inspect', '--format', '{{len .Containers}}', n],
        `inspecting ${n}`,
      );
      if (users.trim() !== '0') continue;
      const slug = await must(
        ['network', 'inspect', '--format', `{{index .Labels "${LABEL.slug}"}}`, n],
        `inspecting ${n}`,
      );
      const containers = await must(
        ['ps', '--all', '--quiet', '--filter', `label=${LABEL.slug}=${slug.trim()}`],
        'listing containers',
      );
      if (containers.trim() !== '') continue;
      if ((await docker(['network', 'rm', n])).code === 0) removed.push(n);
    }
    return removed;
  }

  async removeSaved(image: string): Promise<void> {
    const r = await docker(['image', 'rm', image]);
    if (r.code !== 0 && !/No such image/i.test(r.stderr)) {
      throw new EnvironmentError(`removing ${image} failed: ${firstLine(r.stderr)}`);
    }
  }

  listImages(): Promise<EngineImage[]> {
    return listImages();
  }

  removeImage(ref: string): Promise<void> {
    return removeImage(ref);
  }

  imageId(ref: string): Promise<string | undefined> {
    return imageId(ref);
  }

  async egressLog(slug: string, follow: boolean, onLine: (line: string) => void): Promise<void> {
    const r = await runStreaming(
      DOCKER_BIN,
      ['logs', ...(follow ? ['--follow'] : []), names.egress(slug)],
      onLine,
    );
    if (r.code !== 0) {
      throw new EnvironmentError(`reading the egress log of ${slug} failed (exit ${r.code})`);
    }
  }

  async egressLogText(slug: string): Promise<{ text: string; sidecarId: string } | undefined> {
    const id = await docker(['container', 'inspect', '--format', '{{.Id}}', names.egress(slug)]);
    if (id.code !== 0) return undefined;
    const r = await docker(['logs', names.egress(slug)], { timeoutMs: 60_000 });
    if (r.code !== 0) return undefined;
    return { text: r.stdout, sidecarId: id.stdout.trim().slice(0, 12) };
  }

  async exists(slug: string): Promise<boolean> {
    const r = await docker(['container', 'inspect', '--format', '{{.Id}}', names.agent(slug)]);
    return r.code === 0;
  }
}
