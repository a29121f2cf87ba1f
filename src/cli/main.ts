import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, UsageError } from '../errors.js';
import { ANSI_COLORS, BACKENDS } from '../plan/schema.js';
import type { CliContext } from './context.js';
import { runDoctor } from './doctor.js';
import { runInit } from './init.js';
import { errorJson, printJson, processIo, reportError } from './output.js';
import { runFreeze } from './freeze.js';
import { runCutoff, runKill } from './cutoff.js';
import { runDashboard } from './dashboard.js';
import { runUsage } from './usage.js';
import { runEgressChange, runEgressLog, runEgressRoute, runEgressShow } from './egress.js';
import { runPrune } from './prune.js';
import { runPs } from './ps.js';
import { runResume, type ResumeOptions } from './resume.js';
import { runRm } from './rm.js';
import { runStart, type StartOptions } from './start.js';
import { runStop } from './stop.js';
import { registerTrust } from './trust.js';
import { commanderMessage, unknownCommand } from './usage-errors.js';
import {
  runConfigEdit,
  runSuperviseAnswer,
  runSuperviseList,
  type AnswerOptions,
} from './supervise.js';

interface EditOptions {
  file?: string;
  notes?: string;
  value: string[];
  saveToBottleFile?: boolean;
  json?: boolean;
}

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
  bot-bottle start claude            launch it (asks what it needs)
  bot-bottle ps                      list running bottles
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
    .option(
      '--headless',
      'run without a terminal: needs an agent name and --prompt; no pickers, no confirmation',
    )
    .option('--prompt <text>', 'the task for a --headless run (one argument to the agent CLI)')
    .option('-y, --yes', 'skip the launch confirmation of an interactive start')
    .option(
      '--supervise',
      'run the supervise sidecar: MCP tools the agent uses to ask for access (default: on unless --headless; never for pi)',
    )
    .option('--no-supervise', 'run without the supervise sidecar')
    .option('--dry-run', 'resolve and print the plan; create nothing (also BOT_BOTTLE_DRY_RUN=1)')
    .option(
      '--json',
      'with --dry-run: the plan (schema/bottle-plan.schema.json); otherwise: the launch record, with the agent output captured',
    )
    .addHelpText(
      'after',
      `
Without --headless on a terminal, missing choices are asked for: agent
(type to filter), bottles, label and color, then a y/N confirmation. The
agent runs on this terminal. When it exits, its commits (and uncommitted
changes, as a final commit) arrive in this repository as branch
bot-bottle/<slug>, and the bottle is saved for \`bot-bottle resume\`.

The exit code is the agent CLI's.

Examples:
  bot-bottle start claude
  bot-bottle start claude --headless --prompt 'Fix the failing test' --json
  bot-bottle start claude --bottle base --bottle github --label fix-ci --dry-run --json`,
    )
    .action(async (agent: string | undefined, opts: StartOptions) => {
      throw new ActionExit(await runStart(ctx, agent, opts));
    });

  program
    .command('ps')
    .description('list running bottles (with --all: saved ones too)')
    .option('--all', 'also list saved (ended or frozen) bottles that resume can continue')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean; all?: boolean }) => {
      throw new ActionExit(await runPs(ctx, opts));
    });

  program
    .command('stop')
    .description('end the agent of a running bottle; its work comes home and the bottle is saved')
    .argument('<slug>', 'the bottle (see bot-bottle ps)')
    .option('--timeout <seconds>', 'how long to wait for the bottle to wind down', '60')
    .option('--json', 'print the outcome as JSON')
    .action(async (slug: string, opts: { json?: boolean; timeout?: string }) => {
      throw new ActionExit(await runStop(ctx, slug, opts));
    });

  program
    .command('logs')
    .description("show a running bottle's egress log (same as `egress log`)")
    .argument('<slug>', 'the bottle (see bot-bottle ps)')
    .option('-f, --follow', 'keep printing new entries')
    .option('--json', 'print the raw JSON lines')
    .action(async (slug: string, opts: { follow?: boolean; json?: boolean }) => {
      throw new ActionExit(await runEgressLog(ctx, slug, opts));
    });

  const supervise = program
    .command('supervise')
    .description(
      'the access requests agents made through the supervise tools: review and approve, modify or reject',
    )
    .option('--json', 'print the pending proposals (with diffs) as JSON instead of opening the TUI')
    .addHelpText(
      'after',
      `
An agent in a supervised bottle asks for access with the MCP tools
egress-block (hosts), cred-proxy-block (credential routes: hosts and header
names; you choose the values) and capability-block (Dockerfile lines). Its
call waits for your answer. On a terminal this opens a queue of every
running bottle's proposals, oldest first, each with its diff against the
config in force: a approve, m modify (opens $EDITOR), r reject (with notes).

An approval takes effect before the agent hears of it: egress and route
changes apply live (open connections kept) and are kept by resume;
capability lines are built into the image now (freeze, rebuild, resume) or
at the bottle's next resume. Every decision is appended to
~/.bot-bottle/audit/<slug>.jsonl.

Examples:
  bot-bottle supervise
  bot-bottle supervise --json
  bot-bottle supervise answer <id> approve --notes 'ok for this task'
  bot-bottle supervise answer <id> approve --value 'api.github.com authorization=cmd:gh auth token'
  bot-bottle supervise answer <id> modify --file ./egress.yaml --save-to-bottle-file
  bot-bottle supervise answer <id> approve --rebuild now
  bot-bottle supervise answer <id> reject --notes 'use the internal mirror instead'`,
    )
    .action(async (opts: { json?: boolean }) => {
      throw new ActionExit(await runSuperviseList(ctx, opts));
    });
  supervise
    .command('answer')
    .description('answer one proposal (ids from bot-bottle supervise --json)')
    .argument('<id>', 'the proposal id')
    .argument('<decision>', 'approve, modify or reject')
    .option('--notes <text>', 'returned to the agent with the answer, and kept in the audit log')
    .option(
      '--file <path>',
      'modify: the file to apply instead of the proposal (without it: $EDITOR)',
    )
    .option(
      '--value <host header=source>',
      "routes: where a new header's value comes from, e.g. 'api.github.com authorization=env:GH_TOKEN' (env:, file:, cmd:, ?); repeatable",
      collect,
      [],
    )
    .option('--save-to-bottle-file', "egress/routes: also write the change into the bottle's file")
    .option(
      '--rebuild <when>',
      'capability: now (freeze, rebuild, resume; workspace and session kept) or next-launch',
      'next-launch',
    )
    .option('--force', 'approve a proposal made against a config that has changed since')
    .option('--json', 'print the outcome as JSON')
    .action(async (id: string, decision: string, opts: AnswerOptions) => {
      throw new ActionExit(await runSuperviseAnswer(ctx, id, decision, opts));
    });

  const egress = program
    .command('egress')
    .description("a running bottle's egress proxy: its audit log and live allow/deny changes")
    .addHelpText(
      'after',
      `
Changes made here apply at once, keep open connections, and last for this
run of the bottle; put them in the bottle's file to keep them.

Examples:
  bot-bottle egress log fix-ci --follow
  bot-bottle egress allow fix-ci registry.npmjs.org
  bot-bottle egress deny fix-ci '*.pastebin.com'
  bot-bottle egress show fix-ci --json`,
    );
  egress
    .command('log')
    .description(
      'one line per request decision: verdict, host, path (no query values), rule, bytes, time',
    )
    .argument('<slug>', 'the bottle (see bot-bottle ps)')
    .option('-f, --follow', 'keep printing new entries')
    .option('--json', 'print the raw JSON lines')
    .action(async (slug: string, opts: { follow?: boolean; json?: boolean }) => {
      throw new ActionExit(await runEgressLog(ctx, slug, opts));
    });
  egress
    .command('show')
    .description('the live policy: allow, deny, passthrough, rules, credential routes (names only)')
    .argument('<slug>', 'the bottle (see bot-bottle ps)')
    .option('--json', 'print the policy as JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      throw new ActionExit(await runEgressShow(ctx, slug, opts));
    });
  egress
    .command('route')
    .description(
      'give the running bottle a credential route: the proxy sets this header for the host (the agent never sees the value)',
    )
    .argument('<slug>', 'the bottle (see bot-bottle ps)')
    .argument('<host>', 'an exact host the bottle may already reach')
    .argument('[header]', 'the header to set, e.g. authorization or x-api-key')
    .argument(
      '[value]',
      'a value source: env:NAME, file:PATH, cmd:COMMAND, ? (ask), or literal text',
    )
    .option('--prefix <text>', "text before the value, e.g. 'Bearer ' or 'Basic '")
    .option(
      '--basic-user <name>',
      'HTTP Basic: the value becomes base64(<name>:<secret>) (git over HTTPS: x-access-token)',
    )
    .option('--remove', "remove the host's credential route instead")
    .option('--json', 'print the routes after the change as JSON')
    .addHelpText(
      'after',
      `
Examples:
  bot-bottle egress route fix-ci api.github.com authorization 'cmd:gh auth token' --prefix 'Bearer '
  bot-bottle egress route fix-ci github.com authorization 'cmd:gh auth token' --prefix 'Basic ' --basic-user x-access-token
  bot-bottle egress route fix-ci api.github.com --remove`,
    )
    .action(
      async (
        slug: string,
        host: string,
        header: string | undefined,
        value: string | undefined,
        opts: { prefix?: string; basicUser?: string; remove?: boolean; json?: boolean },
      ) => {
        throw new ActionExit(await runEgressRoute(ctx, slug, host, header, value, opts));
      },
    );
  const editOptions = (c: Command): Command =>
    c
      .argument('<slug>', 'the bottle (see bot-bottle ps)')
      .option('--file <path>', 'the new file (without it: $EDITOR on the current one)')
      .option('--notes <text>', 'why, for the audit log')
      .option(
        '--value <host header=source>',
        "a new route header's value source, e.g. 'api.github.com authorization=env:GH_TOKEN'; repeatable",
        collect,
        [],
      )
      .option('--save-to-bottle-file', "also write the change into the bottle's file")
      .option('--json', 'print the outcome as JSON');
  editOptions(
    egress
      .command('edit')
      .description(
        "edit a running bottle's egress rules (egress.yaml) with the same checks and audit as an approved proposal",
      ),
  ).action(async (slug: string, opts: EditOptions) => {
    throw new ActionExit(await runConfigEdit(ctx, 'egress', slug, opts));
  });
  const routes = program
    .command('routes')
    .description(
      "a running bottle's credential routes (hosts and header names; values stay on the host)",
    );
  editOptions(
    routes
      .command('edit')
      .description(
        "edit a running bottle's credential routes (routes.yaml) with the same checks and audit as an approved proposal",
      ),
  ).action(async (slug: string, opts: EditOptions) => {
    throw new ActionExit(await runConfigEdit(ctx, 'routes', slug, opts));
  });
  for (const action of ['allow', 'deny'] as const) {
    egress
      .command(action)
      .description(
        action === 'allow'
          ? 'let the bottle reach these hosts now (also lifts an identical deny entry)'
          : 'refuse these hosts from now on (deny wins over allow)',
      )
      .argument('<slug>', 'the bottle (see bot-bottle ps)')
      .argument('<host...>', 'host patterns: api.example.com, *.example.com, example.com:8443')
      .option('--json', 'print the policy before and after as JSON')
      .action(async (slug: string, hosts: string[], opts: { json?: boolean }) => {
        throw new ActionExit(await runEgressChange(ctx, action, slug, hosts, opts));
      });
  }

  program
    .command('freeze')
    .description('save a running bottle (its container filesystem) and tear it down')
    .argument('<slug>', 'the bottle (see bot-bottle ps)')
    .option('--json', 'print the identity and image as JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      throw new ActionExit(await runFreeze(ctx, slug, opts));
    });

  program
    .command('usage')
    .description("token usage per launch from the ledger, against each running bottle's budget")
    .option('--since <when>', 'only usage since then: 2026-11-21, 2026-11-21T09:00Z, 30m, 24h, 7d')
    .option('--json', 'print launches, budgets and per-provider totals as JSON')
    .addHelpText(
      'after',
      `
Usage is read from the API responses by each bottle's egress proxy and kept in
~/.bot-bottle/bot-bottle.db. BUDGET shows the effective budget of a running
bottle: used/limit over what it counts (a shared budget counts other bottles too).`,
    )
    .action(async (opts: { json?: boolean; since?: string }) => {
      throw new ActionExit(await runUsage(ctx, opts));
    });

  program
    .command('dashboard')
    .description(
      'live view of every running bottle: usage against budget, rate, last action; keys act on one',
    )
    .addHelpText(
      'after',
      `
Keys: up/down (or j/k) select, c cut off metered calls (again: lift), f freeze,
s stop, x kill, q quit. Freeze, stop and kill ask to confirm with y.
Needs a terminal; for scripts use \`bot-bottle usage --json\`.`,
    )
    .action(async () => {
      throw new ActionExit(await runDashboard(ctx));
    });

  program
    .command('cutoff')
    .description(
      "refuse a running bottle's metered API calls (it keeps running); --lift allows them again",
    )
    .argument('<slug>', 'the bottle (see bot-bottle ps)')
    .option('--lift', 'allow metered calls again (within the budget)')
    .option('--json', 'print the outcome as JSON')
    .action(async (slug: string, opts: { json?: boolean; lift?: boolean }) => {
      throw new ActionExit(await runCutoff(ctx, slug, opts));
    });

  program
    .command('kill')
    .description('remove a running bottle at once, saving nothing (stop or freeze keep its work)')
    .argument('<slug>', 'the bottle (see bot-bottle ps)')
    .option('--json', 'print the outcome as JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      throw new ActionExit(await runKill(ctx, slug, opts));
    });

  program
    .command('resume')
    .description("continue a saved bottle with the agent CLI's continue flag")
    .argument('<identity>', 'a saved bottle (see bot-bottle ps --all)')
    .option('--headless', 'run without a terminal; needs --prompt')
    .option('--prompt <text>', 'the task for a --headless run')
    .option(
      '--budget <tokens>',
      'token budget for this launch only (e.g. after a budget froze it): 2000000, 500k, 2m',
    )
    .option('--json', 'print the launch record as JSON')
    .option('--supervise', 'run the supervise sidecar (default: on unless --headless)')
    .option('--no-supervise', 'run without the supervise sidecar')
    .action(async (identity: string, opts: ResumeOptions) => {
      throw new ActionExit(await runResume(ctx, identity, opts));
    });

  program
    .command('rm')
    .description('forget a saved bottle: remove its image and record (its git branch stays)')
    .argument('<identity>', 'a saved bottle (see bot-bottle ps --all)')
    .option('--json', 'print the outcome as JSON')
    .action(async (identity: string, opts: { json?: boolean }) => {
      throw new ActionExit(await runRm(ctx, identity, opts));
    });

  program
    .command('prune')
    .description('remove leftovers of crashed launches (containers, networks, records)')
    .option('--json', 'print what was removed as JSON')
    .action(async (opts: { json?: boolean }) => {
      throw new ActionExit(await runPrune(ctx, opts));
    });

  registerTrust(
    program,
    (code) => {
      throw new ActionExit(code);
    },
    ctx,
  );

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
