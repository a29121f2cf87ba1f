import { execFileSync } from 'node:child_process';
import { isIPv4 } from 'node:net';
import { networkGateway } from './network.js';
import { describeNeeding } from './needs.js';

/**
 * The `remote` project's engine: a Docker engine that shares none of this
 * machine's files, as Docker Desktop, colima, OrbStack or a remote
 * DOCKER_HOST do. scripts/testbed-remote.sh (run by scripts/testbed.sh)
 * starts one in a docker-in-docker container on the local engine; the tests
 * find it by that container's name and address. A real remote engine can
 * stand in: BOT_BOTTLE_REMOTE_DOCKER_HOST names it and
 * BOT_BOTTLE_REMOTE_UPSTREAM the address of this machine as its containers
 * reach it (where the fake upstream listens).
 */
export interface RemoteEngine {
  /** DOCKER_HOST for the product and the tests' own docker calls. */
  dockerHost: string;
  /** This machine's address as the engine's containers reach it. */
  upstreamAddress: string;
}

const DIND_NAME = process.env.BOT_BOTTLE_DIND_NAME ?? 'bot-bottle-dind';
const DIND_NET = process.env.BOT_BOTTLE_DIND_NET ?? 'bot-bottle-dind';

function out(args: string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('docker', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 15_000,
    env,
  }).trim();
}

function find(): RemoteEngine | string {
  const given = process.env.BOT_BOTTLE_REMOTE_DOCKER_HOST;
  let engine: RemoteEngine;
  if (given !== undefined && given !== '') {
    const upstream = process.env.BOT_BOTTLE_REMOTE_UPSTREAM ?? '';
    if (!isIPv4(upstream)) {
      return 'BOT_BOTTLE_REMOTE_DOCKER_HOST is set but BOT_BOTTLE_REMOTE_UPSTREAM is not an IPv4 address';
    }
    engine = { dockerHost: given, upstreamAddress: upstream };
  } else {
    let ip: string;
    try {
      ip = out([
        'inspect',
        '--format',
        `{{with index .NetworkSettings.Networks "${DIND_NET}"}}{{.IPAddress}}{{end}}`,
        DIND_NAME,
      ]);
    } catch {
      return `no container ${DIND_NAME} on the local engine`;
    }
    if (!isIPv4(ip)) return `container ${DIND_NAME} has no address on network ${DIND_NET}`;
    // The outer bridge's gateway: this machine, as the engine (and the
    // containers it NATs) reach it.
    let gateway: string;
    try {
      gateway = networkGateway(DIND_NET);
    } catch (e) {
      return (e as Error).message;
    }
    engine = { dockerHost: `tcp://${ip}:2375`, upstreamAddress: gateway };
  }
  try {
    out(['info', '--format', '{{.ServerVersion}}'], {
      ...process.env,
      DOCKER_HOST: engine.dockerHost,
    });
  } catch {
    return `the engine at ${engine.dockerHost} does not answer`;
  }
  return engine;
}

const found = find();
const why = typeof found === 'string' ? found : '';

/** The remote engine, or undefined when none answers (then describeRemote skips or fails). */
export const remote: RemoteEngine | undefined = typeof found === 'string' ? undefined : found;

/** The environment a docker call against the remote engine runs with. */
export function remoteEnv(): NodeJS.ProcessEnv {
  if (remote === undefined) throw new Error('no remote engine');
  return { ...process.env, DOCKER_HOST: remote.dockerHost };
}

/** docker against the remote engine; trimmed stdout. */
export function remoteDocker(args: string[], timeout = 120_000): string {
  return execFileSync('docker', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout,
    env: remoteEnv(),
  }).trim();
}

/**
 * A describe block that needs the remote engine: skipped on a developer
 * machine without one, failing under CI (a green CI run must mean these ran).
 */
export function describeRemote(name: string, fn: () => void): void {
  const problem = remote === undefined ? why : undefined;
  describeNeeding(name, { what: 'the remote engine', problem, fix: 'scripts/testbed.sh' }, fn);
}
