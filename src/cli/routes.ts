import type { Program } from './command.js';
import { registerEdit } from './config-edit.js';
import type { CliContext } from './context.js';

/** `bot-bottle routes edit <slug>`: a running bottle's credential routes. */
export function register(program: Program, ctx: CliContext): void {
  const routes = program
    .command('routes')
    .description(
      "a running bottle's credential routes (hosts and header names; values stay on the host)",
    );
  registerEdit(
    routes,
    ctx,
    'routes',
    "edit a running bottle's credential routes (routes.yaml) with the same checks and audit as an approved proposal",
  );
}
