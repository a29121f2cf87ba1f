import type { Command } from '@commander-js/extra-typings';
import type { ActiveBottle, Backend } from '../backend/backend.js';
import { operatorAct, type OperatorAction } from '../controller/enforcement.js';
import type { CliContext } from './context.js';
import { controllerAlive, findActive } from './find.js';
import { printJson, reportError } from './output.js';
import { services, type Services, backendName } from './services.js';

/**
 * What every command module shares. Each `src/cli/<command>.ts` exports
 * `register(program, ctx)`; `main.ts` lists them in help order. Option
 * types come from the definitions (`@commander-js/extra-typings`), so an
 * option and the code that reads it cannot drift apart.
 */

/** The program (or a command group) commands attach to. */
export type Program = Command;

/** The parsed options of the command a `define` function returns, as its action receives them. */
export type OptionsOf<Define extends (...args: never[]) => { opts: () => unknown }> = ReturnType<
  ReturnType<Define>['opts']
>;

/** Exit-code carrier so actions can return a code through commander. */
export class ActionExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** End the running command with `code`; `main` returns it. */
export function exit(code: number): never {
  throw new ActionExit(code);
}

/** A repeatable option's values, in order. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

export const SLUG_HELP = 'the bottle (see bot-bottle ps)';

/** A command that acts on one running bottle: its first argument is `<slug>`. */
export function bottleCommand(parent: Program, name: string, description: string) {
  return parent.command(name).description(description).argument('<slug>', SLUG_HELP);
}

/** The running bottle a `<slug>` names, and what found it. */
export interface Target {
  slug: string;
  bottle: ActiveBottle;
  backend: Backend;
  svc: Services;
}

/**
 * What a bottle command prints on stdout: `json` under `--json`, else
 * `text`; `warnings` go to stderr in text mode only (under `--json` they
 * are part of the object). `undefined`: nothing to print.
 */
export type Reply =
  { json: unknown; text: string | readonly string[]; warnings?: readonly string[] } | undefined;

/**
 * The action of a `<slug>` + `--json` command: find the running bottle
 * (a usage error naming the running ones if there is none), run, print
 * the reply, exit 0. A failure is reported once, as text on stderr and,
 * under `--json`, as the error object on stdout.
 */
export async function onBottle(
  ctx: CliContext,
  slug: string,
  opts: { json?: true },
  run: (target: Target) => Promise<Reply>,
): Promise<never> {
  const json = opts.json === true;
  try {
    const svc = services(ctx);
    const backend = svc.backend(backendName(ctx));
    const bottle = await findActive(backend, slug);
    const reply = await run({ slug, bottle, backend, svc });
    if (reply !== undefined) {
      if (json) printJson(ctx.io, reply.json);
      else {
        const text = typeof reply.text === 'string' ? [reply.text] : reply.text;
        for (const l of text) ctx.io.out(l);
        for (const w of reply.warnings ?? []) ctx.io.err(`warning: ${w}`);
      }
    }
  } catch (e) {
    if (e instanceof ActionExit) throw e;
    exit(reportError(ctx.io, e, json));
  }
  exit(0);
}

/** An operator action on a found bottle, its teardown progress on stderr. */
export function operate(
  ctx: CliContext,
  t: Target,
  action: OperatorAction,
  via: string,
): ReturnType<typeof operatorAct> {
  return operatorAct(t.backend, ctx.env, t.bottle, action, {
    via,
    controllerAlive: controllerAlive(t.bottle),
    progress: (l) => {
      ctx.io.err(l);
    },
  });
}
