import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, LaunchSpec } from '../backend/backend.js';
import { ensureImage } from '../backend/docker/build.js';
import { EGRESS_ALIAS, EGRESS_PORT } from '../backend/docker/docker-backend.js';
import { egressImageRecipe, SIDECAR_LINK_ARGV } from '../backend/docker/egress-image.js';
import { imageId } from '../backend/docker/health.js';
import { EnvironmentError, InterruptedError } from '../errors.js';
import { botBottleHome } from '../paths.js';
import type { BottlePlan } from '../plan/schema.js';
import { agentCommand } from '../providers/command.js';
import { providerGuestSetup } from '../providers/guest-config.js';
import { agentImageRecipe } from '../providers/recipe.js';
import { GUEST_HOME, GUEST_USER, GUEST_WORKSPACE, PROVIDER_INFO } from '../providers/registry.js';
import { CleanupStack } from '../util/cleanup.js';
import { gitToplevel, run } from '../util/exec.js';
import { stageHome, tarDirectory, tarWorkspace } from './provision.js';
import { loadSaved, newIdentity, removeSavedState, saveBottle, type SavedBottle } from './state.js';
import { resolveEnv, resolveRoutes, type SecretAsker } from './values.js';
import { assertPlanTrusted } from '../trust/entries.js';
import { configurePayload, readCaPems } from './egress.js';
import { teardownBottle } from './egress-archive.js';
import { createCa } from '../egress/ca.js';
import { bringWorkHome, type WorkHomeResult } from './work-home.js';
import { wrapAgentArgv } from './agent-process.js';
import { startControlServer } from './control-server.js';
import { keepLinked, type KeptLink } from './engine-link.js';
import { superviseRelay } from './supervise-link.js';
import { freezeBottle, killBottle } from './enforcement.js';
import { openLedger } from '../ledger/open.js';
import { applyChanges, loadChanges } from '../supervise/changes.js';
import {
  mcpRegistration,
  prepareSuperviseDirs,
  publishCurrentConfig,
  superviseTimeoutMs,
  writeCurrentConfig,
  type CurrentConfig,
} from '../supervise/host.js';

/**
 * The launch core shared by `start` and `resume`. The process running it is
 * the bottle's controller: it creates the bottle, runs the agent on the
 * caller's terminal (or headless), and when the agent exits brings the work
 * home as a git branch, saves the bottle for `resume`, and tears it down.
 * Whatever happens after the first docker object exists, including Ctrl-C,
 * ends in a teardown.
 */

export interface SessionRequest {
  plan: BottlePlan;
  backend: Backend;
  env: NodeJS.ProcessEnv;
  /** Literal `env` values (the plan holds none). */
  literals: ReadonlyMap<string, string>;
  /** The agent file's Markdown body. */
  agentPrompt: string;
  /** Run one prompt non-interactively; the CLI exits when it is done. */
  headlessPrompt: string | undefined;
  /** Attach the caller's terminal to the agent. */
  tty: boolean;
  /** Capture the agent's stdout into the launch record instead of passing it through. */
  captureOutput: boolean;
  /** Continue a saved bottle instead of starting from the recipe image. */
  resume: SavedBottle | undefined;
  ask: SecretAsker | undefined;
  progress: (line: string) => void;
  /** Run the supervise sidecar (MCP tools for asking the operator for access). */
  supervise: boolean;
}

export interface LaunchRecord {
  outcome: 'ended' | 'frozen' | 'removed';
  slug: string;
  label: string;
  identity: string;
  agent: string;
  provider: string;
  bottles: string[];
  runtime: string;
  exitCode: number;
  branch: string | null;
  commits: number;
  committedLeftovers: boolean;
  workNote: string;
  savedImage: string | null;
  resumeCommand: string | null;
  startedAt: string;
  endedAt: string;
  /** Seconds spent in each phase. */
  timings: Record<string, number>;
  /** Secrets redacted from the agent's LLM requests in this run, by kind. */
  redactions: Record<string, number>;
  output?: string;
}

async function hostRepo(workspace: string): Promise<{ repo: string | null; base: string | null }> {
  const repo = gitToplevel(workspace);
  if (repo === undefined) return { repo: null, base: null };
  const head = await run('git', ['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd: repo });
  return { repo, base: head.code === 0 ? head.stdout.trim() : null };
}

/**
 * Register the MCP server in the agent CLI's own config. Only a resumed
 * bottle's home can hold an earlier entry, so only a resume removes one
 * first (each step starts the CLI in the container: a second or so).
 */
async function registerSupervise(
  backend: Backend,
  slug: string,
  provider: BottlePlan['agent']['provider'],
  opts: { on: boolean; resumed: boolean },
): Promise<void> {
  const reg = mcpRegistration(provider);
  if (reg === undefined) return;
  const quiet = { user: GUEST_USER, stdout: 'pipe', stderr: 'pipe' } as const;
  if (opts.resumed) await backend.exec(slug, reg.remove, quiet);
  if (!opts.on) return;
  const errs: Buffer[] = [];
  const r = await backend.exec(slug, reg.add, { ...quiet, onStderr: (c) => errs.push(c) });
  if (r.code !== 0) {
    throw new EnvironmentError(
      `registering the supervise MCP server with ${provider} failed (exit ${r.code})`,
      Buffer.concat(errs).toString('utf8').trim().slice(0, 500),
    );
  }
}

/** No metered call may leave before the controller admits it: wait for the sidecar's hello. */
async function linkedWithin(linked: Promise<void>, slug: string, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => {
      resolve('late');
    }, ms);
  });
  const r = await Promise.race([linked, late]);
  clearTimeout(timer);
  if (r === 'late') {
    throw new EnvironmentError(
      `the egress sidecar of ${slug} did not link to its controller within ${ms / 1000} s`,
      'the engine may not allow `exec` into containers; `bot-bottle doctor` checks it',
    );
  }
}

export async function runSession(req: SessionRequest): Promise<LaunchRecord> {
  const { backend, progress } = req;
  // A resumed bottle starts with the access changes approved while it ran.
  const changes = req.resume === undefined ? undefined : loadChanges(req.env, req.resume.identity);
  const plan = changes === undefined ? req.plan : applyChanges(req.plan, changes);
  const timings: Record<string, number> = {};
  let mark = Date.now();
  const lap = (name: string): void => {
    const now = Date.now();
    timings[name] = (now - mark) / 1000;
    mark = now;
  };
  const started = new Date();
  const slug = plan.slug;
  const identity = req.resume?.identity ?? newIdentity(slug, started);
  const logDir = join(botBottleHome(req.env), 'logs');

  // Everything that can fail without creating anything comes first.
  assertPlanTrusted(plan);
  await backend.preflight(plan.runtime.name);
  const userEnv = await resolveEnv(plan, req.literals, req.env, req.ask);
  const workspace = plan.mounts.find((m) => m.target === GUEST_WORKSPACE)?.source ?? process.cwd();
  const { repo, base } =
    req.resume === undefined
      ? await hostRepo(workspace)
      : { repo: req.resume.repo, base: req.resume.baseCommit };
  const routeValues = await resolveRoutes(plan, req.literals, req.env, req.ask);
  // A fresh CA per launch (resume included); its key goes to the sidecar's tmpfs only.
  const ca = await createCa(slug);
  const payload = configurePayload(plan, ca, routeValues);
  const superviseTimeout = req.supervise ? superviseTimeoutMs(req.env) : undefined;
  lap('prepare');

  const onBuild = (line: string): void => {
    progress(line);
  };
  let agentImage: string;
  if (req.resume !== undefined) {
    agentImage = req.resume.image;
    if ((await imageId(agentImage)) === undefined) {
      throw new EnvironmentError(
        `the saved image ${agentImage} of ${identity} is gone`,
        `\`bot-bottle rm ${identity}\` forgets it`,
      );
    }
  } else {
    const recipe = agentImageRecipe({
      provider: plan.agent.provider,
      base: plan.image.base,
      apt: plan.image.apt,
      dockerfile: plan.image.dockerfile,
      extraCaPems: readCaPems(plan),
    });
    agentImage = (await ensureImage(recipe, { logDir, onProgress: onBuild })).tag;
  }
  const egressImage = (
    await ensureImage(egressImageRecipe(plan.image.base), { logDir, onProgress: onBuild })
  ).tag;
  lap('images');

  const proxyUrl = `http://${EGRESS_ALIAS}:${EGRESS_PORT}`;
  const guest = providerGuestSetup(plan, proxyUrl, superviseTimeout);
  const spec: LaunchSpec = {
    slug,
    label: plan.label,
    agent: plan.agent.name,
    provider: plan.agent.provider,
    bottles: plan.bottles.map((b) => b.name),
    identity,
    startedAt: started.toISOString(),
    runtime: plan.runtime.name,
    agentImage,
    egressImage,
    agentEnv: { ...userEnv, ...guest.env, BOT_BOTTLE: '1', BOT_BOTTLE_SLUG: slug },
  };

  const savedBase = (): Omit<
    SavedBottle,
    'image' | 'reason' | 'savedAt' | 'branch' | 'exitCode'
  > => ({
    identity,
    slug,
    label: plan.label,
    agent: plan.agent.name,
    provider: plan.agent.provider,
    bottles: spec.bottles.slice(),
    color: plan.color,
    startedAt: spec.startedAt,
    repo,
    baseCommit: base,
    plan,
  });

  let interrupted: NodeJS.Signals | undefined;
  let teardownRunning: Promise<unknown> | undefined;
  // Closed before the bottle is removed, so their end is not reported as a drop.
  const links: KeptLink[] = [];
  const stopLinks = async (): Promise<void> => {
    await Promise.all(links.splice(0).map((l) => l.stop()));
  };
  const teardown = (): Promise<unknown> =>
    stopLinks()
      .then(() => teardownBottle(backend, req.env, slug, identity, progress))
      .catch((e: unknown) => {
        progress(`teardown of ${slug} failed: ${e instanceof Error ? e.message : String(e)}`);
      });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted !== undefined) return;
    interrupted = signal;
    progress(`${signal}: tearing down ${slug}`);
    // Removing the containers also ends a running agent command.
    teardownRunning = teardown();
  };
  const checkpoint = (): void => {
    if (interrupted !== undefined) throw new InterruptedError(interrupted);
  };
  // Every resource and handler is taken inside the try and released by the
  // finally in reverse, so a throw at any point gives all of them back.
  const cleanup = new CleanupStack();
  try {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    cleanup.defer('signal handlers', () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
    const ledger = openLedger(req.env);
    cleanup.defer('the ledger', () => ledger.close());
    // The sidecar's link to this process: budgets, the ledger and cutoff live here.
    const control = startControlServer({
      env: req.env,
      ledger,
      plan,
      identity,
      startedAt: spec.startedAt,
      log: progress,
      enforce: async ({ policy }) => {
        await stopLinks();
        if (policy === 'freeze') {
          const image = await freezeBottle(backend, req.env, slug, identity, progress);
          progress(`froze ${slug} as ${identity} (image ${image})`);
        } else if (policy === 'kill') {
          await killBottle(backend, req.env, slug, identity, progress);
          progress(`killed ${slug}: removed without saving`);
        }
      },
    });
    cleanup.defer('the control server', () => control.close());
    let currentConfig: CurrentConfig | undefined;
    let queue: { queueDir: string; configDir: string } | undefined;
    if (superviseTimeout !== undefined) {
      queue = prepareSuperviseDirs(req.env, slug);
      currentConfig = {
        policy: payload.policy,
        image: {
          lines: [...plan.image.dockerfile, ...(changes?.imageLines ?? [])],
          apt: plan.image.apt,
        },
      };
      writeCurrentConfig(req.env, slug, currentConfig);
    }
    await backend.launch(
      {
        ...spec,
        ...(superviseTimeout === undefined ? {} : { supervise: { timeoutMs: superviseTimeout } }),
      },
      progress,
    );
    checkpoint();
    // Every channel to the bottle goes through the engine: these links are
    // `exec` streams into the sidecars, kept open (and reopened) until teardown.
    links.push(
      keepLinked({
        open: () => backend.openStream(slug, 'egress', SIDECAR_LINK_ARGV.egress),
        server: control,
        what: `the egress sidecar of ${slug}`,
        log: progress,
      }),
    );
    if (queue !== undefined && superviseTimeout !== undefined) {
      const relay = superviseRelay({
        slug,
        queueDir: queue.queueDir,
        currentConfigDir: queue.configDir,
        timeoutMs: superviseTimeout,
        onBad: progress,
      });
      cleanup.defer('the supervise queue relay', () => relay.close());
      links.push(
        keepLinked({
          open: () => backend.openStream(slug, 'supervise', SIDECAR_LINK_ARGV.supervise),
          server: relay,
          what: `the supervise sidecar of ${slug}`,
          log: progress,
        }),
      );
    }
    // Released first: the links stop before the servers they feed close.
    cleanup.defer('the links to the sidecars', stopLinks);
    // Independent: the proxy gets its policy and secrets while the agent
    // learns the CA and the config in force.
    const [reply] = await Promise.all([
      backend.egressControl(slug, 'configure', JSON.stringify(payload)),
      backend.trustCa(slug, ca.certPem),
      currentConfig === undefined
        ? undefined
        : publishCurrentConfig(backend, req.env, slug, currentConfig),
    ]);
    if (!reply.ok) {
      throw new EnvironmentError(
        `the egress proxy of ${slug} refused its configuration: ${reply.error}`,
      );
    }
    checkpoint();
    lap('containers');
    // Written now so `bot-bottle freeze` (another process) can save this bottle with its plan.
    saveBottle(req.env, {
      ...savedBase(),
      image: req.resume?.image ?? agentImage,
      reason: 'running',
      savedAt: new Date().toISOString(),
      branch: req.resume?.branch ?? null,
      exitCode: null,
    });
    if (req.resume === undefined) {
      progress(`copying the workspace ${workspace} to ${GUEST_WORKSPACE}`);
      const ws = await tarWorkspace(workspace);
      await Promise.all([backend.copyIn(slug, ws.stream, GUEST_WORKSPACE), ws.done]);
      checkpoint();
      const homeDir = stageHome({ plan, prompt: req.agentPrompt, providerFiles: guest.files });
      cleanup.defer('the staged home', () => {
        rmSync(homeDir, { recursive: true, force: true });
      });
      const home = tarDirectory(homeDir);
      await Promise.all([backend.copyIn(slug, home.stream, GUEST_HOME), home.done]);
      checkpoint();
    }
    await registerSupervise(backend, slug, plan.agent.provider, {
      on: superviseTimeout !== undefined,
      resumed: req.resume !== undefined,
    });
    lap('provision');
    await backend.waitForEgress(slug, 30_000);
    await linkedWithin(control.linked(), slug, 30_000);
    checkpoint();
    lap('egress-ready');

    const command = agentCommand(plan.agent.provider, {
      headless: req.headlessPrompt === undefined ? undefined : { prompt: req.headlessPrompt },
      model: plan.agent.model ?? undefined,
      resume: req.resume !== undefined,
      superviseTimeoutMs: superviseTimeout,
    });
    progress(
      `${PROVIDER_INFO[plan.agent.provider].title} is running in bottle ${slug}` +
        (req.tty ? '' : ' (headless)'),
    );
    const out: Buffer[] = [];
    control.armed();
    const r = await backend.exec(slug, wrapAgentArgv(command.argv), {
      tty: req.tty,
      stdin: req.tty ? 'inherit' : 'ignore',
      ...(command.stdin === undefined ? {} : { input: command.stdin }),
      stdout: req.captureOutput ? 'pipe' : 'inherit',
      stderr: 'inherit',
      user: GUEST_USER,
      workdir: GUEST_WORKSPACE,
      onStdout: (c) => out.push(c),
    });
    // A policy fired while the agent ran (freeze, kill) finishes before anything else.
    control.disarmed();
    await control.idle();
    checkpoint();
    lap('agent');
    const exitCode = r.code;
    const output = req.captureOutput ? Buffer.concat(out).toString('utf8') : undefined;
    const link = control;

    const record = (
      outcome: LaunchRecord['outcome'],
      work: WorkHomeResult | undefined,
      savedImage: string | null,
    ): LaunchRecord => ({
      outcome,
      slug,
      label: plan.label,
      identity,
      agent: plan.agent.name,
      provider: plan.agent.provider,
      bottles: spec.bottles.slice(),
      runtime: plan.runtime.name,
      exitCode,
      branch: work?.branch ?? null,
      commits: work?.commits ?? 0,
      committedLeftovers: work?.committedLeftovers ?? false,
      workNote: work?.note ?? '',
      savedImage,
      resumeCommand: savedImage === null ? null : `bot-bottle resume ${identity}`,
      startedAt: spec.startedAt,
      endedAt: new Date().toISOString(),
      timings,
      redactions: link.redactions(),
      ...(output === undefined ? {} : { output }),
    });

    // `bot-bottle freeze` records the freeze before it removes the bottle,
    // and the agent command can end before the removal is visible.
    const saved = loadSaved(req.env, identity);
    if (saved?.reason === 'frozen') return record('frozen', undefined, saved.image);
    if (!(await backend.exists(slug))) {
      await teardown();
      // Removed under the controller (kill, prune): nothing remains to resume.
      removeSavedState(req.env, identity);
      return record('removed', undefined, null);
    }

    progress('bringing the work home');
    const work = await bringWorkHome(backend, slug, {
      repo,
      baseCommit: base,
      message: `bot-bottle: uncommitted work at the end of session ${slug}`,
    });
    checkpoint();
    lap('work-home');

    const previous = req.resume === undefined ? undefined : await imageId(req.resume.image);
    const savedImage = await backend.freeze(slug, identity);
    saveBottle(req.env, {
      ...savedBase(),
      image: savedImage,
      reason: 'ended',
      savedAt: new Date().toISOString(),
      branch: work.branch ?? req.resume?.branch ?? null,
      exitCode,
    });
    // A resumed bottle's older layer set is replaced by the new save.
    if (previous !== undefined && previous !== (await imageId(savedImage))) {
      await backend.removeSaved(previous).catch(() => undefined);
    }
    lap('save');
    await teardown();
    lap('teardown');
    return record('ended', work, savedImage);
  } catch (e) {
    if (teardownRunning !== undefined) await teardownRunning;
    await teardown();
    // A failed launch leaves no saved bottle behind; a failed resume keeps the one it had.
    if (req.resume !== undefined) saveBottle(req.env, req.resume);
    else removeSavedState(req.env, identity);
    if (interrupted !== undefined && !(e instanceof InterruptedError))
      throw new InterruptedError(interrupted);
    throw e;
  } finally {
    for (const failure of await cleanup.release()) progress(`releasing ${failure} failed`);
  }
}
