import { spawn } from 'node:child_process';
import { containerEnv } from './container-env.js';
import { createWriteStream } from 'node:fs';
import { hostname } from 'node:os';
import { EnvironmentError } from '../../errors.js';
import type { RuntimeName } from '../../manifest/schema.js';
import type { ImageRecipe } from '../../providers/recipe.js';
import { GUEST_USER, GUEST_WORKSPACE } from '../../providers/registry.js';
import { runStreaming } from '../../util/exec.js';
import {
  EGRESS_ALIAS,
  LABEL,
  type ActiveBottle,
  type Backend,
  type BackendImages,
  type Check,
  type ContainerFile,
  type ContainerRole,
  type EngineImage,
  type EngineStream,
  type DoctorRequest,
  type EgressOp,
  type EgressReply,
  type EnsureImageOptions,
  type EnsureImageResult,
  type ExecOptions,
  type ExecResult,
  type LaunchSpec,
  type TeardownReport,
} from '../backend.js';
import type { BackendName } from '../../plan/schema.js';
import { SIDECAR_MAIN, SIDECAR_RUN_DIR, SUPERVISE_MAIN } from '../sidecar-image.js';
import { SUPERVISE_HOST, SUPERVISE_RUN_DIR } from '../../supervise/paths.js';
import { tarFiles, WRITE_FILES_ARGV } from '../container-files.js';
import { ensureImage, imageId } from './build.js';
import { firstLine, isMissing, type EngineCli } from './cli.js';

export const names = {
  agent: (slug: string): string => `bot-bottle-${slug}`,
  egress: (slug: string): string => `bot-bottle-${slug}-egress`,
  supervise: (slug: string): string => `bot-bottle-${slug}-supervise`,
  internalNet: (slug: string): string => `bot-bottle-${slug}-internal`,
  egressNet: (slug: string): string => `bot-bottle-${slug}-egress`,
  savedImage: (identity: string): string => `bot-bottle-saved:${identity}`,
};

function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

function containerOf(slug: string, role: ContainerRole): string {
  return role === 'agent'
    ? names.agent(slug)
    : role === 'egress'
      ? names.egress(slug)
      : names.supervise(slug);
}

/**
 * Where two engines with a docker-like CLI differ. Each engine folder
 * fills this in; the rest of the launch is the same argv for both.
 */
export interface EngineDialect {
  readonly cli: EngineCli;
  /** Extra `network create` options for the bottle's internal network. */
  readonly internalNetworkOptions: readonly string[];
  /** Options that let the egress sidecar reach the engine's host (the `host-gateway` route). */
  readonly hostGatewayArgs: readonly string[];
  /** The tmpfs option that makes the sidecar's run directory its user's. */
  tmpfsOwner(uid: number, gid: number): string;
  /** `rm` options that remove a running container at once. */
  readonly forceRemove: readonly string[];
  /**
   * Whether containers find each other by network alias (the engine runs a
   * DNS server on the network). When not, the agent gets /etc/hosts lines.
   */
  readonly aliasesResolve: boolean;
  /** Options for every container the backend creates (`create`, `run`). */
  readonly createArgs: readonly string[];
  /** `run` options that select the bottle's runtime. */
  runtimeArgs(runtime: RuntimeName): readonly string[];
  /** What to do when the base image is missing. */
  baseImageFix(ref: string): string;
}

/**
 * The Backend for engines driven through a docker-compatible CLI (docker,
 * podman). Listing, health checks and the dialect come from the engine.
 */
export abstract class CliEngineBackend implements Backend {
  abstract readonly name: BackendName;
  protected abstract readonly dialect: EngineDialect;
  abstract preflight(runtime: RuntimeName): Promise<void>;
  abstract doctorChecks(req: DoctorRequest): Promise<Check[]>;
  abstract enumerateActive(): Promise<ActiveBottle[]>;
  abstract listImages(): Promise<EngineImage[]>;

  private get cli(): EngineCli {
    return this.dialect.cli;
  }

  private must(
    args: readonly string[],
    what: string,
    timeoutMs = 60_000,
    env?: NodeJS.ProcessEnv,
  ): Promise<string> {
    return this.cli.must(args, what, timeoutMs, env);
  }

  get images(): BackendImages {
    const cli = this.cli;
    const fix = (ref: string): string => this.dialect.baseImageFix(ref);
    return {
      ensure: (recipe: ImageRecipe, opts: EnsureImageOptions): Promise<EnsureImageResult> =>
        ensureImage(cli, recipe, { ...opts, baseImageFix: fix }),
      id: (ref) => imageId(cli, ref),
      exists: async (ref) => (await imageId(cli, ref)) !== undefined,
      tag: async (source, target) => {
        await cli.must(['tag', source, target], `tagging ${source} as ${target}`);
      },
      remove: async (ref) => {
        const r = await cli.run(['image', 'rm', ref]);
        if (r.code !== 0 && !isMissing(r.stderr)) {
          throw new EnvironmentError(`removing ${ref} failed: ${firstLine(r.stderr)}`);
        }
      },
    };
  }

  /** The bottle's internal network (the agent's only one) and the sidecar's way out. */
  private async createNetworks(slug: string, labels: readonly string[]): Promise<void> {
    await this.must(
      [
        'network',
        'create',
        '--internal',
        ...this.dialect.internalNetworkOptions,
        ...labels,
        names.internalNet(slug),
      ],
      'creating the internal network',
    );
    await this.must(
      ['network', 'create', ...labels, names.egressNet(slug)],
      'creating the egress network',
    );
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
    await this.createNetworks(spec.slug, labelArgs({ ...common, [LABEL.role]: 'network' }));

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
      `${dir}:rw,noexec,nosuid,nodev,size=4m,mode=0700,${this.dialect.tmpfsOwner(sidecarUid, sidecarGid)}`,
    ];
    progress('starting the egress proxy');
    await this.must(
      [
        'create',
        ...this.dialect.createArgs,
        '--name',
        names.egress(spec.slug),
        '--network',
        egressNet,
        ...labelArgs({ ...common, [LABEL.role]: 'egress' }),
        // The operator's host map may point at the engine's host (`host-gateway`).
        ...this.dialect.hostGatewayArgs,
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
    await this.must(
      ['network', 'connect', '--alias', EGRESS_ALIAS, internal, names.egress(spec.slug)],
      'attaching the egress sidecar to the internal network',
    );
    await this.must(['start', names.egress(spec.slug)], 'starting the egress sidecar');

    if (spec.supervise !== undefined) {
      progress('starting the supervise server (MCP at supervise:9100)');
      await this.must(
        [
          'run',
          '--detach',
          ...this.dialect.createArgs,
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
    const agentEnv = containerEnv(spec.agentEnv);
    const hosts = this.dialect.aliasesResolve ? [] : await this.sidecarHosts(spec);
    const errs: Buffer[] = [];
    const r = await this.cli.spawn(
      [
        'run',
        '--detach',
        ...this.dialect.createArgs,
        '--name',
        names.agent(spec.slug),
        '--hostname',
        spec.slug,
        '--network',
        internal,
        ...hosts,
        ...this.dialect.runtimeArgs(spec.runtime),
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
        ...agentEnv.args,
        '--entrypoint',
        'sleep',
        spec.agentImage,
        'infinity',
      ],
      { env: agentEnv.env, stdout: 'pipe', stderr: 'pipe', onStderr: (c) => errs.push(c) },
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
    const r = await this.cli.spawn(
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
    const r = await this.cli.spawn(
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
      const r = await this.cli.run(['logs', names.egress(slug)], { timeoutMs: 10_000 });
      if (r.code === 0 && r.stdout.includes('"kind":"ready"')) return;
      if (Date.now() > deadline) {
        throw new EnvironmentError(
          `the egress proxy of ${slug} did not become ready within ${timeoutMs / 1000} s`,
          `its log:\n${(r.stdout + r.stderr).trim().slice(-2000)}`,
        );
      }
      const state = await this.cli.run([
        'inspect',
        '--format',
        '{{.State.Status}}',
        names.egress(slug),
      ]);
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
    const env = containerEnv(opts.env ?? {});
    flags.push(...env.args);
    return this.cli.spawn(['exec', ...flags, names.agent(slug), ...argv], {
      ...opts,
      env: env.env,
      stdin: opts.input !== undefined ? 'pipe' : (opts.stdin ?? 'ignore'),
    });
  }

  openStream(slug: string, role: ContainerRole, argv: readonly string[]): EngineStream {
    const child = spawn(this.cli.bin, ['exec', '--interactive', containerOf(slug, role), ...argv], {
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
    const r = await this.cli.spawn(
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
    const r = await this.cli.spawn(
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
    const r = await this.cli.spawn(['exec', names.agent(slug), ...argv], {
      stdout: 'pipe',
      stderr: 'pipe',
      onStdout: (c) => out.write(c),
    });
    await new Promise<void>((res) => out.end(res));
    return r.code;
  }

  async freeze(slug: string, identity: string): Promise<string> {
    const image = names.savedImage(identity);
    await this.must(
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
      (await this.must(args, `listing what ${slug} created`)).split('\n').filter((s) => s !== '');
    // Idempotent: a freeze, a stop and the controller may tear down at once.
    const gone = isMissing;
    const containers = await list(['ps', '--all', '--quiet', ...filter]);
    if (containers.length > 0) {
      const r = await this.cli.run(['rm', ...this.dialect.forceRemove, '--volumes', ...containers]);
      if (r.code !== 0 && !gone(r.stderr)) {
        throw new EnvironmentError(
          `removing the containers of ${slug} failed: ${firstLine(r.stderr)}`,
        );
      }
    }
    const networks = await list(['network', 'ls', '--quiet', ...filter]);
    for (const n of networks) {
      const r = await this.cli.run(['network', 'rm', n]);
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
      await this.must(
        ['network', 'ls', '--filter', `label=${LABEL.role}=network`, '--format', '{{.Name}}'],
        'listing networks',
      )
    )
      .split('\n')
      .filter((s) => s !== '');
    const removed: string[] = [];
    for (const n of nets) {
      // `ps --filter network=` works on both engines (podman's inspect lists no containers).
      const users = await this.must(
        ['ps', '--all', '--quiet', '--filter', `network=${n}`],
        `listing the containers on ${n}`,
      );
      if (users.trim() !== '') continue;
      const slug = await this.must(
        ['network', 'inspect', '--format', `{{index .Labels "${LABEL.slug}"}}`, n],
        `inspecting ${n}`,
      );
      const containers = await this.must(
        ['ps', '--all', '--quiet', '--filter', `label=${LABEL.slug}=${slug.trim()}`],
        'listing containers',
      );
      if (containers.trim() !== '') continue;
      if ((await this.cli.run(['network', 'rm', n])).code === 0) removed.push(n);
    }
    return removed;
  }

  removeSaved(image: string): Promise<void> {
    return this.images.remove(image);
  }

  removeImage(ref: string): Promise<void> {
    return this.images.remove(ref);
  }

  imageId(ref: string): Promise<string | undefined> {
    return this.images.id(ref);
  }

  async egressLog(slug: string, follow: boolean, onLine: (line: string) => void): Promise<void> {
    const r = await runStreaming(
      this.cli.bin,
      ['logs', ...(follow ? ['--follow'] : []), names.egress(slug)],
      onLine,
    );
    if (r.code !== 0) {
      throw new EnvironmentError(`reading the egress log of ${slug} failed (exit ${r.code})`);
    }
  }

  async egressLogText(slug: string): Promise<{ text: string; sidecarId: string } | undefined> {
    const id = await this.cli.run([
      'container',
      'inspect',
      '--format',
      '{{.Id}}',
      names.egress(slug),
    ]);
    if (id.code !== 0) return undefined;
    const r = await this.cli.run(['logs', names.egress(slug)], { timeoutMs: 60_000 });
    if (r.code !== 0) return undefined;
    return { text: r.stdout, sidecarId: id.stdout.trim().slice(0, 12) };
  }

  /**
   * `/etc/hosts` lines that let the agent reach the sidecars by name on an
   * engine whose networks have no DNS (podman 4 with CNI and no dnsname plugin).
   */
  private async sidecarHosts(spec: LaunchSpec): Promise<string[]> {
    const internal = names.internalNet(spec.slug);
    const ipOn = async (container: string): Promise<string> => {
      const ip = (
        await this.must(
          [
            'container',
            'inspect',
            '--format',
            `{{(index .NetworkSettings.Networks "${internal}").IPAddress}}`,
            container,
          ],
          `reading the address of ${container}`,
        )
      ).trim();
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
        throw new EnvironmentError(`${container} has no address on ${internal} (got '${ip}')`);
      }
      return ip;
    };
    const hosts = ['--add-host', `${EGRESS_ALIAS}:${await ipOn(names.egress(spec.slug))}`];
    if (spec.supervise !== undefined) {
      hosts.push('--add-host', `${SUPERVISE_HOST}:${await ipOn(names.supervise(spec.slug))}`);
    }
    return hosts;
  }

  async exists(slug: string): Promise<boolean> {
    const r = await this.cli.run([
      'container',
      'inspect',
      '--format',
      '{{.Id}}',
      names.agent(slug),
    ]);
    return r.code === 0;
  }
}
