import { PodStartError, podConfig, startPodController } from './pod-controller.js';

/**
 * Entry point of the controller image (`node controller.mjs`): the
 * `controller` container of a bottle's proxy pod. Logs one JSON line per
 * event to stdout; exits non-zero when it cannot start.
 */

function log(message: string): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), message })}\n`);
}

async function main(): Promise<void> {
  const running = await startPodController(podConfig(process.env), process.env, log);
  // The link's retry timer does not hold the process: this does, until stopped.
  const alive = setInterval(() => undefined, 60_000);
  const stop = (): void => {
    clearInterval(alive);
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  const code = e instanceof PodStartError ? e.code : 1;
  log(`bot-bottle controller cannot start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(code);
});
