import { execFile, execFileSync, spawn } from 'node:child_process';

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

/**
 * Run a program and hand each output line (stdout and stderr, interleaved)
 * to `onLine` as it arrives; used for long builds that must show progress.
 */
export function runStreaming(
  file: string,
  args: readonly string[],
  onLine: (line: string) => void,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; spawnError?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pump = (stream: NodeJS.ReadableStream): void => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          // A carriage return redraws the line: keep what was drawn last.
          const parts = buf
            .slice(0, nl)
            .split('\r')
            .filter((p) => p !== '');
          onLine(parts[parts.length - 1] ?? '');
          buf = buf.slice(nl + 1);
        }
      });
      stream.on('end', () => {
        if (buf !== '') onLine(buf);
      });
    };
    pump(child.stdout);
    pump(child.stderr);
    child.on('error', (e: NodeJS.ErrnoException) => {
      resolve({ code: 127, spawnError: e });
    });
    child.on('close', (code) => {
      resolve({ code: code ?? 1 });
    });
  });
}
