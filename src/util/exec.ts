import { execFile, execFileSync } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (e.g. ENOENT). */
  spawnError?: NodeJS.ErrnoException;
}

/**
 * Run a program with an argv array (never a shell string) and collect its
 * output. Never throws for a non-zero exit: callers decide what it means.
 */
export function run(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        cwd: opts.cwd,
        env: opts.env,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
        if (typeof e.code === 'string' && (e.code === 'ENOENT' || e.code === 'EACCES')) {
          resolve({ code: 127, stdout, stderr, spawnError: e });
          return;
        }
        const code = typeof e.code === 'number' ? e.code : e.killed === true ? 124 : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The git work tree that holds `cwd`, or undefined outside git. */
export function gitToplevel(cwd: string): string | undefined {
  try {
    const out = execFileSync('git', ['rev-parse', '--show-toplevel'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const top = out.trim();
    return top === '' ? undefined : top;
  } catch {
    return undefined;
  }
}
