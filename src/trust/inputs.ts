import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { ConfigIndex, LoadedBottle } from '../manifest/load.js';
import { classifyValue, expandHome, type ValueSource } from '../manifest/sentinel.js';
import { byPath, digestOf, inLayer, layerDigest, pathsDigest, type LayerDigest } from './digest.js';
import { realRoot } from './root.js';

/** Every value source the repository layer's bottles declare (env and route headers). */
export function* repoValueSources(index: ConfigIndex): Generator<{
  bottle: LoadedBottle;
  what: string;
  source: ValueSource;
  routeHost?: string;
}> {
  for (const b of index.bottles.values()) {
    if (b.origin !== 'repo') continue;
    for (const [name, raw] of Object.entries(b.spec.env ?? {})) {
      yield { bottle: b, what: `env ${name}`, source: classifyValue(raw, b.baseDir).source };
    }
    for (const r of b.spec.egress?.routes ?? []) {
      for (const [name, v] of Object.entries(r.headers)) {
        const raw = typeof v === 'string' ? v : v.secret;
        yield {
          bottle: b,
          what: `route ${r.host} header ${name}`,
          source: classifyValue(raw, b.baseDir).source,
          routeHost: r.host,
        };
      }
    }
  }
}

/**
 * Files of the repository that a repository `cmd:` names, outside the layer
 * (`cmd:./scripts/token.sh`, `cmd:node tools/get.js`). The command is
 * trusted with the layer, but the script it runs is not in `.bot-bottle/`:
 * without this, a branch could change the script and keep the layer's
 * digest. So every word of the command that names an existing path inside
 * the repository is hashed with the layer. Inputs a command finds by itself
 * (`npm run` reads package.json, `make` the Makefile) are not named and not
 * covered; the documentation says to name a script instead.
 */
function repoCommands(
  index: ConfigIndex,
): { source: Extract<ValueSource, { kind: 'cmd' }>; baseDir: string }[] {
  const out: { source: Extract<ValueSource, { kind: 'cmd' }>; baseDir: string }[] = [];
  for (const { bottle, source } of repoValueSources(index)) {
    if (source.kind === 'cmd') out.push({ source, baseDir: bottle.baseDir });
  }
  return out;
}

const toRel = (root: string, abs: string): string | undefined => {
  const rel = relative(root, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
};

/**
 * Root-relative paths named by repository commands, outside the layer, that
 * exist; or the first one that goes through a symbolic link inside the
 * repository (what it runs could then change without the named path changing).
 */
export function commandInputs(
  index: ConfigIndex,
  root: string,
  cwd: string,
): { paths: string[] } | { path: string; problem: string } {
  const found = new Set<string>();
  let linked: string | undefined;
  const cwdReal = realRoot(cwd);
  for (const { source, baseDir } of repoCommands(index)) {
    const baseReal = realRoot(baseDir);
    source.argv.forEach((word, i) => {
      // The program itself is looked up on PATH unless it is written as a path.
      if (i === 0 && !word.includes('/')) return;
      const w = expandHome(word);
      const bases = isAbsolute(w) ? [''] : [root, baseReal, cwdReal];
      for (const base of bases) {
        const abs = resolve(base, w);
        if (!existsSync(abs)) continue;
        const real = realRoot(abs);
        const named = toRel(root, abs);
        if (named !== undefined && real !== abs && !inLayer(named)) linked ??= named;
        const rel = toRel(root, real);
        if (rel === undefined || inLayer(rel)) continue;
        found.add(rel);
      }
    });
  }
  if (linked !== undefined) {
    return {
      path: linked,
      problem:
        'is named by a repository command and is (or goes through) a symbolic link; name the file itself',
    };
  }
  return { paths: [...found].sort() };
}

/** The layer and the files its commands name, as one digest: what trust vouches for. */
export function trustDigest(
  root: string,
  index?: ConfigIndex,
  cwd?: string,
  /** The layer's own digest when the caller has just taken it. */
  layer: LayerDigest = layerDigest(root),
): LayerDigest {
  if (!layer.ok || index === undefined) return layer;
  const named = commandInputs(index, root, cwd ?? root);
  if (!('paths' in named)) return { ok: false, ...named };
  const inputs = pathsDigest(root, named.paths);
  if (!inputs.ok) return inputs;
  if (inputs.entries.length === 0) return layer;
  const entries = [...layer.entries, ...inputs.entries].sort(byPath);
  return { ok: true, digest: digestOf(entries), entries };
}
