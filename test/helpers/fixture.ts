import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { main } from '../../src/cli/main.js';

export type FileTree = Record<string, string | { symlink: string } | { dir: true }>;

export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Fixture {
  root: string;
  repo: string;
  home: string;
  env: NodeJS.ProcessEnv;
  run: (argv: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }) => Promise<RunOutput>;
  cleanup: () => void;
}

export function writeTree(base: string, tree: FileTree): void {
  for (const [rel, content] of Object.entries(tree)) {
    const path = join(base, rel);
    mkdirSync(dirname(path), { recursive: true });
    if (typeof content === 'string') writeFileSync(path, content);
    else if ('symlink' in content) symlinkSync(content.symlink, path);
    else mkdirSync(path, { recursive: true });
  }
}

/**
 * A throwaway repository and home directory. The environment is minimal and
 * explicit so the host's own variables (and ~/.bot-bottle) never leak in.
 */
export function makeFixture(
  trees: { repo?: FileTree; home?: FileTree } = {},
  extraEnv: NodeJS.ProcessEnv = {},
): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'bb-test-'));
  const repo = join(root, 'repo');
  const home = join(root, 'home');
  mkdirSync(repo, { recursive: true });
  mkdirSync(home, { recursive: true });
  writeTree(repo, trees.repo ?? {});
  writeTree(home, trees.home ?? {});
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: root,
    BOT_BOTTLE_HOME: home,
    ...extraEnv,
  };
  return {
    root,
    repo,
    home,
    env,
    run: async (argv, opts = {}) => {
      let stdout = '';
      let stderr = '';
      const code = await main(argv, {
        cwd: opts.cwd ?? repo,
        env: { ...env, ...opts.env },
        io: {
          out: (t) => (stdout += t.endsWith('\n') ? t : `${t}\n`),
          err: (t) => (stderr += t.endsWith('\n') ? t : `${t}\n`),
        },
      });
      return { code, stdout, stderr };
    },
    cleanup: () => {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Front matter + body, as an entity file. */
export function md(frontMatter: string, body = ''): string {
  return `---\n${frontMatter.trim()}\n---\n${body}`;
}
