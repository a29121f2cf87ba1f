import type { Io } from './output.js';

/** What every command gets: where it runs and where it writes. */
export interface CliContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  io: Io;
}
