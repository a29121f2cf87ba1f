import { describe, expect, it } from 'vitest';
import { chooseEngines, parseBuilds, quantile, rotate } from '../../bench/engines.js';

const host = {
  sourceAddressTo: (ip: string) => (ip === '172.20.0.2' ? '172.20.0.1' : '10.0.0.5'),
  userExists: (u: string) => u === 'bbpodman',
  uidOf: (u: string) => (u === 'bbpodman' ? 1001 : undefined),
  testbedRemote: () => undefined,
  homeOf: (u: string) => `/home/${u}`,
};

describe('bottle-engines benchmark configuration', () => {
  it('measures this tree’s build when no builds are named, and named builds side by side', () => {
    expect(parseBuilds(undefined, '/x/dist/cli/bin.js')).toEqual([
      { name: 'current', bin: '/x/dist/cli/bin.js' },
    ]);
    expect(parseBuilds('main=/old/dist/cli/bin.js, new=/new/dist/cli/bin.js', '/x')).toEqual([
      { name: 'main', bin: '/old/dist/cli/bin.js' },
      { name: 'new', bin: '/new/dist/cli/bin.js' },
    ]);
  });

  it('refuses a build list it cannot read, naming the part', () => {
    expect(() => parseBuilds('a b=/x', '/y')).toThrow(
      "BOT_BOTTLE_BENCH_BINS: 'a b=/x' is not name=path",
    );
    expect(() => parseBuilds('a=/x,a=/y', '/y')).toThrow("the name 'a' is used twice");
  });

  it('skips engines that are not there, with a note saying what to run or set', () => {
    const none = { ...host, userExists: () => false };
    const { engines, skipped } = chooseEngines({}, none);
    expect(engines.map((e) => e.name)).toEqual(['local']);
    expect(skipped.map((s) => s.note)).toEqual([
      'no remote engine: run scripts/testbed-remote.sh or set BOT_BOTTLE_REMOTE_DOCKER_HOST=tcp://IP:PORT',
      "no user 'bbpodman' for rootless podman: run scripts/testbed-podman.sh or set BOT_BOTTLE_PODMAN_USER",
    ]);
  });

  it('finds the test bed engines without settings', () => {
    const bed = { ...host, testbedRemote: () => 'tcp://172.20.0.2:2375' };
    expect(chooseEngines({}, bed).engines.map((e) => [e.name, e.env.DOCKER_HOST ?? ''])).toEqual([
      ['local', ''],
      ['remote', 'tcp://172.20.0.2:2375'],
      ['podman', ''],
    ]);
  });

  it('points a remote engine and rootless podman at this host as their containers reach it', () => {
    const { engines } = chooseEngines(
      {
        BOT_BOTTLE_REMOTE_DOCKER_HOST: 'tcp://172.20.0.2:2375',
        BOT_BOTTLE_PODMAN_USER: 'bbpodman',
      },
      host,
    );
    expect(engines).toEqual([
      expect.objectContaining({ name: 'local', upstream: 'host-gateway', env: {} }),
      expect.objectContaining({
        name: 'remote',
        env: { DOCKER_HOST: 'tcp://172.20.0.2:2375' },
        upstream: '172.20.0.1',
      }),
      expect.objectContaining({
        name: 'podman',
        cli: 'podman',
        user: 'bbpodman',
        startArgs: ['--backend', 'podman'],
        upstream: '10.0.0.5',
        env: expect.objectContaining({
          HOME: '/home/bbpodman',
          XDG_RUNTIME_DIR: '/run/user/1001',
        }) as unknown,
      }),
    ]);
  });

  it('refuses an engine name it does not know', () => {
    expect(() => chooseEngines({ BOT_BOTTLE_BENCH_ENGINES: 'local,k8s' }, host)).toThrow(
      "unknown engine 'k8s' (expected local, remote or podman)",
    );
  });

  it('reports nearest-rank quantiles and rotates the build order per round', () => {
    const xs = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(quantile(xs, 0.5)).toBe(10);
    expect(quantile(xs, 0.95)).toBe(19);
    expect(rotate(['a', 'b', 'c'], 4)).toEqual(['b', 'c', 'a']);
  });
});
