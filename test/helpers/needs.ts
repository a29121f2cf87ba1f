import { describe, it } from 'vitest';

/** What a test block needs from the test bed, and why it is missing (undefined: ready). */
export interface Need {
  /** e.g. 'a Docker engine', for the failing test's name. */
  what: string;
  problem: string | undefined;
  /** The command that prepares it, e.g. 'scripts/testbed.sh'. */
  fix: string;
}

/**
 * A describe block that needs part of the test bed. Without it the block is
 * skipped on a developer machine, but under CI it fails: a green CI run must
 * mean these tests really ran.
 */
export function describeNeeding(name: string, need: Need, fn: () => void): void {
  if (need.problem === undefined) {
    describe(name, fn);
  } else if (process.env.CI) {
    const problem = need.problem;
    describe(name, () => {
      it(`needs ${need.what}`, () => {
        throw new Error(`CI is set but ${need.what} is not ready (${problem}); run ${need.fix}`);
      });
    });
  } else {
    describe.skip(`${name} (${need.what} not ready: ${need.problem}; run ${need.fix})`, fn);
  }
}
