/**
 * What a phase acquired, released in reverse order on any exit. Each
 * release runs even when an earlier one throws; their errors are returned,
 * not thrown, so they never replace the error that ended the phase.
 */
export class CleanupStack {
  readonly #steps: { what: string; release: () => unknown }[] = [];

  /** Register a release right after acquiring what it releases. */
  defer(what: string, release: () => unknown): void {
    this.#steps.push({ what, release });
  }

  /** Release everything (last acquired first); the failures, each named. */
  async release(): Promise<string[]> {
    const failures: string[] = [];
    for (let step = this.#steps.pop(); step !== undefined; step = this.#steps.pop()) {
      try {
        await step.release();
      } catch (e) {
        failures.push(`${step.what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return failures;
  }
}
