// What the bottle-engines benchmark measures: which product builds, on which
// container engines. Pure functions over the environment, so a run's
// configuration can be read (and printed) before anything starts.
import { resolve } from 'node:path';

/** One product build: a name for the tables and its dist/cli/bin.js. */
export interface Build {
  name: string;
  bin: string;
}

/** One engine the same bench runs on. */
export interface Engine {
  name: 'local' | 'remote' | 'podman';
  /** The engine's CLI the bench itself drives (bare runs, exec, inspect). */
  cli: 'docker' | 'podman';
  /** Added to the environment of every engine call and of bot-bottle. */
  env: Record<string, string>;
  /** Extra `bot-bottle start` arguments (the backend). */
  startArgs: string[];
  /** Where this engine's containers reach the fake upstream on this host (IPv4 or host-gateway). */
  upstream: string;
  /** Run bot-bottle and the engine CLI as this user (rootless podman). */
  user?: string;
}

/** An engine the run asked for but cannot measure, and why. */
export interface Skipped {
  name: Engine['name'];
  note: string;
}

/**
 * BOT_BOTTLE_BENCH_BINS=name=path,name=path (a path alone is named by its
 * position); default: this tree's build as `current`.
 */
export function parseBuilds(value: string | undefined, defaultBin: string): Build[] {
  if (value === undefined || value.trim() === '') return [{ name: 'current', bin: defaultBin }];
  const builds = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part, i) => {
      const eq = part.indexOf('=');
      const name = eq < 0 ? `build${i + 1}` : part.slice(0, eq).trim();
      const bin = eq < 0 ? part : part.slice(eq + 1).trim();
      if (!/^[A-Za-z0-9._-]+$/.test(name) || bin === '') {
        throw new Error(
          `BOT_BOTTLE_BENCH_BINS: '${part}' is not name=path (name: letters, digits, . _ -)`,
        );
      }
      return { name, bin: resolve(bin) };
    });
  const names = builds.map((b) => b.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new Error(`BOT_BOTTLE_BENCH_BINS: the name '${dup}' is used twice`);
  return builds;
}

/** The facts about this host the engine choice needs (looked up by the caller). */
export interface HostFacts {
  /** This host's source address on its route to `ip` (undefined when there is none). */
  sourceAddressTo: (ip: string) => string | undefined;
  /** Whether `user` exists here. */
  userExists: (user: string) => boolean;
  /** That user's uid (for its runtime directory). */
  uidOf: (user: string) => number | undefined;
  /** That user's home directory (where its podman keeps its images). */
  homeOf: (user: string) => string | undefined;
  /** DOCKER_HOST of the test bed's docker-in-docker engine (scripts/testbed-remote.sh), if it runs. */
  testbedRemote: () => string | undefined;
}

/**
 * The engines of BOT_BOTTLE_BENCH_ENGINES (default local,remote,podman):
 * - local: this machine's engine as docker sees it (DOCKER_HOST as set);
 * - remote: DOCKER_HOST=BOT_BOTTLE_REMOTE_DOCKER_HOST (tcp://IP:PORT; default
 *   the test bed's docker-in-docker engine when it runs), its containers
 *   reaching this host at BOT_BOTTLE_REMOTE_UPSTREAM (default: this host's
 *   address on the route to IP);
 * - podman: `--backend podman` run as BOT_BOTTLE_PODMAN_USER (default
 *   bbpodman, the test bed's user, when it exists), its containers reaching
 *   this host at BOT_BOTTLE_PODMAN_UPSTREAM (default: this host's address on
 *   its default route).
 * Engines that are not there are skipped with a note.
 */
export function chooseEngines(
  env: NodeJS.ProcessEnv,
  host: HostFacts,
): { engines: Engine[]; skipped: Skipped[] } {
  const wanted = (env.BOT_BOTTLE_BENCH_ENGINES ?? 'local,remote,podman')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const engines: Engine[] = [];
  const skipped: Skipped[] = [];
  for (const name of wanted) {
    if (name === 'local') {
      engines.push({ name, cli: 'docker', env: {}, startArgs: [], upstream: 'host-gateway' });
    } else if (name === 'remote') {
      const given = env.BOT_BOTTLE_REMOTE_DOCKER_HOST ?? '';
      const dockerHost = given === '' ? (host.testbedRemote() ?? '') : given;
      const ip = /^tcp:\/\/([0-9.]+):\d+$/.exec(dockerHost)?.[1];
      if (dockerHost === '') {
        skipped.push({
          name,
          note: 'no remote engine: run scripts/testbed-remote.sh or set BOT_BOTTLE_REMOTE_DOCKER_HOST=tcp://IP:PORT',
        });
        continue;
      }
      const upstream =
        env.BOT_BOTTLE_REMOTE_UPSTREAM ?? (ip === undefined ? undefined : host.sourceAddressTo(ip));
      if (upstream === undefined) {
        skipped.push({
          name,
          note: `cannot tell how ${dockerHost} reaches this host; set BOT_BOTTLE_REMOTE_UPSTREAM=IP`,
        });
        continue;
      }
      engines.push({
        name,
        cli: 'docker',
        env: { DOCKER_HOST: dockerHost },
        startArgs: [],
        upstream,
      });
    } else if (name === 'podman') {
      const user = env.BOT_BOTTLE_PODMAN_USER ?? 'bbpodman';
      if (!host.userExists(user)) {
        skipped.push({
          name,
          note: `no user '${user}' for rootless podman: run scripts/testbed-podman.sh or set BOT_BOTTLE_PODMAN_USER`,
        });
        continue;
      }
      const upstream = env.BOT_BOTTLE_PODMAN_UPSTREAM ?? host.sourceAddressTo('192.0.2.1');
      if (upstream === undefined) {
        skipped.push({ name, note: 'no default route; set BOT_BOTTLE_PODMAN_UPSTREAM=IP' });
        continue;
      }
      const runtimeDir = env.BOT_BOTTLE_PODMAN_RUNTIME_DIR ?? `/run/user/${host.uidOf(user) ?? 0}`;
      engines.push({
        name,
        cli: 'podman',
        // Its own HOME, so bot-bottle's podman and the bench's share that user's image store.
        env: {
          HOME: host.homeOf(user) ?? `/home/${user}`,
          XDG_RUNTIME_DIR: runtimeDir,
          BOT_BOTTLE_BACKEND: 'podman',
        },
        startArgs: ['--backend', 'podman'],
        upstream,
        user,
      });
    } else {
      throw new Error(
        `BOT_BOTTLE_BENCH_ENGINES: unknown engine '${name}' (expected local, remote or podman)`,
      );
    }
  }
  return { engines, skipped };
}

/** Median of a sample (NaN when empty). */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** The q-quantile by nearest rank (NaN when empty). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[rank] ?? NaN;
}

/** `[a, b, c]` rotated left by `k`: each round starts with a different build. */
export function rotate<T>(xs: readonly T[], k: number): T[] {
  if (xs.length === 0) return [];
  const n = ((k % xs.length) + xs.length) % xs.length;
  return [...xs.slice(n), ...xs.slice(0, n)];
}
