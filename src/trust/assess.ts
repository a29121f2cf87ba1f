import { BotBottleError, ExitCode } from '../errors.js';
import { findRepoRoot, loadConfig, type ConfigIndex, type LoadOptions } from '../manifest/load.js';
import { botBottleHome } from '../paths.js';
import { layerDigest, type LayerDigest, type LayerEntry } from './digest.js';
import { trustDigest } from './inputs.js';
import { realRoot } from './root.js';
import { readTrustRecord, writeTrustRecord, type TrustRecord } from './store.js';

/**
 * Whether the repository layer may act on the host. The home layer is the
 * user's own and always may; a repository layer may when the user has
 * trusted exactly its current content (`bot-bottle trust`).
 */
export type TrustState =
  /** No repository layer: everything comes from the home layer. */
  | 'none'
  /** Trusted, and unchanged since. */
  | 'trusted'
  /** Never trusted (or its record is unusable, or it cannot be trusted: see `problem`). */
  | 'untrusted'
  /** Trusted once, changed since: a merged branch, a pull, an edit. */
  | 'changed';

export interface LayerChange {
  path: string;
  change: 'added' | 'removed' | 'modified';
}

export interface TrustAssessment {
  /** The repository root (its real path: the key of the trust record), or null. */
  repoRoot: string | null;
  state: TrustState;
  /** Digest of the layer as it is now; null without a layer or when it cannot be hashed. */
  digest: string | null;
  /** Why the layer cannot be trusted as it is, or why the record was not usable. */
  problem: string | null;
  trustedAt: string | null;
  /** What changed since it was trusted (state `changed`). */
  changes: LayerChange[];
  /** The layer's entries now, as a trust record would hold them. */
  entries: LayerEntry[];
}

export function diffEntries(
  before: readonly LayerEntry[],
  after: readonly LayerEntry[],
): LayerChange[] {
  const old = new Map(before.map((e) => [e.path, e]));
  const out: LayerChange[] = [];
  for (const e of after) {
    const was = old.get(e.path);
    if (was === undefined) out.push({ path: e.path, change: 'added' });
    else if (was.kind !== e.kind || was.sha256 !== e.sha256)
      out.push({ path: e.path, change: 'modified' });
    old.delete(e.path);
  }
  for (const e of old.values()) out.push({ path: e.path, change: 'removed' });
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The decision, from the layer as it is and the stored record. */
export function decideTrust(
  root: string,
  current: LayerDigest,
  stored: { record: TrustRecord | undefined; problem?: string | null },
): TrustAssessment {
  const base = { repoRoot: root, changes: [] as LayerChange[] };
  if (!current.ok) {
    return {
      ...base,
      state: stored.record === undefined ? 'untrusted' : 'changed',
      digest: null,
      problem: `${current.path} ${current.problem}`,
      trustedAt: stored.record?.trustedAt ?? null,
      entries: [],
    };
  }
  const now = { digest: current.digest, entries: current.entries };
  const rec = stored.record;
  if (rec === undefined) {
    return {
      ...base,
      ...now,
      state: 'untrusted',
      problem: stored.problem ?? null,
      trustedAt: null,
    };
  }
  if (rec.digest === current.digest) {
    return { ...base, ...now, state: 'trusted', problem: null, trustedAt: rec.trustedAt };
  }
  return {
    ...base,
    ...now,
    state: 'changed',
    problem: null,
    trustedAt: rec.trustedAt,
    changes: diffEntries(rec.entries, current.entries),
  };
}

const NO_LAYER: TrustAssessment = {
  repoRoot: null,
  state: 'none',
  digest: null,
  problem: null,
  trustedAt: null,
  changes: [],
  entries: [],
};

export { realRoot };

/**
 * Assess the repository layer at `root` (as found by the loader) against
 * the user's record. With the loaded `index`, the files its commands name
 * are part of the digest too (see inputs.ts).
 */
export function assessTrust(
  env: NodeJS.ProcessEnv,
  root: string | undefined,
  index?: ConfigIndex,
  cwd?: string,
): TrustAssessment {
  if (root === undefined) return NO_LAYER;
  const real = realRoot(root);
  return decideTrust(real, trustDigest(real, index, cwd), readTrustRecord(env, real));
}

/**
 * Load the configuration and assess the repository layer around it. The
 * layer is hashed before and after loading: if it changed in between, what
 * was loaded is not what was hashed, so it is not trusted.
 */
export function loadConfigWithTrust(opts: LoadOptions): {
  index: ConfigIndex;
  trust: TrustAssessment;
} {
  const env = opts.env ?? process.env;
  const found = findRepoRoot(opts.cwd, botBottleHome(env));
  const before = found === undefined ? undefined : layerDigest(realRoot(found));
  const index = loadConfig(opts);
  const real = index.repoRoot === undefined ? undefined : realRoot(index.repoRoot);
  const again = real === undefined ? undefined : layerDigest(real);
  // The layer as hashed after loading is also the one judged: it is walked once more, not twice.
  const trust =
    real === undefined || again === undefined
      ? NO_LAYER
      : decideTrust(real, trustDigest(real, index, opts.cwd, again), readTrustRecord(env, real));
  const same =
    found === index.repoRoot &&
    (before === undefined || again === undefined
      ? before === again
      : before.ok && again.ok && before.digest === again.digest);
  const unhashable = before !== undefined && !before.ok && again !== undefined && !again.ok;
  if (!same && !unhashable) {
    return {
      index,
      trust: {
        ...trust,
        state: trust.state === 'trusted' ? 'changed' : trust.state,
        problem: 'the repository layer changed while it was being read',
      },
    };
  }
  return { index, trust };
}

/** Refused because an untrusted repository layer would act on the host. Exit code 2. */
export class TrustError extends BotBottleError {
  constructor(message: string, hint: string, data: Record<string, unknown>) {
    super(message, { exitCode: ExitCode.config, hint, data });
  }
}

/** One line on the layer's state, for messages. */
export function describeTrust(
  t: Pick<TrustAssessment, 'state' | 'trustedAt' | 'problem' | 'changes'>,
): string {
  const why = t.problem === null ? '' : `; ${t.problem}`;
  switch (t.state) {
    case 'none':
      return 'no repository layer';
    case 'trusted':
      return `trusted (since ${t.trustedAt ?? '?'})`;
    case 'untrusted':
      return `not trusted${why}`;
    case 'changed': {
      const n = t.changes.length;
      const what = n === 0 ? '' : `: ${t.changes.map((c) => `${c.path} ${c.change}`).join(', ')}`;
      const when = t.trustedAt === null ? '' : ` (${t.trustedAt})`;
      return `changed since it was trusted${when}${what}${why}`;
    }
  }
}

/** Trust the layer as assessed (the content the user was shown), not as it may be by now. */
export function recordTrust(
  env: NodeJS.ProcessEnv,
  t: TrustAssessment,
  now: Date = new Date(),
): { path: string; record: TrustRecord } {
  if (t.repoRoot === null) {
    throw new TrustError(
      'there is no repository layer here to trust (no .bot-bottle/ or bot-bottle.json at or above this directory)',
      'your own layer (~/.bot-bottle) is always trusted',
      {},
    );
  }
  if (t.digest === null || t.problem !== null) {
    throw new TrustError(
      `cannot trust the repository layer at ${t.repoRoot}: ${t.problem ?? 'it cannot be hashed'}`,
      'fix that, then run `bot-bottle trust` again',
      { repoRoot: t.repoRoot },
    );
  }
  const record: TrustRecord = {
    version: 1,
    root: t.repoRoot,
    digest: t.digest,
    trustedAt: now.toISOString(),
    entries: t.entries,
  };
  return { path: writeTrustRecord(env, record), record };
}
