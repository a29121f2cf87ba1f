import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { FAKE_CA_PATH, startFakeLlm, type FakeLlm } from '../fixtures/fake-llm.js';
import { makeFixture, md, type Fixture, type FileTree } from './fixture.js';
import { dockerOut, requireImage, testImage } from './docker.js';
import { assessTrust, recordTrust } from '../../src/trust/assess.js';

/** The "real" credentials of the test bottle: only the egress proxy may ever hold them. */
export const REAL_KEYS = {
  anthropic: 'sk-ant-api03-e2eREALanthropicKEY0123456789abcdefghijklmnopqrstuvwxyzAB',
  openai: 'sk-proj-e2eREALopenaiKEY0123456789abcdefghijklmnopqrstuvwxyz',
};

export const BIN = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'bin.js');

/**
 * A git repository whose bottle `fake` reaches only the fake upstream (the
 * real API names, sent to the fake by the egress host map; the proxy injects
 * REAL_KEYS), with one agent per provider. The extra CAs are the host's (for npm during
 * image builds) plus the fixture CA that signed the fake's certificate.
 * The user has trusted its repository layer (as `bot-bottle trust` does)
 * unless `trusted: false`. `upstream` is the address the fake listens on as
 * the engine's containers reach it (default `host-gateway`, the docker host);
 * `env` is added to the CLI's environment (e.g. DOCKER_HOST).
 */
export function bottleRepo(
  fakePort: number,
  extra: {
    repo?: FileTree;
    runtime?: string | undefined;
    trusted?: boolean;
    upstream?: string;
    env?: NodeJS.ProcessEnv;
  } = {},
): Fixture {
  const up = `${extra.upstream ?? 'host-gateway'}:${fakePort}`;
  const hostCa = process.env.BOT_BOTTLE_EXTRA_CA_CERTS ?? process.env.NODE_EXTRA_CA_CERTS ?? '';
  const fx = makeFixture(
    {
      repo: {
        'README.md': '# demo\n',
        '.gitignore': 'secret.log\n',
        'secret.log': 'ignored by git, must not be copied\n',
        '.bot-bottle/bottles/fake.md': md(`
egress:
  allow: [api.anthropic.com, api.openai.com]
  hosts:
    api.anthropic.com: ${up}
    api.openai.com: ${up}
  routes:
    - host: api.anthropic.com
      headers:
        x-api-key: env:BB_TEST_ANTHROPIC_KEY
    - host: api.openai.com
      headers:
        authorization: { secret: env:BB_TEST_OPENAI_KEY, prefix: 'Bearer ' }
${extra.runtime === undefined ? '' : `runtime: ${extra.runtime}`}
`),
        '.bot-bottle/agents/claude.md': md('provider: claude\nbottle: fake', 'You are terse.\n'),
        '.bot-bottle/agents/codex.md': md('provider: codex\nbottle: fake\nmodel: gpt-fake'),
        '.bot-bottle/agents/pi.md': md('provider: pi\nbottle: fake\nmodel: claude-sonnet-4-5'),
        ...extra.repo,
      },
    },
    {
      BOT_BOTTLE_BASE_IMAGE: testImage,
      BB_TEST_ANTHROPIC_KEY: REAL_KEYS.anthropic,
      BB_TEST_OPENAI_KEY: REAL_KEYS.openai,
      BOT_BOTTLE_EXTRA_CA_CERTS: [...hostCa.split(':').filter((p) => p !== ''), FAKE_CA_PATH].join(
        ':',
      ),
      ...extra.env,
    },
  );
  const git = (...args: string[]): void => {
    execFileSync('git', args, { cwd: fx.repo, stdio: 'ignore' });
  };
  git('init', '-q', '-b', 'main');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'add', '-A');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'initial');
  if (extra.trusted !== false) recordTrust(fx.env, assessTrust(fx.env, fx.repo));
  const removeTree = fx.cleanup;
  // Sessions save their bottles as engine images; the fixture's home names them.
  return {
    ...fx,
    cleanup: () => {
      // On the engine the sessions ran on (DOCKER_HOST when the test names one).
      const dockerHost = extra.env?.DOCKER_HOST;
      removeSavedImages(
        fx.home,
        dockerHost === undefined ? process.env : { ...process.env, DOCKER_HOST: dockerHost },
      );
      removeTree();
    },
  };
}

/**
 * Remove the `bot-bottle-saved:<identity>` images of every identity this
 * home knows (saved records and archived egress logs), so repeated test
 * runs do not grow the engine.
 */
export function removeSavedImages(home: string, env: NodeJS.ProcessEnv = process.env): void {
  const identities = new Set<string>();
  for (const dir of [join(home, 'state'), join(home, 'logs', 'egress')]) {
    if (!existsSync(dir)) continue;
    for (const id of readdirSync(dir)) identities.add(id);
  }
  for (const id of identities) {
    try {
      execFileSync('docker', ['image', 'rm', '--force', `bot-bottle-saved:${id}`], {
        stdio: 'ignore',
        timeout: 60_000,
        env,
      });
    } catch {
      // Not saved (or already removed): nothing to do.
    }
  }
}

export interface BinRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI as a user would, in the fixture repository. */
export function runBin(
  fx: Fixture,
  argv: string[],
  opts: { onSpawn?: (pid: number) => void; timeoutMs?: number; cwd?: string } = {},
): Promise<BinRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], {
      cwd: opts.cwd ?? fx.repo,
      env: fx.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`bot-bottle ${argv.join(' ')} timed out\nstdout:${stdout}\nstderr:${stderr}`),
      );
    }, opts.timeoutMs ?? 300_000);
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    const finish = (code: number | null): void => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    };
    child.on('close', finish);
    // A killed CLI can leave a grandchild (docker exec) holding its pipes open.
    child.on('exit', (code, signal) => {
      setTimeout(() => {
        finish(code ?? (signal === null ? 1 : 128));
      }, 2000).unref();
    });
  });
}

/**
 * One fake upstream for the enclosing describe block (started after the
 * base image check, closed at the end); the getter throws before it exists.
 */
export function useFakeUpstream(opts: Parameters<typeof startFakeLlm>[0] = {}): () => FakeLlm {
  let fake: FakeLlm | undefined;
  beforeAll(async () => {
    requireImage();
    fake = await startFakeLlm(opts);
  });
  afterAll(async () => {
    await fake?.close();
  });
  return () => {
    if (fake === undefined) throw new Error('fake upstream not started');
    return fake;
  };
}

/** IDs of containers and networks still labelled with `slug`; '' when none. */
export function leftovers(slug: string): string {
  return (
    dockerOut(['ps', '-a', '--filter', `label=dev.bot-bottle.slug=${slug}`, '-q']) +
    dockerOut(['network', 'ls', '--filter', `label=dev.bot-bottle.slug=${slug}`, '-q'])
  );
}

/** One launch's row of `bot-bottle usage --json`. */
export interface UsageLaunch {
  slug: string;
  identity: string;
  events: number;
  unmeteredEvents: number;
  inputTokens: number;
  outputTokens: number;
}

/** The `usage --json` row of the launch with this identity or slug (undefined when there is none). */
export async function usageLaunch(
  fx: Fixture,
  which: { identity: string } | { slug: string },
): Promise<UsageLaunch | undefined> {
  const r = await runBin(fx, ['usage', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { launches: UsageLaunch[] }).launches.find((l) =>
    'identity' in which ? l.identity === which.identity : l.slug === which.slug,
  );
}
