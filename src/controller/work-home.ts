import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { GUEST_WORKSPACE } from '../providers/registry.js';
import { run } from '../util/exec.js';

/**
 * Bring the agent's work home: commit what it left uncommitted, then fetch
 * its history into the host repository as `bot-bottle/<slug>`. Only refs
 * change on the host; the user's working tree and current branch are never
 * touched.
 */

export interface WorkHomeResult {
  branch: string | null;
  /** Commits on the branch that were not in the workspace at launch. */
  commits: number;
  /** Whether uncommitted changes were committed at session end. */
  committedLeftovers: boolean;
  head: string | null;
  note: string;
}

async function guestGit(
  backend: Backend,
  slug: string,
  args: readonly string[],
): Promise<{ code: number; out: string }> {
  const chunks: Buffer[] = [];
  const r = await backend.exec(slug, ['git', '-C', GUEST_WORKSPACE, ...args], {
    stdout: 'pipe',
    stderr: 'pipe',
    onStdout: (c) => chunks.push(c),
  });
  return { code: r.code, out: Buffer.concat(chunks).toString('utf8').trim() };
}

async function hostGit(
  repo: string,
  args: readonly string[],
): Promise<{ code: number; out: string; err: string }> {
  const r = await run('git', args, { cwd: repo, timeoutMs: 120_000 });
  return { code: r.code, out: r.stdout.trim(), err: r.stderr.trim() };
}

/** `bot-bottle/<slug>`, or `-2`, `-3`... when that name holds unrelated work. */
async function chooseBranch(repo: string, slug: string, head: string): Promise<string> {
  for (let n = 1; ; n++) {
    const name = n === 1 ? `bot-bottle/${slug}` : `bot-bottle/${slug}-${n}`;
    const existing = await hostGit(repo, [
      'rev-parse',
      '--verify',
      '--quiet',
      `refs/heads/${name}`,
    ]);
    if (existing.code !== 0) return name;
    // An earlier session of the same bottle: moving the branch forward loses nothing.
    const ff = await hostGit(repo, ['merge-base', '--is-ancestor', existing.out, head]);
    if (ff.code === 0) return name;
  }
}

export async function bringWorkHome(
  backend: Backend,
  slug: string,
  opts: { repo: string | null; baseCommit: string | null; message: string },
): Promise<WorkHomeResult> {
  const none = (note: string): WorkHomeResult => ({
    branch: null,
    commits: 0,
    committedLeftovers: false,
    head: null,
    note,
  });
  if (opts.repo === null) return none('the workspace is not a git repository; nothing to fetch');
  if ((await guestGit(backend, slug, ['rev-parse', '--git-dir'])).code !== 0) {
    return none('the bottle has no git repository at /workspace any more');
  }
  let committedLeftovers = false;
  const status = await guestGit(backend, slug, ['status', '--porcelain']);
  if (status.code === 0 && status.out !== '') {
    await guestGit(backend, slug, ['add', '-A']);
    const c = await guestGit(backend, slug, [
      'commit',
      '--quiet',
      '--no-verify',
      '-m',
      opts.message,
    ]);
    committedLeftovers = c.code === 0;
  }
  const headR = await guestGit(backend, slug, ['rev-parse', '--verify', '--quiet', 'HEAD']);
  if (headR.code !== 0 || headR.out === '') return none('the agent made no commits');
  const head = headR.out;
  if (head === opts.baseCommit) return { ...none('no new commits; no branch was created'), head };

  const tmp = mkdtempSync(join(tmpdir(), 'bot-bottle-bundle-'));
  try {
    const bundle = join(tmp, 'work.bundle');
    // A range bundle is small; its prerequisite (the launch commit) is in the host repo.
    const range = opts.baseCommit === null ? ['HEAD'] : ['HEAD', `^${opts.baseCommit}`];
    const code = await backend.copyOut(
      slug,
      ['git', '-C', GUEST_WORKSPACE, 'bundle', 'create', '--quiet', '-', ...range],
      bundle,
    );
    if (code !== 0) return { ...none(`git bundle failed in the bottle (exit ${code})`), head };
    const branch = await chooseBranch(opts.repo, slug, head);
    const f = await hostGit(opts.repo, [
      'fetch',
      '--quiet',
      '--no-tags',
      bundle,
      `HEAD:refs/heads/${branch}`,
    ]);
    if (f.code !== 0) {
      return {
        ...none(`git fetch into the host repository failed: ${f.err.split('\n')[0] ?? ''}`),
        head,
      };
    }
    const count =
      opts.baseCommit === null
        ? await hostGit(opts.repo, ['rev-list', '--count', head])
        : await hostGit(opts.repo, ['rev-list', '--count', `${opts.baseCommit}..${head}`]);
    const commits = Number(count.out) || 0;
    return {
      branch,
      commits,
      committedLeftovers,
      head,
      note: `${commits} commit${commits === 1 ? '' : 's'} on branch ${branch}`,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
