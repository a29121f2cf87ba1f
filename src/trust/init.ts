import { REPO_CONFIG_DIR } from '../paths.js';
import { decideTrust, realRoot, recordTrust } from './assess.js';
import { layerDigest, type LayerEntry } from './digest.js';
import { readTrustRecord } from './store.js';

function sameEntry(a: LayerEntry | undefined, b: LayerEntry): boolean {
  if (a === undefined) return false;
  return a.kind === b.kind && a.sha256 === b.sha256;
}

export type InitTrust = { trusted: true; digest: string } | { trusted: false; why: string };

/**
 * `init` trusts what it writes, and nothing else: after writing, the layer
 * is trusted only if everything in it is either a file init wrote (or a
 * directory holding one) or content that was already trusted before. A
 * repository that already held other untrusted files stays untrusted.
 */
export function trustAfterInit(
  env: NodeJS.ProcessEnv,
  root: string,
  files: readonly string[],
  write: () => void,
): InitTrust {
  const real = realRoot(root);
  const before = layerDigest(real);
  const wasTrusted =
    before.ok && decideTrust(real, before, readTrustRecord(env, real)).state === 'trusted';
  write();
  const after = layerDigest(real);
  if (!after.ok) return { trusted: false, why: `${after.path} ${after.problem}` };
  const ours = new Set<string>([REPO_CONFIG_DIR]);
  for (const f of files) {
    const parts = `${REPO_CONFIG_DIR}/${f}`.split('/');
    for (let i = 1; i <= parts.length; i++) ours.add(parts.slice(0, i).join('/'));
  }
  const prior = new Map<string, LayerEntry>(
    before.ok ? before.entries.map((e) => [e.path, e]) : [],
  );
  const foreign = after.entries.filter((e) => {
    if (ours.has(e.path)) return false;
    // Kept from before only counts as ours if the layer was trusted then.
    if (!wasTrusted) return true;
    return !sameEntry(prior.get(e.path), e);
  });
  if (foreign.length > 0) {
    return {
      trusted: false,
      why: `the layer also holds ${foreign
        .slice(0, 3)
        .map((e) => e.path)
        .join(', ')}${foreign.length > 3 ? ', ...' : ''}, which init did not write`,
    };
  }
  const t = decideTrust(real, after, { record: undefined });
  return { trusted: true, digest: recordTrust(env, t).record.digest };
}
