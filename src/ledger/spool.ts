import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import {
  parseSpool,
  spoolFileName,
  spoolLine,
  spoolText,
  type SpoolEntry,
} from './spool-format.js';
import type { LedgerStore } from './types.js';

/**
 * Usage is never lost to a store outage: a ledger write the store did not
 * take is kept in a spool file on the host and written when the store
 * answers again (a retry loop while a controller runs, and at the start of
 * the next controller or `usage`/`dashboard` on the host). Usage is
 * written by its event id, which the store writes once, so a crash between
 * writing an entry and removing it from the spool cannot count it twice.
 * Reads and admissions are not spooled: they fail, and admission refuses.
 */

const LOCK = {
  realpath: false,
  stale: 10_000,
  // A flush holds a file's lock while it writes to the store; wait for it.
  retries: { retries: 600, minTimeout: 10, maxTimeout: 100, randomize: true },
} as const;

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not every platform syncs a directory; the file itself is synced.
  }
}

function writeWhole(path: string, text: string, flags: 'a' | 'w'): void {
  const fd = openSync(path, flags, 0o600);
  try {
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function ensureDir(dir: string): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    syncDir(join(dir, '..'));
  }
}

/** Whether the file's last byte is not a newline (a write cut short). */
function tornTail(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } finally {
    closeSync(fd);
  }
}

/** Append entries to a spool file under its lock: each line whole and synced before this resolves. */
export async function appendSpool(
  dir: string,
  name: string,
  entries: readonly SpoolEntry[],
): Promise<string> {
  ensureDir(dir);
  const path = join(dir, spoolFileName(name));
  const release = await lockfile.lock(path, LOCK);
  try {
    const fresh = !existsSync(path);
    // After a torn last line the new lines start on a line of their own
    // (the torn one stays a bad line, skipped), so they are read whole.
    const lead = !fresh && tornTail(path) ? '\n' : '';
    writeWhole(path, lead + entries.map(spoolLine).join(''), 'a');
    if (fresh) syncDir(dir);
  } finally {
    await release();
  }
  return path;
}

export function applyEntry(store: LedgerStore, e: SpoolEntry): Promise<void> {
  switch (e.op) {
    case 'settle':
      return store.settle(e.reservation, e.event);
    case 'usage':
      return store.recordUsage(e.event);
    case 'release':
      return store.release(e.reservation);
    case 'redactions':
      return store.recordRedactions(e.event);
    case 'action':
      return store.recordAction(e.action);
  }
}

/** Usage and releases may be written twice (the store keeps one); the others may not. */
const idempotent = (e: SpoolEntry): boolean =>
  e.op === 'settle' || e.op === 'usage' || e.op === 'release';

export interface FlushResult {
  written: number;
  /** Entries still spooled (the store failed again). */
  left: number;
  /** The store's error that stopped the flush, if any. */
  error?: unknown;
}

/** Keep only `rest` in the file (atomically), or remove it when nothing is left. */
function rewrite(path: string, rest: readonly SpoolEntry[]): void {
  if (rest.length === 0) {
    rmSync(path, { force: true });
    return;
  }
  const tmp = `${path}.tmp`;
  writeWhole(tmp, spoolText(rest), 'w');
  renameSync(tmp, path);
}

/** Write one spool file's entries to the store, in order, under its lock. */
async function flushFile(store: LedgerStore, path: string): Promise<FlushResult> {
  const release = await lockfile.lock(path, LOCK);
  try {
    if (!existsSync(path)) return { written: 0, left: 0 };
    const { entries } = parseSpool(readFileSync(path, 'utf8'));
    for (const [i, e] of entries.entries()) {
      try {
        await applyEntry(store, e);
      } catch (error) {
        rewrite(path, entries.slice(i));
        return { written: i, left: entries.length - i, error };
      }
      // Drop a write that must not be repeated as soon as it is in.
      if (!idempotent(e)) rewrite(path, entries.slice(i + 1));
    }
    rewrite(path, []);
    return { written: entries.length, left: 0 };
  } finally {
    await release();
  }
}

/** The host's spool files (one per writer). */
export function spoolFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.jsonl'))
    .sort()
    .map((n) => join(dir, n));
}

/** Write every spooled entry on the host to the store; stops at the first failure. */
export async function flushSpool(store: LedgerStore, dir: string): Promise<FlushResult> {
  let written = 0;
  let left = 0;
  let error: unknown;
  for (const path of spoolFiles(dir)) {
    if (error !== undefined) {
      left += parseSpool(readFileSync(path, 'utf8')).entries.length;
      continue;
    }
    const r = await flushFile(store, path);
    written += r.written;
    left += r.left;
    error = r.error;
  }
  return { written, left, ...(error === undefined ? {} : { error }) };
}

export interface SpoolOptions {
  dir: string;
  /** Whose spool file: a launch's identity, or the command's name. */
  name: string;
  /** Where it says a write was spooled or written later. */
  log?: (line: string) => void;
  /** Retry the spool this often (a controller); without it, only `flush()` does. */
  retryMs?: number;
}

export interface SpooledLedger extends LedgerStore {
  /** Write the host's spooled entries to the store now. */
  flush(): Promise<FlushResult>;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A store whose writes go to the host's spool when it fails, and to the store once it answers. */
export function spooled(store: LedgerStore, o: SpoolOptions): SpooledLedger {
  const log = o.log ?? (() => undefined);
  let down = false;
  let flushing: Promise<FlushResult> | undefined;

  const flush = (): Promise<FlushResult> => {
    flushing ??= flushSpool(store, o.dir)
      .then((r) => {
        if (r.written > 0) log(`ledger store answers again: wrote ${r.written} spooled writes`);
        if (r.error === undefined) down = false;
        return r;
      })
      .finally(() => {
        flushing = undefined;
      });
    return flushing;
  };

  const write = async (entry: SpoolEntry, run: () => Promise<void>): Promise<void> => {
    try {
      await run();
    } catch (e) {
      const path = await appendSpool(o.dir, o.name, [entry]);
      if (!down) {
        down = true;
        log(`ledger store did not take a write (${message(e)}); kept in ${path} until it answers`);
      }
    }
  };

  let timer: NodeJS.Timeout | undefined;
  if (o.retryMs !== undefined) {
    timer = setInterval(() => {
      if (spoolFiles(o.dir).length > 0) void flush().catch(() => undefined);
    }, o.retryMs);
    timer.unref();
  }

  return {
    flush,
    recordUsage: (e) => write({ op: 'usage', event: e }, () => store.recordUsage(e)),
    settle: (reservation, e) =>
      write({ op: 'settle', reservation, event: e }, () => store.settle(reservation, e)),
    release: (id) => write({ op: 'release', reservation: id }, () => store.release(id)),
    recordRedactions: (e) => write({ op: 'redactions', event: e }, () => store.recordRedactions(e)),
    recordAction: (a) => write({ op: 'action', action: a }, () => store.recordAction(a)),
    totals: (f) => store.totals(f),
    used: (f) => store.used(f),
    byLaunch: (f) => store.byLaunch(f),
    admit: (windows, slug, decide) => store.admit(windows, slug, decide),
    reserved: (scope) => store.reserved(scope),
    redactions: (f) => store.redactions(f),
    actions: (f) => store.actions(f),
    schemaVersion: () => store.schemaVersion(),
    async close() {
      if (timer !== undefined) clearInterval(timer);
      // A flush under way finishes before its store closes.
      await flushing?.catch(() => undefined);
      // A last try, so a bottle that ends after the store came back leaves nothing behind.
      if (spoolFiles(o.dir).length > 0) await flush().catch(() => undefined);
      await store.close();
    },
  };
}
