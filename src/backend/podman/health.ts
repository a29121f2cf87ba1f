import type { Check, DoctorRequest } from '../backend.js';
import { baseImageCheck, errorText } from '../cli-engine/checks.js';
import { firstLine, type EngineCli } from '../cli-engine/cli.js';
import { FIX } from './fixes.js';

export interface PodmanFacts {
  clientVersion: string | undefined;
  /** The engine's default OCI runtime (runc or crun). */
  ociRuntime: string | undefined;
  rootless: boolean;
  storageDriver: string | undefined;
  cgroupVersion: string | undefined;
  networkBackend: string | undefined;
  /** The rootless network helper's path (slirp4netns), when podman found one. */
  slirp: string | undefined;
  error: string | undefined;
}

interface PodmanInfo {
  host?: {
    ociRuntime?: { name?: string };
    security?: { rootless?: boolean };
    cgroupVersion?: string;
    networkBackend?: string;
    slirp4netns?: { executable?: string };
  };
  store?: { graphDriverName?: string };
  version?: { Version?: string };
}

/** The standard OCI runtimes: a bottle's `runtime: runc` runs on either. */
export const OCI_RUNTIMES = ['runc', 'crun'];

export async function podmanFacts(cli: EngineCli): Promise<PodmanFacts> {
  const facts: PodmanFacts = {
    clientVersion: undefined,
    ociRuntime: undefined,
    rootless: false,
    storageDriver: undefined,
    cgroupVersion: undefined,
    networkBackend: undefined,
    slirp: undefined,
    error: undefined,
  };
  const client = await cli.run(['version', '--format', '{{.Client.Version}}'], {
    timeoutMs: 15_000,
  });
  const clientLine = client.stdout.trim().split('\n')[0];
  facts.clientVersion = clientLine === '' ? undefined : clientLine;
  const info = await cli.run(['info', '--format', 'json'], { timeoutMs: 30_000 });
  if (info.code !== 0) {
    facts.error =
      firstLine(info.stderr.replace(/^time=.*level=warning.*$/gm, '')) ||
      `podman info exited ${info.code}`;
    return facts;
  }
  const parsed = JSON.parse(info.stdout) as PodmanInfo;
  facts.ociRuntime = parsed.host?.ociRuntime?.name;
  facts.rootless = parsed.host?.security?.rootless === true;
  facts.storageDriver = parsed.store?.graphDriverName;
  facts.cgroupVersion = parsed.host?.cgroupVersion;
  facts.networkBackend = parsed.host?.networkBackend;
  const slirp = parsed.host?.slirp4netns?.executable;
  facts.slirp = slirp === undefined || slirp === '' ? undefined : slirp;
  return facts;
}

/** `doctor`'s checks of podman: client, engine (rootless or not), runtime, network helper, base image. */
export async function podmanChecks(cli: EngineCli, req: DoctorRequest): Promise<Check[]> {
  let facts: PodmanFacts;
  try {
    facts = await podmanFacts(cli);
  } catch (e) {
    return [
      {
        id: 'podman-client',
        title: 'podman client',
        status: 'fail',
        summary: errorText(e),
        fix: FIX.installPodman,
      },
    ];
  }
  const checks: Check[] = [
    {
      id: 'podman-client',
      title: 'podman client',
      status: 'ok',
      summary: facts.clientVersion ?? 'present',
    },
  ];
  if (facts.error !== undefined) {
    checks.push({
      id: 'podman-engine',
      title: 'podman engine',
      status: 'fail',
      summary: facts.error,
      fix: FIX.startEngine,
    });
    return checks;
  }
  checks.push({
    id: 'podman-engine',
    title: 'podman engine',
    status: 'ok',
    summary: `${facts.rootless ? 'rootless' : 'rootful'} (storage ${facts.storageDriver ?? '?'}, cgroup ${facts.cgroupVersion ?? '?'}, network ${facts.networkBackend ?? '?'})`,
  });
  const runtime = facts.ociRuntime ?? '';
  checks.push(
    OCI_RUNTIMES.includes(runtime)
      ? {
          id: 'runtime-runc',
          title: 'runtime runc',
          status: 'ok',
          summary: `podman's OCI runtime is ${runtime} (bottles with runtime: runc use it)`,
        }
      : {
          id: 'runtime-runc',
          title: 'runtime runc',
          status: 'fail',
          summary: `podman's OCI runtime is '${runtime || '?'}', not runc or crun`,
          fix: 'install runc or crun (`apt-get install runc`) and set runtime = "runc" under [engine] in containers.conf',
        },
  );
  if (facts.rootless) {
    checks.push(
      facts.slirp !== undefined || facts.networkBackend === 'netavark'
        ? {
            id: 'podman-network',
            title: 'rootless net',
            status: 'ok',
            summary: facts.slirp ?? facts.networkBackend ?? 'present',
          }
        : {
            id: 'podman-network',
            title: 'rootless net',
            status: 'fail',
            summary: 'no slirp4netns: rootless containers cannot have networks',
            fix: FIX.installPodman,
          },
    );
  }
  checks.push({
    id: 'runtime-runsc',
    title: 'runtime runsc',
    status: 'warn',
    summary: 'bottles with runtime: runsc need the docker backend',
    fix: FIX.runsc,
  });
  if (req.baseImage !== undefined) {
    checks.push(await baseImageCheck(cli, req.baseImage, FIX.baseImage));
  }
  return checks;
}
