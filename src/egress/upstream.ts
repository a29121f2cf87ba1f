import { Agent, type ClientRequestArgs } from 'node:http';
import { promises as dns } from 'node:dns';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, rootCertificates } from 'node:tls';
import type { Duplex } from 'node:stream';
import { canonical, forbiddenRange, ipLiteral } from './ssrf.js';

/**
 * The upstream side of the proxy: where a host really is, and the only
 * place that opens sockets to the outside. The address checked is the
 * address dialled (the resolver is asked once per connection), so a name
 * cannot resolve to a public address for the check and a private one for
 * the dial.
 */

/** The agent asked for a host that leads to a private/loopback/metadata address. */
export class PrivateAddressError extends Error {
  override readonly name = 'PrivateAddressError';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly range: string,
  ) {
    super(
      host === address
        ? `${address} is a ${range} address`
        : `${host} resolves to ${address}, a ${range} address`,
    );
  }
}

export interface Destination {
  address: string;
  port: number;
  /** Set by the operator's host map: not subject to the private-address check. */
  overridden: boolean;
}

export type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;

const systemLookup: Lookup = (host) => dns.lookup(host, { all: true, verbatim: true });

/** Docker's name for the host when a sidecar is started with `--add-host ...:host-gateway`. */
export const HOST_GATEWAY_NAME = 'host.docker.internal';

/**
 * The name the engine's host has inside the sidecar: docker's, or the one
 * the backend names in BOT_BOTTLE_HOST_GATEWAY (podman writes
 * `host.containers.internal` itself and has no `host-gateway`).
 */
export function hostGatewayName(env: NodeJS.ProcessEnv = process.env): string {
  const name = env.BOT_BOTTLE_HOST_GATEWAY;
  return name !== undefined && /^[a-z0-9][a-z0-9.-]*$/.test(name) ? name : HOST_GATEWAY_NAME;
}

/** Split `address[:port]` from the host map; `host-gateway` means the engine's host. */
export function parseOverride(
  value: string,
  gateway: string = hostGatewayName(),
): { address: string; port: number | undefined } {
  const m = /^(.*?)(?::(\d{1,5}))?$/.exec(value);
  const address = m?.[1] ?? value;
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  return { address: address === 'host-gateway' ? gateway : address, port };
}

export interface UpstreamOptions {
  /** Extra PEM text trusted next to the system store. */
  extraCaPem: string;
  lookup?: Lookup;
  connectTimeoutMs?: number;
}

export class Upstream {
  private readonly lookup: Lookup;
  private readonly ca: string[];
  private readonly agents = new Map<string, Agent>();
  /** The operator's host map; replaced on a live policy change. */
  hosts: Readonly<Record<string, string>> = {};

  constructor(private readonly opts: UpstreamOptions) {
    this.lookup = opts.lookup ?? systemLookup;
    this.ca = [...rootCertificates, ...(opts.extraCaPem === '' ? [] : [opts.extraCaPem])];
  }

  async destination(host: string, port: number): Promise<Destination> {
    const override = this.hosts[host];
    if (override !== undefined) {
      const o = parseOverride(override);
      const literal = ipLiteral(o.address);
      const address =
        literal !== undefined
          ? canonical(literal)
          : ((await this.lookup(o.address))[0]?.address ?? '');
      if (address === '') throw new Error(`cannot resolve ${o.address} (host map for ${host})`);
      return { address, port: o.port ?? port, overridden: true };
    }
    const literal = ipLiteral(host);
    if (literal !== undefined) {
      const range = forbiddenRange(literal);
      if (range !== undefined) throw new PrivateAddressError(host, canonical(literal), range);
      return { address: canonical(literal), port, overridden: false };
    }
    const answers = await this.lookup(host);
    // One private answer taints the name: a resolver that mixes answers is an attack.
    for (const a of answers) {
      const range = forbiddenRange(a.address);
      if (range !== undefined) throw new PrivateAddressError(host, a.address, range);
    }
    const first = answers[0];
    if (first === undefined) throw new Error(`${host} has no address`);
    return { address: first.address, port, overridden: false };
  }

  /** A connected socket to host:port (TLS verified against the host name when `tls`). */
  async dial(host: string, port: number, tls: boolean): Promise<Socket> {
    const d = await this.destination(host, port);
    return new Promise<Socket>((resolve, reject) => {
      const timeout = this.opts.connectTimeoutMs ?? 15_000;
      const sock: Socket = tls
        ? tlsConnect({
            host: d.address,
            port: d.port,
            servername: isIP(host) === 0 ? host : undefined,
            ca: this.ca,
            ALPNProtocols: ['http/1.1'],
          })
        : netConnect({ host: d.address, port: d.port });
      sock.setTimeout(timeout, () =>
        sock.destroy(new Error(`connect timeout after ${timeout} ms`)),
      );
      sock.once(tls ? 'secureConnect' : 'connect', () => {
        sock.setTimeout(0);
        sock.setNoDelay(true);
        resolve(sock);
      });
      sock.once('error', reject);
    });
  }

  /**
   * A keep-alive pool per upstream. Requests go out with `http.request`
   * over sockets this class dialled (TLS already on for https), so every
   * pooled connection went through the address check.
   */
  agent(host: string, port: number, tls: boolean): Agent {
    const key = `${tls ? 'https' : 'http'}://${host}:${port}`;
    let agent = this.agents.get(key);
    if (agent === undefined) {
      agent = new Agent({ keepAlive: true, keepAliveMsecs: 15_000, scheduling: 'lifo' });
      // The callback form lets the connection be asynchronous (resolution, TLS).
      (agent as unknown as { createConnection: unknown }).createConnection = (
        _o: ClientRequestArgs,
        cb: (err: Error | null, s?: Duplex) => void,
      ): undefined => {
        this.dial(host, port, tls).then(
          (s) => {
            cb(null, s);
          },
          (e: unknown) => {
            cb(e instanceof Error ? e : new Error(String(e)));
          },
        );
        return undefined;
      };
      this.agents.set(key, agent);
    }
    return agent;
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}
