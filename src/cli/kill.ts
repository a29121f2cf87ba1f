import { Option } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { bottleCommand, exit, onBottle, operate, type Program } from './command.js';
import type { CliContext } from './context.js';
import { backendName, services } from './services.js';
import { killOnCluster } from './start-cluster.js';

/** `bot-bottle kill <slug>`: remove a running bottle at once, keeping nothing. */
export function register(program: Program, ctx: CliContext): void {
  bottleCommand(
    program,
    'kill',
    'remove a running bottle at once, saving nothing (stop or freeze keep its work)',
  )
    .option('--json', 'print the outcome as JSON')
    .addOption(
      new Option(
        '--backend <name>',
        "kubernetes: delete the bottle's objects from the cluster by its labels (kubectl delete -l)",
      ).choices(['kubernetes'] as const),
    )
    .option('--k8s-namespace <ns>', 'kubernetes: the namespace the bottle is in (default: default)')
    .action(async (slug, opts) => {
      const onCluster = backendName(ctx, opts.backend) === 'kubernetes';
      if (!onCluster && opts.k8sNamespace !== undefined) {
        throw new UsageError('--k8s-namespace is for --backend kubernetes');
      }
      if (onCluster) {
        exit(
          await killOnCluster(ctx, services(ctx), slug, {
            namespace: opts.k8sNamespace,
            json: opts.json === true,
          }),
        );
      }
      await onBottle(ctx, slug, opts, async (t) => {
        await operate(ctx, t, 'kill', '`bot-bottle kill`');
        return {
          json: { slug, identity: t.bottle.identity, outcome: 'killed' },
          text: `killed ${slug}: its containers and networks are gone and nothing was saved`,
        };
      });
    });
}
