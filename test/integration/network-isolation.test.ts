import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  describeDocker,
  dockerOut,
  requireImage,
  testImage,
  uniqueName,
} from '../helpers/docker.js';
import { networkGateway, requireAddresses } from '../helpers/network.js';

/**
 * The bed's basic promise, which every bottle builds on: a container on an
 * `--internal` network cannot open TCP connections to addresses outside it
 * nor resolve outside names, while a container on a normal network can
 * reach a server the test started. Only addresses this test created are
 * ever targeted.
 */

// Runs inside the probe container: each argument is "tcp:host:port" or
// "dns:name"; prints one JSON object of outcomes.
const PROBE = `
const net = require('node:net');
const dns = require('node:dns');
const probe = (spec) => new Promise((resolve) => {
  const [kind, host, port] = spec.split(':');
  if (kind === 'dns') {
    // Ask the container's configured resolver directly, with a short
    // timeout: getaddrinfo would retry for 20 s before giving up.
    const r = new dns.promises.Resolver({ timeout: 2000, tries: 1 });
    r.resolve4(host).then((a) => resolve('ok:' + a.join(',')), (e) => resolve('fail:' + e.code));
    return;
  }
  const s = net.connect({ host, port: Number(port) });
  const done = (r) => { s.destroy(); resolve(r); };
  s.setTimeout(3000, () => done('fail:TIMEOUT'));
  s.on('error', (e) => done('fail:' + e.code));
  s.on('data', (d) => done('ok:' + d.toString().trim()));
  s.on('connect', () => s.write('GET / HTTP/1.0\\r\\n\\r\\n'));
});
(async () => {
  const out = {};
  const specs = process.argv.slice(1);
  const results = await Promise.all(specs.map(probe));
  specs.forEach((spec, i) => { out[spec] = results[i]; });
  console.log(JSON.stringify(out));
})();
`;

const execFileAsync = promisify(execFile);

const SERVER = `require('node:http').createServer((q, r) => r.end(process.env.GREETING)).listen(8080)`;

describeDocker('internal network isolation (real docker)', () => {
  const internal = uniqueName('bbtest-int');
  const normal = uniqueName('bbtest-out');
  const outsideSrv = uniqueName('bbtest-srv-out');
  const insideSrv = uniqueName('bbtest-srv-in');
  let outsideIp = '';
  let insideIp = '';
  let hostServer: Server;
  let hostPort = 0;
  let normalGateway = '';

  // Async on purpose: the host server answers from this process's event loop.
  const probe = async (network: string, specs: string[]): Promise<Record<string, string>> => {
    const { stdout } = await execFileAsync(
      'docker',
      [
        'run',
        '--rm',
        '--label',
        'dev.bot-bottle.test=1',
        '--network',
        network,
        testImage,
        'node',
        '-e',
        PROBE,
        ...specs,
      ],
      { timeout: 60_000 },
    );
    return JSON.parse(stdout) as Record<string, string>;
  };

  const ipOn = (container: string, network: string): string =>
    dockerOut([
      'inspect',
      '--format',
      `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
      container,
    ]);

  beforeAll(async () => {
    requireImage();
    hostServer = createServer((_q, r) => r.end('hello from the host'));
    await new Promise<void>((resolve) => hostServer.listen(0, '0.0.0.0', resolve));
    hostPort = (hostServer.address() as AddressInfo).port;

    dockerOut(['network', 'create', '--label', 'dev.bot-bottle.test=1', '--internal', internal]);
    dockerOut(['network', 'create', '--label', 'dev.bot-bottle.test=1', normal]);
    normalGateway = networkGateway(normal);
    for (const [name, net, greeting] of [
      [outsideSrv, normal, 'hello from outside'],
      [insideSrv, internal, 'hello from inside'],
    ] as const) {
      dockerOut([
        'run',
        '-d',
        '--label',
        'dev.bot-bottle.test=1',
        '--name',
        name,
        '--network',
        net,
        '-e',
        `GREETING=${greeting}`,
        testImage,
        'node',
        '-e',
        SERVER,
      ]);
    }
    outsideIp = ipOn(outsideSrv, normal);
    insideIp = ipOn(insideSrv, internal);
    requireAddresses({ normalGateway, outsideIp, insideIp });
    // Wait until both servers listen, seen from their own networks.
    for (let i = 0; i < 30; i++) {
      const a = await probe(normal, [`tcp:${outsideIp}:8080`]);
      const b = await probe(internal, [`tcp:${insideIp}:8080`]);
      if (Object.values(a)[0]?.startsWith('ok') && Object.values(b)[0]?.startsWith('ok')) break;
      await new Promise((r) => setTimeout(r, 300));
    }
  });

  afterAll(async () => {
    for (const c of [outsideSrv, insideSrv]) {
      try {
        dockerOut(['rm', '-f', c]);
      } catch {
        /* already gone */
      }
    }
    for (const n of [internal, normal]) {
      try {
        dockerOut(['network', 'rm', n]);
      } catch {
        /* already gone */
      }
    }
    await new Promise<void>((resolve) =>
      hostServer.close(() => {
        resolve();
      }),
    );
  });

  it('a container on a normal network reaches servers the test started', async () => {
    const r = await probe(normal, [
      `tcp:${outsideIp}:8080`,
      `tcp:${outsideSrv}:8080`,
      `tcp:${normalGateway}:${hostPort}`,
    ]);
    expect(r[`tcp:${outsideIp}:8080`]).toContain('hello from outside');
    expect(r[`tcp:${outsideSrv}:8080`]).toContain('hello from outside');
    expect(r[`tcp:${normalGateway}:${hostPort}`]).toContain('hello from the host');
  });

  it('a container on the internal network still reaches its own peers (control)', async () => {
    const r = await probe(internal, [`tcp:${insideIp}:8080`, `tcp:${insideSrv}:8080`]);
    expect(r[`tcp:${insideIp}:8080`]).toContain('hello from inside');
    expect(r[`tcp:${insideSrv}:8080`]).toContain('hello from inside');
  });

  it('a container on the internal network cannot open TCP to an outside address', async () => {
    const r = await probe(internal, [`tcp:${outsideIp}:8080`]);
    expect(r[`tcp:${outsideIp}:8080`]).toMatch(/^fail:/);
  });

  it('a container on the internal network cannot resolve outside names', async () => {
    // Precondition: the name resolves on the host, so a failure inside is the network's doing.
    const name = 'registry.npmjs.org';
    await expect(lookup(name)).resolves.toBeTruthy();
    const r = await probe(internal, [`dns:${name}`, `dns:${outsideSrv}`]);
    expect(r[`dns:${name}`]).toMatch(/^fail:/);
    expect(r[`dns:${outsideSrv}`]).toMatch(/^fail:/);
  });
});
