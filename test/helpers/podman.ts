import { execFileSync, spawn } from 'node:child_process';
import { chownSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fixtures/fake-llm.js';
import { BIN, bottleRepo, type BinRun } from './bottle-repo.js';
import { testImage } from './docker.js';
import type { Fixture } from './fixture.js';
import { describeNeeding } from './needs.js';

/**
 * Rootless podman tests: the product's CLI runs as an unprivileged user
 * (scripts/testbed-podman.sh makes it) with its own HOME, XDG_RUNTIME_DIR
 * and BOT_BOTTLE_HOME, and drives that user's podman.
 */

export const PODMAN_USER = process.env.BOT_BOTTLE_PODMAN_USER ?? 'bbpodman';

interface PodmanUser {
  uid: number;
  gid: number;
  runtimeDir: string;
}

function lookupUser(): PodmanUser | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', PODMAN_USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', PODMAN_USER], { encoding: 'utf8' }).trim());
    return { uid, gid, runtimeDir: `/run/user/${uid}` };
  } catch {
    return undefined;
  }
}

const user = lookupUser();

/** Run a program as the podman user, with that user's runtime directory. */
function asUser(file: string, args: string[], timeout = 120_000, input?: string): string {
  if (user === undefined) throw new Error(`no user ${PODMAN_USER}`);
  return execFileSync(
    'setpriv',
    [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      '--init-groups',
      '--',
      'env',
      `HOME=/home/${PODMAN_USER}`,
      `XDG_RUNTIME_DIR=${user.runtimeDir}`,
      file,
      ...args,
    ],
    {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout,
      maxBuffer: 64 * 1024 * 1024,
      ...(input === undefined ? {} : { input }),
    },
  );
}

/** `podman ARGS` as the podman user; its stdout, trimmed. */
export function podmanOut(args: string[], timeout = 120_000, input?: string): string {
  return asUser('podman', args, timeout, input).trim();
}

/** git in a fixture repository, as its owner (git refuses a repository another user owns). */
export function gitAsUser(cwd: string, ...args: string[]): string {
  return asUser('git', ['-C', cwd, ...args]).trim();
}

function podmanReady(): string | undefined {
  if (user === undefined) return `no user ${PODMAN_USER}`;
  try {
    const rootless = podmanOut(['info', '--format', '{{.Host.Security.Rootless}}'], 60_000);
    if (rootless !== 'true') return `podman as ${PODMAN_USER} is not rootless`;
    podmanOut(['image', 'inspect', '--format', '{{.Id}}', testImage]);
  } catch (e) {
    return e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
  try {
    // The CLI runs as that user: the checkout (dist/, node_modules) must be readable by it.
    asUser(process.execPath, [BIN, '--version'], 60_000);
    return undefined;
  } catch {
    return `${PODMAN_USER} cannot run ${BIN} (make the checkout and dist/ readable by it)`;
  }
}

const problem = podmanReady();

/**
 * A describe block that needs rootless podman for PODMAN_USER with the base
 * image loaded. Skipped on a developer machine without it; under CI it fails.
 */
export function describePodman(name: string, fn: () => void): void {
  describeNeeding(name, { what: 'rootless podman', problem, fix: 'scripts/testbed-podman.sh' }, fn);
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!statSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) {
    const child = join(path, name);
    if (statSync(child, { throwIfNoEntry: false }) === undefined) continue;
    chownTree(child, uid, gid);
  }
}

/**
 * bottleRepo for the podman user: the whole fixture (repository, HOME,
 * BOT_BOTTLE_HOME) belongs to that user, and the CLI it runs uses podman.
 */
export function podmanBottleRepo(
  fakePort: number,
  extra: Parameters<typeof bottleRepo>[1] = {},
): Fixture {
  if (user === undefined) throw new Error(`no user ${PODMAN_USER}`);
  const fx = bottleRepo(fakePort, extra);
  fx.env.XDG_RUNTIME_DIR = user.runtimeDir;
  // podman's store and configuration follow HOME (with another HOME, even
  // XDG_DATA_HOME and XDG_CONFIG_HOME set, `podman commit` fails: "runroot must
  // be set"); BOT_BOTTLE_HOME stays the fixture's own.
  fx.env.HOME = `/home/${PODMAN_USER}`;
  fx.env.BOT_BOTTLE_BACKEND = 'podman';
  chownTree(fx.root, user.uid, user.gid);
  return fx;
}

/** Run the built CLI as the podman user, in the fixture repository. */
export function runAsUser(
  fx: Fixture,
  argv: string[],
  opts: { timeoutMs?: number } = {},
): Promise<BinRun> {
  if (user === undefined) throw new Error(`no user ${PODMAN_USER}`);
  return new Promise((resolve, reject) => {
    const child = spawn(
      'setpriv',
      [
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        '--init-groups',
        '--',
        process.execPath,
        BIN,
        ...argv,
      ],
      { cwd: fx.repo, env: fx.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`bot-bottle ${argv.join(' ')} timed out\nstdout:${stdout}\nstderr:${stderr}`),
      );
    }, opts.timeoutMs ?? 600_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** IDs of the podman user's containers and networks labelled with `slug`; '' when none. */
export function podmanLeftovers(slug: string): string {
  return (
    podmanOut(['ps', '-a', '--filter', `label=dev.bot-bottle.slug=${slug}`, '-q']) +
    podmanOut(['network', 'ls', '--filter', `label=dev.bot-bottle.slug=${slug}`, '-q'])
  );
}

/** One fake upstream for the enclosing describe block. */
export function usePodmanFakeUpstream(): () => FakeLlm {
  let fake: FakeLlm | undefined;
  beforeAll(async () => {
    fake = await startFakeLlm();
  });
  afterAll(async () => {
    await fake?.close();
  });
  return () => {
    if (fake === undefined) throw new Error('fake upstream not started');
    return fake;
  };
}
