import { describe, expect, it } from 'vitest';
import { defaultGatewayFromRouteTable, requireAddresses } from '../helpers/network.js';

/** The address helpers the docker-backed tests aim with: a real address or a loud failure. */
describe('probe addresses', () => {
  const header =
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';

  it('reads the default gateway of a /proc/net/route table (little-endian hex)', () => {
    const table = [
      header,
      'eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    ].join('\n');
    expect(defaultGatewayFromRouteTable(table)).toBe('172.17.0.1');
  });

  it('finds none in a table without a default route, or with a zero gateway', () => {
    expect(defaultGatewayFromRouteTable(header)).toBe('');
    expect(
      defaultGatewayFromRouteTable(
        `${header}\neth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0`,
      ),
    ).toBe('');
    expect(
      defaultGatewayFromRouteTable(
        `${header}\neth0\t00000000\t00000000\t0001\t0\t0\t0\t0\t0\t0\t0`,
      ),
    ).toBe('');
    expect(defaultGatewayFromRouteTable(`${header}\neth0\t00000000\tnothex!!\t0003`)).toBe('');
  });

  it('refuses empty and non-address targets by name', () => {
    expect(() => {
      requireAddresses({ gw: '', other: '10.0.0.2', bad: '<no value>' });
    }).toThrow('probe targets without an IPv4 address: gw="", bad="<no value>"');
    expect(() => {
      requireAddresses({ gw: '172.17.0.1' });
    }).not.toThrow();
  });
});
