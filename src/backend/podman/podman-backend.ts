import { EnvironmentError } from '../../errors.js';
import type { RuntimeName } from '../../manifest/schema.js';
import {
  LABEL,
  type ActiveBottle,
  type Check,
  type DoctorRequest,
  type EngineImage,
} from '../backend.js';
import { EngineCli } from '../cli-engine/cli.js';
import { CliEngineBackend, type EngineDialect } from '../cli-engine/engine-backend.js';
import { FIX } from './fixes.js';
import { OCI_RUNTIMES, podmanChecks, podmanFacts } from './health.js';
import { bottlesFromPodmanPs } from './ps.js';
import { listPodmanImages } from './images.js';

export const PODMAN_BIN = process.env.BOT_BOTTLE_PODMAN ?? 'podman';

export const podmanCli = new EngineCli(PODMAN_BIN, 'podman', FIX.installPodman);

/**
 * Podman 4.3 (Debian 12), rootless, as found by trying docker's argv:
 * - `network create` rejects docker's `com.docker.network.bridge.*`
 *   options; an internal CNI bridge gets no host-side address anyway, so
 *   the agent has no route out of its subnet.
 * - `--add-host NAME:host-gateway` is refused ("invalid IP address"); podman
 *   itself writes `host.containers.internal` (the host's address) into
 *   every container's /etc/hosts, so the sidecar is told that name.
 * - `--tmpfs` has no uid=/gid= options; `U` chowns it to the container user.
 * - networks have no DNS without the dnsname plugin, so aliases do not
 *   resolve: the agent gets /etc/hosts lines for the sidecars.
 * - `rm --force` waits the stop timeout (10 s, `sleep` ignores SIGTERM as
 *   pid 1) unless `--time 0`.
 * - `ps --format` templates have no `.Label`; `--format json` gives labels
 *   as a map.
 * - `run`/`create` copy the client's http(s)/ftp/no proxy variables into
 *   the container unless `--http-proxy=false`.
 * - `--runtime` takes the names in containers.conf; the engine's default
 *   OCI runtime is runc or crun.
 */
const dialect: EngineDialect = {
  cli: podmanCli,
  internalNetworkOptions: [],
  hostGatewayArgs: ['--env', 'BOT_BOTTLE_HOST_GATEWAY=host.containers.internal'],
  tmpfsOwner: () => 'U',
  forceRemove: ['--force', '--time', '0'],
  aliasesResolve: false,
  // Else podman copies the operator's proxy variables (and any password in them) into containers.
  createArgs: ['--http-proxy=false'],
  // runc means "the standard OCI runtime": podman's own (runc or crun).
  runtimeArgs: (runtime) => (runtime === 'runc' ? [] : ['--runtime', runtime]),
  baseImageFix: FIX.baseImage,
};

/** Podman, rootless or rootful, through its docker-compatible CLI. */
export class PodmanBackend extends CliEngineBackend {
  readonly name = 'podman' as const;
  protected readonly dialect = dialect;

  async preflight(runtime: RuntimeName): Promise<void> {
    const facts = await podmanFacts(podmanCli);
    if (facts.error !== undefined) {
      throw new EnvironmentError(
        `podman does not answer: ${facts.error}`,
        `${FIX.startEngine}; then \`bot-bottle doctor --backend podman\``,
      );
    }
    if (runtime === 'runc' && !OCI_RUNTIMES.includes(facts.ociRuntime ?? '')) {
      throw new EnvironmentError(
        `podman's OCI runtime is '${facts.ociRuntime ?? '?'}', not runc or crun`,
        'install runc or crun and set runtime under [engine] in containers.conf',
      );
    }
    if (runtime === 'runsc') {
      throw new EnvironmentError(
        'runtime runsc (gVisor) is not supported with the podman backend',
        FIX.runsc,
      );
    }
  }

  doctorChecks(req: DoctorRequest): Promise<Check[]> {
    return podmanChecks(podmanCli, req);
  }

  listImages(): Promise<EngineImage[]> {
    return listPodmanImages(podmanCli);
  }

  async enumerateActive(): Promise<ActiveBottle[]> {
    return bottlesFromPodmanPs(
      await podmanCli.must(
        ['ps', '--all', '--filter', `label=${LABEL.role}=agent`, '--format', 'json'],
        'listing bottles',
      ),
    );
  }
}
