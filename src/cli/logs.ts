import type { Program } from './command.js';
import type { CliContext } from './context.js';
import { registerLog } from './egress-log.js';

/** `bot-bottle logs <slug>`: the short form of `egress log`. */
export function register(program: Program, ctx: CliContext): void {
  registerLog(program, ctx, 'logs', "show a running bottle's egress log (same as `egress log`)");
}
