import { execFileSync } from 'node:child_process';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { dockerOut, testImage } from './docker.js';

/**
 * Addresses the docker-backed tests aim at, found the way a container sees
 * them rather than from the engine's bookkeeping: a newly installed engine
 * records only a Subnet in the default bridge's IPAM config (no Gateway),
 * so reading `.IPAM.Config` alone yields an empty address, and a probe of
 * an empty address "fails" for the wrong reason. Every helper here returns
 * a real IPv4 address or throws.
 */

function ipamGateway(network: string): string {
  return (
    dockerOut([
      'network',
      'inspect',
      '--format',
      '{{range .IPAM.Config}}{{if .Gateway}}{{.Gateway}} {{end}}{{end}}',
      network,
    ])
      .split(' ')
      .map((s) => s.trim())
      .find(isIPv4) ?? ''
  );
}

/** The host-side bridge interface of a bridge network (docker0, br-<id>). */
function bridgeInterface(network: string): string {
  const [named, id] = dockerOut([
    'network',
    'inspect',
    '--format',
    '{{index .Options "com.docker.network.bridge.name"}}|{{.Id}}',
    network,
  ]).split('|');
  return named !== undefined && named !== '' && named !== '<no value>'
    ? named
    : `br-${(id ?? '').slice(0, 12)}`;
}

/** IPv4 address of a host interface, from `ip -4 addr show`. */
export function interfaceAddress(iface: string): string {
  try {
    const out = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', iface], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(out)?.[1] ?? '';
  } catch {
    return '';
  }
}

/** The default route's gateway in a `/proc/net/route` table (little-endian hex). */
export function defaultGatewayFromRouteTable(table: string): string {
  for (const line of table.split('\n').slice(1)) {
    const [, dest, gw] = line.trim().split(/\s+/);
    if (dest !== '00000000' || gw === undefined || !/^[0-9A-Fa-f]{8}$/.test(gw)) continue;
    const n = Number.parseInt(gw, 16);
    const ip = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
    if (ip !== '0.0.0.0') return ip;
  }
  return '';
}

function containerRouteGateway(network: string): string {
  try {
    return defaultGatewayFromRouteTable(
      dockerOut([
        'run',
        '--rm',
        '--label',
        'dev.bot-bottle.test=1',
        '--network',
        network,
        testImage,
        'cat',
        '/proc/net/route',
      ]),
    );
  } catch {
    return '';
  }
}

/**
 * The gateway of a docker network: IPAM when it records one, else the
 * address of the network's bridge interface on this host, else a
 * container's default route on that network. Throws when none answers.
 */
export function networkGateway(network: string): string {
  const tried: string[] = [];
  const ipam = ipamGateway(network);
  if (ipam !== '') return ipam;
  tried.push('IPAM config has no Gateway');
  const iface = bridgeInterface(network);
  const onIface = interfaceAddress(iface);
  if (onIface !== '') return onIface;
  tried.push(`interface ${iface} has no IPv4 address (or \`ip\` is missing)`);
  const route = containerRouteGateway(network);
  if (route !== '') return route;
  tried.push('a container on it has no default route');
  throw new Error(`cannot find the gateway of docker network ${network}: ${tried.join('; ')}`);
}

/**
 * One of this host's own IPv4 addresses that is not a docker bridge's:
 * what an agent would try to reach the host by.
 */
export function hostPrimaryAddress(): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (/^(docker|br-|veth)/.test(name)) continue;
    const a = addrs?.find((i) => i.family === 'IPv4' && !i.internal);
    if (a !== undefined) return a.address;
  }
  throw new Error('this host has no IPv4 address outside docker bridges and loopback to probe');
}

/** Throws naming each target that is not an address, before anything probes it. */
export function requireAddresses(targets: Record<string, string>): void {
  const bad = Object.entries(targets).filter(([, v]) => !isIPv4(v));
  if (bad.length > 0) {
    throw new Error(
      `probe targets without an IPv4 address: ${bad.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`,
    );
  }
}
