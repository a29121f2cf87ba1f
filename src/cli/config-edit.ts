import { collect, bottleCommand, onBottle, type Program } from './command.js';
import type { Scope } from '../supervise/apply.js';
import { operatorEdit } from '../supervise/answer.js';
import { FILE_FOR_COMPONENT } from '../supervise/files.js';
import { readCurrentFile } from '../supervise/host.js';
import type { CliContext } from './context.js';
import { UsageError } from '../errors.js';
import { editText, parseValues, readFileArg } from './operator-input.js';

/**
 * `egress edit` / `routes edit`: the operator's own change through the
 * proposal checks and the audit log.
 */
export function registerEdit(
  parent: Program,
  ctx: CliContext,
  component: 'egress' | 'routes',
  description: string,
): void {
  bottleCommand(parent, 'edit', description)
    .option('--file <path>', 'the new file (without it: $EDITOR on the current one)')
    .option('--notes <text>', 'why, for the audit log')
    .option(
      '--value <host header=source>',
      "a new route header's value source, e.g. 'api.github.com authorization=env:GH_TOKEN'; repeatable",
      collect,
      [],
    )
    .option('--save-to-bottle-file', "also write the change into the bottle's file")
    .option('--json', 'print the outcome as JSON')
    .action((slug, opts) =>
      onBottle(ctx, slug, opts, async ({ bottle, backend, svc }) => {
        const name = FILE_FOR_COMPONENT[component];
        const current = readCurrentFile(ctx.env, slug, name);
        let text: string;
        if (opts.file !== undefined) text = readFileArg(opts.file);
        else if (svc.interactive) text = editText(ctx.env, name, current);
        else throw new UsageError(`without a terminal, give the new ${name} with --file PATH`);
        if (text === current) {
          ctx.io.err(`bot-bottle: ${name} unchanged; nothing to do`);
          return undefined;
        }
        const scope: Scope = opts.saveToBottleFile === true ? 'bottle-file' : 'run';
        const r = await operatorEdit({
          env: ctx.env,
          cwd: ctx.cwd,
          backend,
          slug,
          identity: bottle.identity,
          component,
          text,
          notes: opts.notes ?? '',
          values: parseValues(opts.value),
          scope,
          ask: svc.interactive ? (q) => svc.ui.secret(q) : undefined,
        });
        return {
          json: { slug, component, ...r },
          text: [
            r.diff,
            `${slug}: ${name} ${r.applied === 'bottle-file' ? 'changed and saved to the bottle file' : 'changed'}; ${r.notes.join('; ')}`,
            `  audit: ${r.auditLog}`,
          ],
        };
      }),
    );
}
