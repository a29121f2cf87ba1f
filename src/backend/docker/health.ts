import type { Check, DoctorRequest } from '../backend.js';
import { baseImageCheck, errorText } from '../cli-engine/checks.js';
import { firstLine, type EngineCli } from '../cli-engine/cli.js';
import { FIX } from './fixes.js';

export interface EngineFacts {
  clientVersion: string | undefined;
  serverVersion: string | undefined;
  runtimes: string[];
  storageDriver: string | undefined;
  cgroupVersion: string | undefined;
  error: string | undefined;
}

interface DockerInfo {
  ServerVersion?: string;
  Runtimes?: Record<string, unknown>;
  Driver?: string;
  CgroupVersion?: string;
}

export async function engineFacts(cli: EngineCli): Promise<EngineFacts> {
  const facts: EngineFacts = {
    clientVersion: undefined,
    serverVersion: undefined,
    runtimes: [],
    storageDriver: undefined,
    cgroupVersion: undefined,
    error: undefined,
  };
  const client = await cli.run(['version', '--format', '{{.Client.Version}}'], {
    timeoutMs: 15_000,
  });
  const clientLine = client.stdout.trim().split('\n')[0];
  facts.clientVersion = clientLine === '' ? undefined : clientLine;
  const info = await cli.run(['info', '--format', '{{json .}}'], { timeoutMs: 15_000 });
  if (info.code !== 0) {
    facts.error = firstLine(info.stderr) || `docker info exited ${info.code}`;
    return facts;
  }
  const parsed = JSON.parse(info.stdout) as DockerInfo;
  if (parsed.ServerVersion === undefined || parsed.ServerVersion === '') {
    facts.error = 'docker info returned no server version (is the engine running?)';
    return facts;
  }
  facts.serverVersion = parsed.ServerVersion;
  facts.runtimes = Object.keys(parsed.Runtimes ?? {}).sort();
  facts.storageDriver = parsed.Driver;
  facts.cgroupVersion = parsed.CgroupVersion;
  return facts;
}

/** `doctor`'s checks of the Docker client, engine, runtimes and base image. */
export async function dockerChecks(cli: EngineCli, req: DoctorRequest): Promise<Check[]> {
  const checks: Check[] = [];
  let facts;
  try {
    facts = await engineFacts(cli);
  } catch (e) {
    return [
      {
        id: 'docker-client',
        title: 'docker client',
        status: 'fail',
        summary: errorText(e),
        fix: FIX.installDocker,
      },
    ];
  }
  checks.push({
    id: 'docker-client',
    title: 'docker client',
    status: 'ok',
    summary: facts.clientVersion ?? 'present',
  });
  if (facts.error !== undefined) {
    checks.push({
      id: 'docker-engine',
      title: 'docker engine',
      status: 'fail',
      summary: facts.error,
      fix: FIX.startEngine,
    });
    return checks;
  }
  checks.push({
    id: 'docker-engine',
    title: 'docker engine',
    status: 'ok',
    summary: `${facts.serverVersion ?? '?'} (storage ${facts.storageDriver ?? '?'}, cgroup v${facts.cgroupVersion ?? '?'})`,
  });
  checks.push(
    facts.runtimes.includes('runc')
      ? { id: 'runtime-runc', title: 'runtime runc', status: 'ok', summary: 'available' }
      : {
          id: 'runtime-runc',
          title: 'runtime runc',
          status: 'fail',
          summary: `not listed (have: ${facts.runtimes.join(', ')})`,
          fix: 'reinstall the Docker engine',
        },
  );
  checks.push(
    facts.runtimes.includes('runsc')
      ? {
          id: 'runtime-runsc',
          title: 'runtime runsc',
          status: 'ok',
          summary: 'gVisor available for bottles with runtime: runsc',
        }
      : {
          id: 'runtime-runsc',
          title: 'runtime runsc',
          status: 'warn',
          summary: 'gVisor is not registered; bottles with runtime: runsc cannot start',
          fix: FIX.registerRunsc,
        },
  );
  if (req.baseImage !== undefined)
    checks.push(await baseImageCheck(cli, req.baseImage, FIX.baseImage));
  return checks;
}
