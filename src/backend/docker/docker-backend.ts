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
import { dockerChecks, engineFacts } from './health.js';
import { bottlesFromPs, PS_FORMAT } from './ps.js';
import { listImages } from './images.js';

export const DOCKER_BIN = process.env.BOT_BOTTLE_DOCKER ?? 'docker';

export const dockerCli = new EngineCli(DOCKER_BIN, 'docker', FIX.installDocker);

const dialect: EngineDialect = {
  cli: dockerCli,
  // No address for the host on this bridge: without it the agent has no route to the host.
  internalNetworkOptions: ['--opt', 'com.docker.network.bridge.inhibit_ipv4=true'],
  hostGatewayArgs: ['--add-host', 'host.docker.internal:host-gateway'],
  tmpfsOwner: (uid, gid) => `uid=${uid},gid=${gid}`,
  // docker's `rm --force` kills at once.
  forceRemove: ['--force'],
  aliasesResolve: true,
  createArgs: [],
  runtimeArgs: (runtime) => ['--runtime', runtime],
  baseImageFix: FIX.baseImage,
};

/** The Docker engine (local, Docker Desktop, colima or remote through DOCKER_HOST). */
export class DockerBackend extends CliEngineBackend {
  readonly name = 'docker' as const;
  protected readonly dialect = dialect;

  async preflight(runtime: RuntimeName): Promise<void> {
    const facts = await engineFacts(dockerCli);
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

  doctorChecks(req: DoctorRequest): Promise<Check[]> {
    return dockerChecks(dockerCli, req);
  }

  listImages(): Promise<EngineImage[]> {
    return listImages(dockerCli);
  }

  async enumerateActive(): Promise<ActiveBottle[]> {
    // One process: the dashboard asks every second.
    return bottlesFromPs(
      await dockerCli.must(
        ['ps', '--all', '--filter', `label=${LABEL.role}=agent`, '--format', PS_FORMAT],
        'listing bottles',
      ),
    );
  }
}
