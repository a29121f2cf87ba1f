import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode } from '../errors.js';
import { ANSI_COLORS, BACKENDS } from '../plan/schema.js';
import type { CliContext } from './context.js';
import { runDoctor } from './doctor.js';
import { runInit } from './init.js';
import { processIo, reportError } from './output.js';
import { runStart, type StartOptions } from './start.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Exit-code carrier so actions can return a code through commander. */
class ActionExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function buildProgram(ctx: CliContext): Command {
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
  bot-bottle doctor                  check this machine`,
    );

  program
    .command('start')
    .description('launch an agent in a bottle (with --dry-run: print the plan and create nothing)')
    .argument('[agent]', 'agent name (a file .bot-bottle/agents/<agent>.md)')
    .addOption(
      new Option(
        '--bottle <name>',
        'bottle to compose; repeat to compose several, in order (later wins)',
      )
        .argParser(collect)
        .default([], "the agent's own bottle"),
    )
    .option(
      '--label <label>',
      'label of the running bottle (default: the agent name); its slug names containers and the git branch',
    )
    .addOption(new Option('--color <color>', 'terminal color of the bottle').choices(ANSI_COLORS))
    .option(
      '--budget <tokens>',
      'token budget for this launch only, e.g. 2000000, 500k, 2m (overrides every configured budget)',
    )
    .addOption(
      new Option('--backend <name>', 'container backend')
        .choices(BACKENDS)
        .env('BOT_BOTTLE_BACKEND'),
    )
    .option('--dry-run', 'resolve and print the plan; create nothing (also BOT_BOTTLE_DRY_RUN=1)')
    .option('--json', 'print the plan as JSON (shape: schema/bottle-plan.schema.json)')
    .addHelpText(
      'after',
      `
Examples:
  bot-bottle start claude --dry-run
  bot-bottle start claude --bottle base --bottle github --label fix-ci --dry-run --json`,
    )
    .action((agent: string | undefined, opts: StartOptions) => {
      throw new ActionExit(runStart(ctx, agent, opts));
    });

  program
    .command('init')
    .description(
      'write an example .bot-bottle/ (one claude agent, one bottle for the Anthropic API)',
    )
    .option('--force', 'overwrite files that already exist')
    .option('--json', 'print what was written as JSON')
    .action((opts: { force?: boolean; json?: boolean }) => {
      throw new ActionExit(runInit(ctx, opts));
    });

  program
    .command('doctor')
    .description(
      'check the Docker engine, runtimes, base image, extra CA certificates and configuration',
    )
    .option('--json', 'print the checks as JSON')
    .action(async (opts: { json?: boolean }) => {
      throw new ActionExit(await runDoctor(ctx, opts));
    });

  return program;
}

/** Run the CLI with `argv` (without node and script) and return the exit code. */
export async function main(argv: readonly string[], ctx: CliContext): Promise<number> {
  const json = argv.includes('--json');
  const program = buildProgram(ctx);
  try {
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
      return ExitCode.config;
    }
    return reportError(ctx.io, e, json);
  }
}

export function defaultContext(): CliContext {
  return { cwd: process.cwd(), env: process.env, io: processIo };
}
