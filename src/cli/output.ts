import { BotBottleError, ExitCode } from '../errors.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

/**
 * Report an error and return its exit code. Known errors get one message
 * (and a hint); under `--json` they are also an object on stdout so scripts
 * need not parse stderr. Unknown errors are bugs: print the stack.
 */
/** The `--json` error object of a typed error. */
export function errorJson(e: BotBottleError): Record<string, unknown> {
  return {
    outcome: 'error',
    error: e.name,
    exitCode: e.exitCode,
    message: e.message,
    ...(e.hint === undefined ? {} : { hint: e.hint }),
    ...e.data,
  };
}

export function reportError(io: Io, e: unknown, json: boolean): number {
  if (e instanceof BotBottleError) {
    io.err(`bot-bottle: ${e.message}`);
    if (e.hint !== undefined) io.err(`  hint: ${e.hint}`);
    if (json) printJson(io, errorJson(e));
    return e.exitCode;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  io.err(`bot-bottle: internal error: ${err.stack ?? err.message}`);
  io.err('  this is a bug; please report it with the command you ran');
  if (json)
    printJson(io, {
      outcome: 'error',
      error: 'InternalError',
      exitCode: ExitCode.internal,
      message: err.message,
    });
  return ExitCode.internal;
}

/** Left-aligned columns, two spaces apart (the first row is the header). */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
