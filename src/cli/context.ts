import type { Io } from './output.js';
import type { Services } from './services.js';

/** What every command gets: where it runs and where it writes. */
export interface CliContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  io: Io;
  /** Replacements for the engine, the launch core or the pickers (tests). */
  services?: Partial<Services>;
}
