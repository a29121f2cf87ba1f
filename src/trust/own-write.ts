import { relative } from 'node:path';
import { REPO_CONFIG_DIR } from '../paths.js';
import { decideTrust, realRoot, recordTrust } from './assess.js';
import { loadConfig } from '../manifest/load.js';
import { inLayer, type LayerDigest, type LayerEntry } from './digest.js';
import { trustDigest } from './inputs.js';
import { readTrustRecord } from './store.js';

/**
 * bot-bottle's own writes into a repository layer (`init`, an approved
 * change saved into a bottle file) keep or give trust for what they wrote,
 * and for nothing else. After the write the layer is trusted only if every
 * entry is one the write produced (or a directory holding one) or is
 * unchanged content that was trusted before, and nothing trusted vanished.
 */

/** The digest as a launch from the root would compute it; the layer alone if it does not load. */
function digestNow(env: NodeJS.ProcessEnv, root: string): LayerDigest {
  let index;
  try {
    index = loadConfig({ cwd: root, env });
  } catch {
    index = undefined;
  }
  return trustDigest(root, index, root);
}

function sameEntry(a: LayerEntry | undefined, b: LayerEntry): boolean {
  if (a === undefined) return false;
  return a.kind === b.kind && a.sha256 === b.sha256;
}

export type OwnWriteTrust = { trusted: true; digest: string } | { trusted: false; why: string };

export function trustAfterOwnWrite(
  env: NodeJS.ProcessEnv,
  root: string,
  /** Paths written, relative to the root (`.bot-bottle/agents/claude.md`). */
  paths: readonly string[],
  write: () => void,
  opts: {
    /** The write replaced the files whole (init); otherwise it edited them and their rest must have been trusted. */
    whole: boolean;
    who: string;
  },
): OwnWriteTrust {
  const real = realRoot(root);
  const before = digestNow(env, real);
  const wasTrusted =
    before.ok && decideTrust(real, before, readTrustRecord(env, real)).state === 'trusted';
  write();
  if (!opts.whole && !wasTrusted) {
    return { trusted: false, why: 'the layer was not trusted before this change' };
  }
  const after = digestNow(env, real);
  if (!after.ok) return { trusted: false, why: `${after.path} ${after.problem}` };
  const ours = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) ours.add(parts.slice(0, i).join('/'));
  }
  const prior = new Map<string, LayerEntry>(
    before.ok ? before.entries.map((e) => [e.path, e]) : [],
  );
  const foreign = after.entries.filter((e) => {
    if (ours.has(e.path)) return false;
    if (!wasTrusted) return true;
    return !sameEntry(prior.get(e.path), e);
  });
  const now = new Set(after.entries.map((e) => e.path));
  const vanished = wasTrusted ? [...prior.keys()].filter((p) => !now.has(p)) : [];
  const odd = [...foreign.map((e) => e.path), ...vanished];
  if (odd.length > 0) {
    return {
      trusted: false,
      why: `the layer also holds changes ${opts.who} did not make (${odd.slice(0, 3).join(', ')}${odd.length > 3 ? ', ...' : ''})`,
    };
  }
  const t = decideTrust(real, after, { record: undefined });
  return { trusted: true, digest: recordTrust(env, t).record.digest };
}

/** `init`: the files it writes under `.bot-bottle/` at `root`. */
export function trustAfterInit(
  env: NodeJS.ProcessEnv,
  root: string,
  files: readonly string[],
  write: () => void,
): OwnWriteTrust {
  return trustAfterOwnWrite(
    env,
    root,
    files.map((f) => `${REPO_CONFIG_DIR}/${f}`),
    write,
    {
      whole: true,
      who: 'init',
    },
  );
}

/**
 * An approved change saved into a bottle file: a repository layer that was
 * trusted stays trusted (the operator made this change); one that was not
 * stays untrusted. A file outside any repository layer is just written.
 */
export function keepTrustAcrossEdit(
  env: NodeJS.ProcessEnv,
  repoRoot: string | null,
  file: string,
  write: () => string[],
): string[] {
  const rel = repoRoot === null ? '..' : relative(repoRoot, realRoot(file));
  if (repoRoot === null || !inLayer(rel)) return write();
  let notes: string[] = [];
  const t = trustAfterOwnWrite(
    env,
    repoRoot,
    [rel],
    () => {
      notes = write();
    },
    { whole: false, who: 'this change' },
  );
  return [
    ...notes,
    t.trusted
      ? 'the repository layer stays trusted (this change is the only one in it)'
      : `the repository layer is not trusted (${t.why}); review it and run \`bot-bottle trust\` before its next launch`,
  ];
}
