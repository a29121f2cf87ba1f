/**
 * Which saved bottles and which images may go: pure decisions over facts
 * (the saved records, the engine's images, the time), so `keep:` after a
 * session, `prune --saved` and `prune --images` decide the same way and
 * are tested without an engine.
 */

/** `settings.yml keep:`, resolved. */
export interface KeepRules {
  /** Per agent: the newest `last` saved bottles stay. */
  last?: number | undefined;
  /** Saved bottles older than this (milliseconds) go. */
  maxAgeMs?: number | undefined;
  /** `keep` (default): frozen bottles are never expired; `expire`: they count like ended ones. */
  frozen: 'keep' | 'expire';
}

/** What the decision reads of a saved bottle. */
export interface SavedFact {
  identity: string;
  agent: string;
  reason: 'running' | 'ended' | 'frozen';
  savedAt: string;
}

/** Why a saved bottle expires. */
export type ExpiryReason = 'beyond-last' | 'too-old';

export interface Expired<T extends SavedFact> {
  bottle: T;
  why: ExpiryReason;
}

/**
 * The saved bottles the rules expire, oldest first. Never expired: a
 * bottle still running (its record says so, or `protect` names it, e.g. the
 * engine still runs it or it was saved just now), and a frozen one unless
 * `frozen: expire`. Protected bottles still take their place among an
 * agent's newest `last`.
 */
export function expiredSaved<T extends SavedFact>(
  saved: readonly T[],
  rules: KeepRules,
  now: Date,
  protect: ReadonlySet<string> = new Set(),
): Expired<T>[] {
  const counted = saved.filter(
    (s) => s.reason === 'ended' || (s.reason === 'frozen' && rules.frozen === 'expire'),
  );
  const newestFirst = [...counted].sort(
    (a, b) => Date.parse(b.savedAt) - Date.parse(a.savedAt) || b.identity.localeCompare(a.identity),
  );
  const rank = new Map<string, number>();
  const perAgent = new Map<string, number>();
  for (const s of newestFirst) {
    const n = perAgent.get(s.agent) ?? 0;
    rank.set(s.identity, n);
    perAgent.set(s.agent, n + 1);
  }
  const out: Expired<T>[] = [];
  for (const s of [...newestFirst].reverse()) {
    if (protect.has(s.identity)) continue;
    if (rules.last !== undefined && (rank.get(s.identity) ?? 0) >= rules.last) {
      out.push({ bottle: s, why: 'beyond-last' });
    } else if (
      rules.maxAgeMs !== undefined &&
      now.getTime() - Date.parse(s.savedAt) > rules.maxAgeMs
    ) {
      out.push({ bottle: s, why: 'too-old' });
    }
  }
  return out;
}

/** An image as the engine lists it (only the facts the decision needs). */
export interface ImageFact {
  ref: string;
  /** Containers (running or not) created from it. */
  containers: number;
}

/**
 * The bot-bottle images `prune --images` removes: those in one of the
 * `repositories` bot-bottle builds (agent and sidecar images) whose tag no
 * current recipe produces (`produced`), that no container uses and that no
 * saved bottle names (`referenced`). Anything else is not ours to remove.
 */
export function unusedImages<T extends ImageFact>(
  images: readonly T[],
  facts: {
    repositories: ReadonlySet<string>;
    produced: ReadonlySet<string>;
    referenced: ReadonlySet<string>;
  },
): T[] {
  return images.filter((i) => {
    const repo = i.ref.slice(0, i.ref.lastIndexOf(':'));
    return (
      facts.repositories.has(repo) &&
      !facts.produced.has(i.ref) &&
      !facts.referenced.has(i.ref) &&
      i.containers === 0
    );
  });
}
