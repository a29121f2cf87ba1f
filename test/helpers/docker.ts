import { execFileSync } from 'node:child_process';
import { DEFAULT_BASE_IMAGE } from '../../src/settings/settings.js';
import { describeNeeding } from './needs.js';

function engineAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
      stdio: 'pipe',
      timeout: 15_000,
    });
    return true;
  } catch {
    return false;
  }
}

export const dockerUp = engineAnswers();

/** The image docker-backed tests run: the configured base image. */
const fromEnv = process.env.BOT_BOTTLE_BASE_IMAGE;
export const testImage = fromEnv === undefined || fromEnv === '' ? DEFAULT_BASE_IMAGE : fromEnv;

/**
 * A describe block that needs a Docker engine. Without one it is skipped on
 * a developer machine, but under CI it fails: a green CI run must mean the
 * docker-backed tests really ran.
 */
export function describeDocker(name: string, fn: () => void): void {
  const problem = dockerUp ? undefined : 'no engine answers `docker info`';
  describeNeeding(name, { what: 'a Docker engine', problem, fix: 'scripts/testbed.sh' }, fn);
}

export function sh(file: string, args: string[], timeout = 120_000): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });
}

export function dockerOut(args: string[], timeout = 120_000): string {
  return sh('docker', args, timeout).trim();
}

export function requireImage(): void {
  try {
    dockerOut(['image', 'inspect', '--format', '{{.Id}}', testImage]);
  } catch {
    throw new Error(
      `base image ${testImage} is not present; run BOT_BOTTLE_BASE_IMAGE=${testImage} scripts/testbed.sh`,
    );
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
