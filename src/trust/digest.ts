import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
} from 'node:fs';
import { JSON_MANIFEST, REPO_CONFIG_DIR } from '../paths.js';

/**
 * The digest of a repository layer: every file under `.bot-bottle/` (entity
 * files, skills with everything in them, dotfiles too) and `bot-bottle.json`,
 * by relative path and content. Anything that changes what a launch would
 * load or copy changes the digest: an edit, an added or removed file, a
 * renamed skill, an emptied directory.
 *
 * Symbolic links: inside a skill directory a link is copied into the bottle
 * as a link and never followed on the host, so its target text is what
 * enters and what is hashed. Anywhere else (the layer directory, `agents/`,
 * `bottles/`, `skills/`, a skill directory itself, an entity file,
 * `bot-bottle.json`) the loader follows links, so the content read could
 * change outside the layer without the digest changing: such a layer is
 * refused. So are FIFOs, sockets and devices (reading one can hang or
 * differ every time) and names that are not UTF-8 or hold control
 * characters (two names would look the same on review).
 */

/** One file or directory of the layer; `path` is relative to the repository root, `/`-separated. */
export interface LayerEntry {
  path: string;
  kind: 'file' | 'dir' | 'link';
  /** sha256 of the content (files) or of the target text (links); null for directories. */
  sha256: string | null;
}

export type LayerDigest =
  | { ok: true; digest: string; entries: LayerEntry[] }
  /** The layer holds something trust cannot pin; `path` names it. */
  | { ok: false; path: string; problem: string };

/** A layer with more entries than this is refused: trust is for configuration, not for trees. */
export const MAX_LAYER_ENTRIES = 10_000;
const FORMAT = 'bot-bottle-trust/1';

class Refusal extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

function checkedName(raw: Buffer, parent: string): string {
  const name = raw.toString('utf8');
  const shown = parent === '' ? JSON.stringify(name) : `${parent}/${JSON.stringify(name)}`;
  if (!Buffer.from(name, 'utf8').equals(raw)) {
    throw new Refusal(shown, 'its name is not valid UTF-8');
  }
  // eslint-disable-next-line no-control-regex -- names are shown for review: no control bytes
  if (/[\x00-\x1f\x7f]/.test(name)) {
    throw new Refusal(shown, 'its name holds a control character');
  }
  return name;
}

function hashFile(abs: string, rel: string, expectIno: number): string {
  let fd: number;
  try {
    // O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a FIFO after lstat is refused, not read.
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    throw new Refusal(rel, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.ino !== expectIno) {
      throw new Refusal(rel, 'changed while it was read');
    }
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 16);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
    return hash.digest('hex');
  } catch (e) {
    if (e instanceof Refusal) throw e;
    throw new Refusal(rel, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    closeSync(fd);
  }
}

/** Below `.bot-bottle/skills/<name>/`: copied into the bottle with links kept as links. */
function insideSkill(rel: string): boolean {
  const parts = rel.split('/');
  return parts.length >= 4 && parts[0] === REPO_CONFIG_DIR && parts[1] === 'skills';
}

function walk(root: string, rel: string, out: LayerEntry[]): void {
  const abs = `${root}/${rel}`;
  let st;
  try {
    st = lstatSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new Refusal(rel, `cannot be examined (${code ?? 'error'})`);
  }
  if (out.length >= MAX_LAYER_ENTRIES) {
    throw new Refusal(rel, `the layer has more than ${MAX_LAYER_ENTRIES} entries`);
  }
  if (st.isSymbolicLink()) {
    if (insideSkill(rel)) {
      let target: Buffer;
      try {
        target = readlinkSync(abs, { encoding: 'buffer' });
      } catch (e) {
        throw new Refusal(rel, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      out.push({
        path: rel,
        kind: 'link',
        sha256: createHash('sha256').update(target).digest('hex'),
      });
      return;
    }
    throw new Refusal(
      rel,
      'is a symbolic link outside a skill directory; bot-bottle reads through it, so what it points at could change without the layer changing (replace it with the file itself)',
    );
  }
  if (st.isFile()) {
    out.push({ path: rel, kind: 'file', sha256: hashFile(abs, rel, st.ino) });
    return;
  }
  if (!st.isDirectory()) {
    throw new Refusal(rel, 'is not a regular file or directory (a FIFO, socket or device)');
  }
  out.push({ path: rel, kind: 'dir', sha256: null });
  let names: Buffer[];
  try {
    names = readdirSync(abs, { encoding: 'buffer' });
  } catch (e) {
    throw new Refusal(rel, `cannot be listed (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  for (const raw of names) walk(root, `${rel}/${checkedName(raw, rel)}`, out);
}

/** Byte order of the UTF-8 paths: the same on every machine and locale. */
export function byPath(a: LayerEntry, b: LayerEntry): number {
  return Buffer.compare(Buffer.from(a.path, 'utf8'), Buffer.from(b.path, 'utf8'));
}

/** The digest of the ordered entry list; JSON keeps each record unambiguous. */
export function digestOf(entries: readonly LayerEntry[]): string {
  const hash = createHash('sha256');
  hash.update(`${FORMAT}\n`);
  for (const e of [...entries].sort(byPath)) {
    hash.update(`${JSON.stringify([e.kind, e.path, e.sha256])}\n`);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** Hash `paths` (relative to `root`, a real path without trailing slash), each walked as above. */
export function pathsDigest(root: string, paths: readonly string[]): LayerDigest {
  const entries: LayerEntry[] = [];
  try {
    for (const p of paths) walk(root, p, entries);
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, path: e.path, problem: e.problem };
    throw e;
  }
  entries.sort(byPath);
  return { ok: true, digest: digestOf(entries), entries };
}

/** Hash the repository layer at `root` (a real path, no trailing slash). */
export function layerDigest(root: string): LayerDigest {
  return pathsDigest(root, [REPO_CONFIG_DIR, JSON_MANIFEST]);
}

/** Whether a root-relative path is part of the layer itself. */
export function inLayer(rel: string): boolean {
  return rel === REPO_CONFIG_DIR || rel === JSON_MANIFEST || rel.startsWith(`${REPO_CONFIG_DIR}/`);
}
