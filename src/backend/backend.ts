import { EnvironmentError } from '../errors.js';
import type { BackendName } from '../plan/schema.js';
import type { ProviderName, RuntimeName } from '../manifest/schema.js';
import type { ImageRecipe } from '../providers/recipe.js';

/**
 * What turns a plan into running containers. The launch core, the CLI and
 * the supervise host code talk only to this interface (an implementation is
 * chosen in ./select.ts); only src/backend/<engine>/ knows an engine's CLI.
 */

export { egressImageRecipe, SIDECAR_LINK_ARGV } from './sidecar-image.js';
export { controllerImageRecipe, CONTROLLER_IMAGE } from './controller-image.js';
export type {
  ClusterBackend,
  ClusterBottleSpec,
  ClusterRendering,
  ClusterSecrets,
  K8sObject,
} from './kubernetes/types.js';

/** The proxy port inside the egress sidecar, and the name the agent reaches it by. */
export const EGRESS_PORT = 3128;
export const EGRESS_ALIAS = 'egress';

/** Label keys every container and network of a bottle carries. */
export const LABEL = {
  slug: 'dev.bot-bottle.slug',
  agent: 'dev.bot-bottle.agent',
  role: 'dev.bot-bottle.role',
  startedAt: 'dev.bot-bottle.started-at',
  provider: 'dev.bot-bottle.provider',
  bottles: 'dev.bot-bottle.bottles',
  label: 'dev.bot-bottle.label',
  identity: 'dev.bot-bottle.identity',
  controllerPid: 'dev.bot-bottle.controller-pid',
  controllerHost: 'dev.bot-bottle.controller-host',
} as const;

export type Role = 'agent' | 'egress' | 'supervise' | 'network' | 'saved-image';

/** Everything the backend needs to create one bottle; no secret values. */
export interface LaunchSpec {
  slug: string;
  label: string;
  agent: string;
  provider: ProviderName;
  bottles: readonly string[];
  identity: string;
  startedAt: string;
  runtime: RuntimeName;
  agentImage: string;
  egressImage: string;
  /**
   * Agent environment. Values are passed through the docker client's own
   * environment (`-e NAME`), never on a command line.
   */
  agentEnv: Readonly<Record<string, string>>;
  /**
   * The supervise sidecar (MCP on the internal network). Its queue and the
   * config in force reach it and the agent through the engine (see
   * `openStream` and `writeFiles`), never a host path.
   */
  supervise?: { timeoutMs: number };
}

/** The containers of one bottle, by the job they do. */
export type ContainerRole = 'agent' | 'egress' | 'supervise';

/** A long-lived command in a container whose stdin and stdout are a byte pipe. */
export interface EngineStream {
  stdin: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  /** The exit code, once the command or the engine connection has ended. */
  done: Promise<number>;
  close(): void;
}

/** A whole file written into a container directory. */
export interface ContainerFile {
  name: string;
  content: string;
  mode: number;
}

export interface ExecOptions {
  /** Attach the caller's terminal (interactive agent). */
  tty?: boolean;
  /** Pass the caller's stdin. */
  stdin?: 'inherit' | 'ignore' | 'pipe';
  stdout?: 'inherit' | 'pipe';
  stderr?: 'inherit' | 'pipe';
  user?: string;
  workdir?: string;
  /** Extra environment for this command only (values via the client's env). */
  env?: Readonly<Record<string, string>>;
  /** Called with each stdout chunk when stdout is 'pipe'. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Bytes written to the command's stdin when stdin is 'pipe'. */
  input?: Buffer | string;
}

export interface ExecResult {
  code: number;
}

/** A bottle the backend found running (or left over). */
export interface ActiveBottle {
  slug: string;
  label: string;
  agent: string;
  provider: string;
  bottles: string[];
  identity: string;
  startedAt: string;
  /** The agent container's state as the engine reports it. */
  state: string;
  controllerPid: number | undefined;
  controllerHost: string | undefined;
}

/** The egress sidecar's answer to a control request. */
export type EgressReply =
  { ok: true; revision: number; policy?: unknown } | { ok: false; error: string };

export type EgressOp = 'configure' | 'set-policy' | 'show';

export interface TeardownReport {
  containers: string[];
  networks: string[];
}

/** An image of bot-bottle's (its repository is `bot-bottle-*`) as the engine holds it. */
export interface EngineImage {
  /** repository:tag */
  ref: string;
  id: string;
  /** Bytes, base layers included. */
  size: number;
  /** Bytes only this image holds: what removing it frees. */
  uniqueSize: number;
  /** ISO time the image was created. */
  created: string;
  /** Containers (in any state) created from it. */
  containers: number;
}

export interface EnsureImageResult {
  tag: string;
  hash: string;
  /** False when an image with this content hash already existed. */
  built: boolean;
  seconds: number;
}

export interface EnsureImageOptions {
  /** Progress lines for the user ("step 3/9: RUN npm install ..."). */
  onProgress?: (line: string) => void;
  /** Where the full build log goes; kept after a failure. */
  logDir: string;
}

export class ImageBuildError extends EnvironmentError {}

/** The engine's local images. */
export interface BackendImages {
  /**
   * Make sure the image for `recipe` exists, building it only when no image
   * carries its content hash; progress is streamed, the full log kept.
   */
  ensure(recipe: ImageRecipe, opts: EnsureImageOptions): Promise<EnsureImageResult>;
  /** The local image ID of `ref`, or undefined when it is not present. */
  id(ref: string): Promise<string | undefined>;
  exists(ref: string): Promise<boolean>;
  /** Point `target` at the image `source` names. */
  tag(source: string, target: string): Promise<void>;
  /** Remove an image reference; one that is already gone is not an error. */
  remove(ref: string): Promise<void>;
}

export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One line of `bot-bottle doctor`. */
export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  summary: string;
  /** What to do about it, for warn and fail. */
  fix?: string | undefined;
}

export interface DoctorRequest {
  /** The base image the settings name, and where that choice came from. */
  baseImage?: { ref: string; from: string };
}

export interface Backend {
  readonly name: BackendName;
  readonly images: BackendImages;
  /** Engine client, engine, runtimes and base image, as `doctor` lists them. */
  doctorChecks(req: DoctorRequest): Promise<Check[]>;
  /** Check the engine answers and the runtime exists, before anything is created. */
  preflight(runtime: RuntimeName): Promise<void>;
  /** Create networks, the egress sidecar and the (idle) agent container. */
  launch(spec: LaunchSpec, progress: (line: string) => void): Promise<void>;
  /**
   * Talk to the egress sidecar's control socket: `configure` (policy and
   * secrets, first load starts the proxy), `set-policy` (live rule change),
   * `show`. `input` travels on stdin, never on a command line.
   */
  egressControl(slug: string, op: EgressOp, input?: string): Promise<EgressReply>;
  /** Add the bottle's CA certificate to the agent's system trust store (replacing an older one). */
  trustCa(slug: string, certPem: string): Promise<void>;
  /** Wait until the egress proxy accepts connections. */
  waitForEgress(slug: string, timeoutMs: number): Promise<void>;
  exec(slug: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * A long-lived `exec` with stdin and stdout piped, in one of the bottle's
   * containers as its own user: how the controller reaches a sidecar on any
   * engine (local, Docker Desktop, remote, rootless) without a shared path.
   */
  openStream(slug: string, role: ContainerRole, argv: readonly string[]): EngineStream;
  /**
   * Replace whole files in a directory of a container, as root (created if
   * missing; each file renamed into place, so a reader sees old or new).
   */
  writeFiles(
    slug: string,
    role: ContainerRole,
    dir: string,
    files: readonly ContainerFile[],
  ): Promise<void>;
  /** Unpack a tar stream read from `tar` into `dest` in the agent container, as its user. */
  copyIn(slug: string, tar: NodeJS.ReadableStream, dest: string): Promise<void>;
  /** Write the output of `argv` run in the agent container to a host file. */
  copyOut(slug: string, argv: readonly string[], hostPath: string): Promise<number>;
  enumerateActive(): Promise<ActiveBottle[]>;
  /** Save the agent container's filesystem as an image; returns its reference. */
  freeze(slug: string, identity: string): Promise<string>;
  /** Remove every container and network labelled with this slug. */
  teardown(slug: string): Promise<TeardownReport>;
  /** Remove bot-bottle networks no container uses (a launch that died between steps). */
  pruneNetworks(): Promise<string[]>;
  /** Remove a saved image (rm <identity>). */
  removeSaved(image: string): Promise<void>;
  /** bot-bottle's images with their sizes and users (`ps --all`, `prune`). */
  listImages(): Promise<EngineImage[]>;
  /** Remove an image by reference; one already gone is not an error. */
  removeImage(ref: string): Promise<void>;
  /** The image's ID; undefined when the engine does not hold it. */
  imageId(ref: string): Promise<string | undefined>;
  /** The egress sidecar's whole log and its container id; undefined when it is gone. */
  egressLogText(slug: string): Promise<{ text: string; sidecarId: string } | undefined>;
  /** Lines of the egress sidecar's log. */
  egressLog(slug: string, follow: boolean, onLine: (line: string) => void): Promise<void>;
  /** Does the agent container still exist? */
  exists(slug: string): Promise<boolean>;
}
