import { spawn } from 'node:child_process';
import { EnvironmentError } from '../../errors.js';
import { run, type RunResult } from '../../util/exec.js';
import type { ExecOptions, ExecResult } from '../backend.js';

/**
 * One container engine driven through its command-line client (docker,
 * podman): the binary, the words for messages and what to do when the
 * client is missing. Every call is an argv array.
 */
export class EngineCli {
  constructor(
    /** The client program, e.g. `docker` or a path to it. */
    readonly bin: string,
    /** The engine's name in messages ("docker", "podman"). */
    readonly title: string,
    /** How to install the client, for the message when it cannot be started. */
    private readonly installHint: string,
  ) {}

  /** Run the client with an argv array and collect its output. */
  async run(
    args: readonly string[],
    opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<RunResult> {
    const r = await run(this.bin, args, opts);
    if (r.spawnError !== undefined) throw this.notStarted(r.spawnError.code);
    return r;
  }

  /** Run the client; a non-zero exit is an error that names `what`. */
  async must(
    args: readonly string[],
    what: string,
    timeoutMs = 60_000,
    env?: NodeJS.ProcessEnv,
  ): Promise<string> {
    const r = await this.run(args, { timeoutMs, ...(env === undefined ? {} : { env }) });
    if (r.code !== 0) {
      throw new EnvironmentError(`${what} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
    }
    return r.stdout;
  }

  notStarted(code: string | undefined): EnvironmentError {
    return new EnvironmentError(
      `the ${this.title} CLI (${this.bin}) could not be started: ${code ?? 'error'}`,
      this.installHint,
    );
  }

  /** Spawn the client with the caller's stdio choices; values travel in its environment. */
  spawn(
    args: readonly string[],
    opts: ExecOptions & { stdinStream?: NodeJS.ReadableStream },
  ): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const stdin =
        opts.stdinStream !== undefined || opts.input !== undefined
          ? 'pipe'
          : (opts.stdin ?? 'ignore');
      const child = spawn(this.bin, args, {
        env: { ...process.env, ...opts.env },
        stdio: [stdin, opts.stdout ?? 'inherit', opts.stderr ?? 'inherit'],
      });
      child.on('error', (e: NodeJS.ErrnoException) => {
        reject(this.notStarted(e.code));
      });
      if (child.stdout !== null) {
        child.stdout.on('data', (c: Buffer) => opts.onStdout?.(c));
      }
      if (child.stderr !== null) {
        child.stderr.on('data', (c: Buffer) => opts.onStderr?.(c));
      }
      if (opts.stdinStream !== undefined && child.stdin !== null) {
        opts.stdinStream.pipe(child.stdin);
        child.stdin.on('error', () => undefined);
      } else if (opts.input !== undefined && child.stdin !== null) {
        child.stdin.on('error', () => undefined);
        child.stdin.end(opts.input);
      }
      child.on('close', (code, signal) => {
        resolve({ code: code ?? (signal === null ? 1 : 128 + signalNumber(signal)) });
      });
    });
  }
}

function signalNumber(s: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return table[s] ?? 1;
}

export function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** Either engine's words for "that image/container/network is not there". */
export function isMissing(stderr: string): boolean {
  return /no such|not found|not known/i.test(stderr);
}
