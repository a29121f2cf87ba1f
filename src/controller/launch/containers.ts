import {
  EGRESS_ALIAS,
  EGRESS_PORT,
  SIDECAR_LINK_ARGV,
  type LaunchSpec,
} from '../../backend/backend.js';
import { EnvironmentError } from '../../errors.js';
import { openSpooledLedger } from '../../ledger/open.js';
import { describeLedger } from '../../ledger/where.js';
import { providerGuestSetup, type GuestSetup } from '../../providers/guest-config.js';
import {
  prepareSuperviseDirs,
  publishCurrentConfig,
  writeCurrentConfig,
  type CurrentConfig,
} from '../../supervise/host.js';
import { startControlServer } from '../control-server.js';
import { freezeBottle, killBottle } from '../enforcement.js';
import { keepLinked } from '../engine-link.js';
import { superviseRelay } from '../supervise-link.js';
import type { LaunchContext } from './context.js';

/**
 * Phase `containers`: the controller's side (ledger, control server), the
 * bottle's containers, the links into its sidecars (`exec` streams through
 * the engine), and the proxy's policy and secrets, the agent's CA and the
 * config in force.
 */

function launchSpec(ctx: LaunchContext): { spec: LaunchSpec; guest: GuestSetup } {
  const { plan } = ctx;
  const prepared = ctx.need('prepared');
  const images = ctx.need('images');
  const guest = providerGuestSetup(
    plan,
    `http://${EGRESS_ALIAS}:${EGRESS_PORT}`,
    prepared.superviseTimeout,
  );
  const spec: LaunchSpec = {
    slug: ctx.slug,
    label: plan.label,
    agent: plan.agent.name,
    provider: plan.agent.provider,
    bottles: plan.bottles.map((b) => b.name),
    identity: ctx.identity,
    startedAt: ctx.started.toISOString(),
    runtime: plan.runtime.name,
    agentImage: images.agent,
    egressImage: images.egress,
    agentEnv: { ...prepared.userEnv, ...guest.env, BOT_BOTTLE: '1', BOT_BOTTLE_SLUG: ctx.slug },
    ...(prepared.superviseTimeout === undefined
      ? {}
      : { supervise: { timeoutMs: prepared.superviseTimeout } }),
  };
  return { spec, guest };
}

const SPOOL_RETRY_MS = 3000;

/** The controller's end: the ledger and the control server that admits metered calls. */
function startController(ctx: LaunchContext, spec: LaunchSpec) {
  const { backend, env, slug, identity, progress } = ctx;
  // Writes the store does not take wait in the host's spool; this retries
  // them (and what earlier runs on the host left there) while it runs.
  const ledger = openSpooledLedger(env, { name: identity, log: progress, retryMs: SPOOL_RETRY_MS });
  void ledger.flush().catch(() => undefined);
  ctx.disposables.defer('the ledger', () => ledger.close());
  const control = startControlServer({
    env,
    ledger,
    storeName: describeLedger(env),
    plan: ctx.plan,
    identity,
    startedAt: spec.startedAt,
    log: progress,
    enforce: async ({ policy }) => {
      // A cutoff keeps the bottle (and its link: admissions are refused);
      // freeze and kill remove it, so its links are closed first.
      if (policy === 'cutoff') return;
      await ctx.stopLinks();
      if (policy === 'freeze') {
        const image = await freezeBottle(backend, env, slug, identity, progress);
        progress(`froze ${slug} as ${identity} (image ${image})`);
      } else {
        await killBottle(backend, env, slug, identity, progress);
        progress(`killed ${slug}: removed without saving`);
      }
    },
  });
  ctx.disposables.defer('the control server', () => control.close());
  return { ledger, control };
}

/** Keep `exec` links open into the sidecars until the bottle goes. */
function linkSidecars(
  ctx: LaunchContext,
  control: ReturnType<typeof startController>['control'],
  queue: ReturnType<typeof prepareSuperviseDirs> | undefined,
): void {
  const { backend, slug, progress } = ctx;
  ctx.links.push(
    keepLinked({
      open: () => backend.openStream(slug, 'egress', SIDECAR_LINK_ARGV.egress),
      server: control,
      what: `the egress sidecar of ${slug}`,
      log: progress,
    }),
  );
  const timeoutMs = ctx.need('prepared').superviseTimeout;
  if (queue !== undefined && timeoutMs !== undefined) {
    const relay = superviseRelay({
      slug,
      queueDir: queue.queueDir,
      currentConfigDir: queue.configDir,
      timeoutMs,
      onBad: progress,
    });
    ctx.disposables.defer('the supervise queue relay', () => relay.close());
    ctx.links.push(
      keepLinked({
        open: () => backend.openStream(slug, 'supervise', SIDECAR_LINK_ARGV.supervise),
        server: relay,
        what: `the supervise sidecar of ${slug}`,
        log: progress,
      }),
    );
  }
  // Released before the servers they feed close.
  ctx.disposables.defer('the links to the sidecars', () => ctx.stopLinks());
}

export async function containers(ctx: LaunchContext): Promise<void> {
  const { backend, env, plan, slug } = ctx;
  const prepared = ctx.need('prepared');
  const { spec, guest } = launchSpec(ctx);
  const { ledger, control } = startController(ctx, spec);
  let currentConfig: CurrentConfig | undefined;
  let queue: ReturnType<typeof prepareSuperviseDirs> | undefined;
  if (prepared.superviseTimeout !== undefined) {
    queue = prepareSuperviseDirs(env, slug);
    currentConfig = {
      policy: prepared.payload.policy,
      image: {
        lines: [...plan.image.dockerfile, ...(ctx.changes?.imageLines ?? [])],
        apt: plan.image.apt,
      },
    };
    writeCurrentConfig(env, slug, currentConfig);
  }
  // From here on something exists on the engine: whatever happens, it goes.
  ctx.disposables.defer('the bottle', () => ctx.teardownBottle());
  await backend.launch(spec, ctx.progress);
  ctx.checkpoint();
  linkSidecars(ctx, control, queue);
  // Independent: the proxy gets its policy and secrets while the agent
  // learns the CA and the config in force.
  const [reply] = await Promise.all([
    backend.egressControl(slug, 'configure', JSON.stringify(prepared.payload)),
    backend.trustCa(slug, prepared.ca.certPem),
    currentConfig === undefined
      ? undefined
      : publishCurrentConfig(backend, env, slug, currentConfig),
  ]);
  if (!reply.ok) {
    throw new EnvironmentError(
      `the egress proxy of ${slug} refused its configuration: ${reply.error}`,
    );
  }
  ctx.checkpoint();
  ctx.set('bottle', { spec, guest, control, ledger, currentConfig });
}
