/**
 * Typed errors. Every error a user can cause maps to one exit code and one
 * message; anything else is a bug and exits 1 with a stack trace.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  /** Bad configuration or bad command-line usage: nothing was created. */
  config: 2,
  /** The machine is not ready (no engine, missing image, missing runtime). */
  environment: 3,
  /** The command exists but this version cannot do it yet. */
  unsupported: 4,
  /** Stopped by SIGINT (128 + 2), as shells report it; the bottle was torn down. */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class BotBottleError extends Error {
  readonly exitCode: ExitCodeValue;
  /** Extra machine-readable facts, printed under `--json`. */
  readonly data: Record<string, unknown>;
  /** A hint on how to fix it, printed on its own line. */
  readonly hint: string | undefined;

  constructor(
    message: string,
    opts: { exitCode: ExitCodeValue; hint?: string; data?: Record<string, unknown> },
  ) {
    super(message);
    this.name = new.target.name;
    this.exitCode = opts.exitCode;
    this.hint = opts.hint;
    this.data = opts.data ?? {};
  }
}

/** Where a configuration problem sits: file, entity and field. */
export interface ConfigLocation {
  file?: string | undefined;
  /** e.g. `bottle 'dev'`, `agent 'claude'`, `settings` */
  entity?: string | undefined;
  /** dotted path, e.g. `egress.routes[0].headers.x-api-key` */
  field?: string | undefined;
}

export class ConfigError extends BotBottleError {
  readonly location: ConfigLocation;
  readonly detail: string;

  constructor(location: ConfigLocation, detail: string, hint?: string) {
    super(formatConfigMessage(location, detail), {
      exitCode: ExitCode.config,
      ...(hint === undefined ? {} : { hint }),
      data: { ...location, detail },
    });
    this.location = location;
    this.detail = detail;
  }
}

export function formatConfigMessage(loc: ConfigLocation, detail: string): string {
  const parts: string[] = [];
  if (loc.file !== undefined) parts.push(loc.file);
  if (loc.entity !== undefined) parts.push(loc.entity);
  if (loc.field !== undefined && loc.field !== '') parts.push(`field '${loc.field}'`);
  return parts.length > 0 ? `${parts.join(': ')}: ${detail}` : detail;
}

export class UsageError extends BotBottleError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.config, ...(hint === undefined ? {} : { hint }) });
  }
}

export class EnvironmentError extends BotBottleError {
  constructor(message: string, hint?: string, data?: Record<string, unknown>) {
    super(message, {
      exitCode: ExitCode.environment,
      ...(hint === undefined ? {} : { hint }),
      ...(data === undefined ? {} : { data }),
    });
  }
}

export class UnsupportedError extends BotBottleError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.unsupported, ...(hint === undefined ? {} : { hint }) });
  }
}

export class InterruptedError extends BotBottleError {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}; the bottle was torn down`, {
      exitCode: ExitCode.interrupted,
    });
  }
}
