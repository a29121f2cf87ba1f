import type { Backend } from '../backend/backend.js';
import type { EgressPolicyConfig, Route } from '../egress/config.js';
import { routeSecretId } from '../controller/egress.js';
import { currentPolicy, updatePolicy } from '../controller/egress-live.js';
import { routeHeaderValue, resolveSource, type SecretAsker } from '../controller/values.js';
import { firstMatch } from '../egress/host-match.js';
import { UsageError } from '../errors.js';
import { classifyValue, SentinelError } from '../manifest/sentinel.js';
import type { BottlePlan } from '../plan/schema.js';
import { loadChanges, saveChanges } from './changes.js';
import type { Component } from './audit.js';
import {
  parseDockerfileAdditions,
  parseEgressFile,
  parseRoutesFile,
  type RouteSpec,
} from './files.js';
import { publishCurrentConfig } from './host.js';
import { saveToBottleFile } from './bottle-file.js';
import { keepTrustAcrossEdit } from '../trust/own-write.js';

/**
 * Make an approved change real. Egress rules and credential routes change
 * live in the bottle's egress proxy (open connections stay), are recorded
 * in the bottle's saved state so `resume` keeps them, and with scope
 * 'bottle-file' are also written into the bottle's own file. Capability
 * lines become pending image lines, built in by a rebuild now or at the
 * next resume.
 */

export type Scope = 'run' | 'bottle-file';
export type RebuildWhen = 'now' | 'next-launch';

export interface ApplyRequest {
  env: NodeJS.ProcessEnv;
  cwd: string;
  backend: Backend;
  slug: string;
  identity: string;
  plan: BottlePlan;
  component: Component;
  /** The file as it should be in force (for capability: the lines to add). */
  finalText: string;
  /** `host header` -> value source (env:NAME, file:PATH, cmd:COMMAND, ?) for new route headers. */
  values: ReadonlyMap<string, string>;
  scope: Scope;
  rebuild: RebuildWhen;
  ask: SecretAsker | undefined;
}

export interface ApplyResult {
  /** How it took effect, for the audit log: run, bottle-file, rebuild-now, next-launch. */
  applied: string;
  /** Said to the agent with the operator's notes, and to the operator. */
  notes: string[];
  /** Set when the bottle must be frozen for a rebuild now. */
  freeze: boolean;
}

type PlanRoute = BottlePlan['egress']['routes'][number];

export async function applyChange(req: ApplyRequest): Promise<ApplyResult> {
  switch (req.component) {
    case 'egress':
      return applyEgress(req);
    case 'routes':
      return applyRoutes(req);
    case 'capability':
      return applyCapability(req);
  }
}

async function afterPolicy(
  req: ApplyRequest,
  after: EgressPolicyConfig,
  routes: PlanRoute[] | undefined,
  before: EgressPolicyConfig,
): Promise<ApplyResult> {
  await publishCurrentConfig(req.backend, req.env, req.slug, { policy: after });
  saveChanges(req.env, req.identity, (c) => ({
    ...c,
    egress: {
      allow: after.allow,
      deny: after.deny,
      passthrough: after.passthrough,
      rules: after.rules,
    },
    ...(routes === undefined ? {} : { routes }),
  }));
  const notes = [
    `in force now (policy revision ${after.revision}); kept when the bottle is resumed`,
  ];
  if (req.scope === 'bottle-file') {
    const file = req.plan.bottles.at(-1)?.chain.at(-1)?.file ?? '';
    notes.push(
      // A plan saved by an older version has no trust section.
      ...keepTrustAcrossEdit(
        req.env,
        (req.plan.trust as BottlePlan['trust'] | undefined)?.repoRoot ?? null,
        file,
        () => saveToBottleFile(req.plan, req.component, before, after, routes ?? []),
      ),
    );
    return { applied: 'bottle-file', notes, freeze: false };
  }
  return { applied: 'run', notes, freeze: false };
}

async function applyEgress(req: ApplyRequest): Promise<ApplyResult> {
  const f = parseEgressFile(req.finalText);
  const { before, after } = await updatePolicy(req.backend, req.slug, (p) => ({
    ...p,
    allow: f.allow,
    deny: f.deny,
    passthrough: f.passthrough,
    rules: f.rules,
  }));
  return afterPolicy(req, after, undefined, before);
}

function sourceFor(req: ApplyRequest, host: string, name: string): string {
  const raw = req.values.get(`${host} ${name}`);
  if (raw !== undefined) return raw;
  throw new UsageError(
    `the route for ${host} needs a value for header ${name}, chosen by you`,
    `answer with --value '${host} ${name}=env:NAME' (or file:PATH, cmd:COMMAND, ? to be asked)`,
  );
}

async function applyRoutes(req: ApplyRequest): Promise<ApplyResult> {
  const specs: RouteSpec[] = parseRoutesFile(req.finalText);
  const current = await currentPolicy(req.backend, req.slug);
  // Where each kept header's value comes from: earlier approvals, else the bottle's plan.
  const known = loadChanges(req.env, req.identity).routes ?? req.plan.egress.routes;
  const planRoutes = new Map(known.map((r) => [r.host, r]));
  const values: Record<string, string> = {};
  const routes: Route[] = [];
  const persisted: PlanRoute[] = [];
  for (const spec of specs) {
    if (
      firstMatch(current.allow, spec.host) === undefined ||
      firstMatch(current.deny, spec.host) !== undefined
    ) {
      throw new UsageError(
        `${spec.host} is not allowed in bottle ${req.slug}, so a credential route for it would never be used`,
        'approve or make an egress change for the host first',
      );
    }
    const live = current.routes.find((r) => r.host === spec.host);
    const headers: PlanRoute['headers'] = [];
    for (const h of spec.headers) {
      const kept = live?.headers.find((x) => x.name === h.name);
      const given = req.values.has(`${spec.host} ${h.name}`);
      const fromPlan = planRoutes
        .get(spec.host)
        ?.headers.find((x) => x.name.toLowerCase() === h.name);
      if (kept !== undefined && !given) {
        // Unchanged header: the proxy keeps its value.
        if (fromPlan !== undefined) headers.push(fromPlan);
        continue;
      }
      const raw = sourceFor(req, spec.host, h.name);
      let classified;
      try {
        classified = classifyValue(raw, req.cwd);
      } catch (e) {
        if (e instanceof SentinelError)
          throw new UsageError(`--value ${spec.host} ${h.name}: ${e.message}`);
        throw e;
      }
      if (classified.source.kind === 'literal') {
        throw new UsageError(
          `--value ${spec.host} ${h.name}: give where the value comes from (env:NAME, file:PATH, cmd:COMMAND or ?), not the value itself`,
          'the bottle state records the source so a resume can read the value again',
        );
      }
      const what = `route ${spec.host} header ${h.name}`;
      const secret = await resolveSource(what, classified.source, undefined, req.env, req.ask);
      values[routeSecretId(spec.host, h.name)] = routeHeaderValue(
        what,
        secret,
        h.prefix,
        h.basicUser,
      );
      headers.push({
        name: h.name,
        prefix: h.prefix ?? null,
        basicUser: h.basicUser ?? null,
        source: classified.source,
        // The operator chose this value source: it needs no repository trust.
        layer: 'operator',
        from: null,
        needsTrust: false,
      });
    }
    routes.push({
      host: spec.host,
      headers: spec.headers.map((h) => ({
        name: h.name,
        secret: routeSecretId(spec.host, h.name),
      })),
    });
    if (headers.length > 0) persisted.push({ host: spec.host, headers });
  }
  const { before, after } = await updatePolicy(
    req.backend,
    req.slug,
    (p) => ({ ...p, routes }),
    values,
  );
  return afterPolicy(req, after, persisted, before);
}

async function applyCapability(req: ApplyRequest): Promise<ApplyResult> {
  const lines = parseDockerfileAdditions(req.finalText);
  const changes = saveChanges(req.env, req.identity, (c) => ({
    ...c,
    pendingLines: [...c.pendingLines, ...lines],
    rebuild: req.rebuild,
  }));
  await publishCurrentConfig(req.backend, req.env, req.slug, {
    image: {
      lines: [...req.plan.image.dockerfile, ...changes.imageLines, ...changes.pendingLines],
      apt: req.plan.image.apt,
    },
  });
  if (req.rebuild === 'now') {
    return {
      applied: 'rebuild-now',
      notes: [
        'the bottle is being rebuilt now: this session pauses, and continues in the rebuilt bottle with the workspace kept',
      ],
      freeze: true,
    };
  }
  return {
    applied: 'next-launch',
    notes: ['approved for the image; it is built in when this bottle is next resumed'],
    freeze: false,
  };
}
