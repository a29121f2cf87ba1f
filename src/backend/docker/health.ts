import { docker, firstLine } from './cli.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  summary: string;
  /** What to do about it, for warn and fail. */
  fix?: string | undefined;
}

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

export async function engineFacts(): Promise<EngineFacts> {
  const facts: EngineFacts = {
    clientVersion: undefined,
    serverVersion: undefined,
    runtimes: [],
    storageDriver: undefined,
    cgroupVersion: undefined,
    error: undefined,
  };
  const client = await docker(['version', '--format', '{{.Client.Version}}'], {
    timeoutMs: 15_000,
  });
  const clientLine = client.stdout.trim().split('\n')[0];
  facts.clientVersion = clientLine === '' ? undefined : clientLine;
  const info = await docker(['info', '--format', '{{json .}}'], { timeoutMs: 15_000 });
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

/** The local image ID of `ref`, or undefined when it is not present. */
export async function imageId(ref: string): Promise<string | undefined> {
  const r = await docker(['image', 'inspect', '--format', '{{.Id}}', ref], { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.trim() : undefined;
}
