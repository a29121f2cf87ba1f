import type { CommandUnknownOpts as Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { didYouMean } from '../util/suggest.js';

/**
 * Usage errors the parser leaves loose. commander shows the program's help
 * for `bot-bottle <unknown> --help` (exit 0) and prints its own errors as
 * text only; scripts need exit 2 and, under `--json`, the error object.
 */

function namesOf(cmd: Command): string[] {
  return cmd.commands.flatMap((c) => [c.name(), ...c.aliases()]);
}

function findSub(cmd: Command, name: string): Command | undefined {
  return cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
}

function unknown(word: string, cmd: Command): UsageError {
  const where = cmd.parent === null ? '' : ` of '${cmd.name()}'`;
  return new UsageError(
    `unknown command '${word}'${where}${didYouMean(word, [...namesOf(cmd), 'help'])}`,
    `\`bot-bottle${cmd.parent === null ? '' : ` ${cmd.name()}`} --help\` lists the commands`,
  );
}

/**
 * The first word that names no command, walking command groups (a command
 * with subcommands and no arguments of its own) the way the parser will.
 * Group levels take no options but help, so the first non-option word is
 * the subcommand; `help X` must name one too.
 */
export function unknownCommand(program: Command, argv: readonly string[]): UsageError | undefined {
  let cmd = program;
  let i = 0;
  while (cmd.commands.length > 0 && cmd.registeredArguments.length === 0) {
    while (i < argv.length && (argv[i] ?? '').startsWith('-')) i++;
    const word = argv[i];
    if (word === undefined) return undefined;
    if (word === 'help') {
      const target = argv.slice(i + 1).find((w) => !w.startsWith('-'));
      if (target === undefined || findSub(cmd, target) !== undefined) return undefined;
      return unknown(target, cmd);
    }
    const sub = findSub(cmd, word);
    if (sub === undefined) return unknown(word, cmd);
    cmd = sub;
    i++;
  }
  return undefined;
}

/** commander's message without its `error: ` prefix, on one line. */
export function commanderMessage(message: string): string {
  return message
    .replace(/^error: /, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}
