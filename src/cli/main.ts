import { readFileSync } from 'node:fs';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { ExitCode, UsageError } from '../errors.js';
import { ActionExit, type Program } from './command.js';
import type { CliContext } from './context.js';
import { errorJson, printJson, processIo, reportError } from './output.js';
import { commanderMessage, unknownCommand } from './usage-errors.js';
import * as start from './start.js';
import * as ps from './ps.js';
import * as stop from './stop.js';
import * as logs from './logs.js';
import * as supervise from './supervise.js';
import * as egress from './egress.js';
import * as routes from './routes.js';
import * as freeze from './freeze.js';
import * as usage from './usage.js';
import * as dashboard from './dashboard.js';
import * as cutoff from './cutoff.js';
import * as kill from './kill.js';
import * as resume from './resume.js';
import * as rm from './rm.js';
import * as prune from './prune.js';
import * as trust from './trust.js';
import * as init from './init.js';
import * as doctor from './doctor.js';

/** Every command, in the order `--help` lists them; each file registers its own. */
const COMMANDS: readonly { register: (program: Program, ctx: CliContext) => void }[] = [
  start,
  ps,
  stop,
  logs,
  supervise,
  egress,
  routes,
  freeze,
  usage,
  dashboard,
  cutoff,
  kill,
  resume,
  rm,
  prune,
  trust,
  init,
  doctor,
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function buildProgram(ctx: CliContext): Program {
  const program = new Command('bot-bottle')
    .description(
      'Run AI coding agents (Claude Code, Codex CLI, pi) in sandboxed containers:\n' +
        'an allowlisting egress proxy, credentials the agent never sees, metered\n' +
        'token budgets, and an operator approval queue for more access.',
    )
    .version(version(), '-V, --version')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => {
        ctx.io.out(s);
      },
      writeErr: (s) => {
        ctx.io.err(s);
      },
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Configuration:
  .bot-bottle/{agents,bottles,skills}/ in the repository, ~/.bot-bottle/ for
  the user (BOT_BOTTLE_HOME overrides), or a single bot-bottle.json.
  Host settings: ~/.bot-bottle/settings.yml. See docs/configuration.md.

Exit codes: 0 ok, 1 internal error, 2 bad configuration or usage,
  3 machine not ready (engine, image, runtime), 4 not supported.

Start here:
  bot-bottle init                    write an example .bot-bottle/
  bot-bottle start claude --dry-run  show what a launch would do
  bot-bottle start claude            launch it (asks what it needs)
  bot-bottle ps                      list running bottles
  bot-bottle doctor                  check this machine`,
    );
  for (const c of COMMANDS) c.register(program, ctx);
  return program;
}

/** Run the CLI with `argv` (without node and script) and return the exit code. */
export async function main(argv: readonly string[], ctx: CliContext): Promise<number> {
  const json = argv.includes('--json');
  const program = buildProgram(ctx);
  try {
    const notACommand = unknownCommand(program, argv);
    if (notACommand !== undefined) throw notACommand;
    await program.parseAsync([...argv], { from: 'user' });
    return ExitCode.ok;
  } catch (e) {
    if (e instanceof ActionExit) return e.code;
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      ) {
        return ExitCode.ok;
      }
      // commander has already printed its message; usage errors share the config exit code.
      if (json) printJson(ctx.io, errorJson(new UsageError(commanderMessage(e.message))));
      return ExitCode.config;
    }
    return reportError(ctx.io, e, json);
  }
}

export function defaultContext(): CliContext {
  return { cwd: process.cwd(), env: process.env, io: processIo };
}
