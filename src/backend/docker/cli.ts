import { EnvironmentError } from '../../errors.js';
import { run, type RunResult } from '../../util/exec.js';
import { FIX } from './fixes.js';

export const DOCKER_BIN = process.env.BOT_BOTTLE_DOCKER ?? 'docker';

/** Run the docker CLI with an argv array. */
export async function docker(
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  const r = await run(DOCKER_BIN, args, opts);
  if (r.spawnError !== undefined) {
    throw new EnvironmentError(
      `the docker CLI (${DOCKER_BIN}) could not be started: ${r.spawnError.code ?? 'error'}`,
      FIX.installDocker,
    );
  }
  return r;
}

/** Run docker and parse `--format '{{json .}}'` output. */
export async function dockerJson<T>(args: readonly string[]): Promise<T> {
  const r = await docker(args);
  if (r.code !== 0) {
    throw new EnvironmentError(`docker ${args[0] ?? ''} failed: ${firstLine(r.stderr)}`);
  }
  return JSON.parse(r.stdout) as T;
}

export function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}
