import { randomUUID } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * The supervise queue: one directory per bottle. The sidecar writes
 * `<id>.proposal.json` and waits; an operator surface writes
 * `<id>.response.json`; the sidecar returns the answer to the agent and
 * moves both to `processed/`. Every file is written whole (temp file, fsync,
 * rename) so a reader never sees half of one, and every reader treats the
 * directory as hostile: a file that is not one of ours is skipped and named,
 * never followed, never parsed past a size cap.
 */

export const TOOLS = ['egress-block', 'cred-proxy-block', 'capability-block'] as const;
export type Tool = (typeof TOOLS)[number];

export const STATUSES = ['approved', 'modified', 'rejected', 'timed-out'] as const;
export type Status = (typeof STATUSES)[number];

/** Larger files are refused unread: a proposal is a config file, not a payload. */
export const MAX_QUEUE_FILE_BYTES = 256 * 1024;

const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const proposalId = z.string().regex(ID_RE, 'must be a proposal id (a UUID)');

const text = (max: number) => z.string().max(max);

export const proposalSchema = z.strictObject({
  id: proposalId,
  bottleSlug: z.string().regex(/^[a-z0-9][a-z0-9-]{0,80}$/),
  tool: z.enum(TOOLS),
  proposedFile: text(MAX_QUEUE_FILE_BYTES / 2),
  justification: text(8_000),
  arrivalTimestamp: z.iso.datetime(),
  /** sha256 of the config file the agent read when it proposed. */
  currentFileHash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type Proposal = z.infer<typeof proposalSchema>;

export const responseSchema = z.strictObject({
  proposalId,
  status: z.enum(STATUSES),
  notes: text(8_000),
  /** What is applied: the proposal for approved, the operator's edit for modified, null otherwise. */
  finalFile: text(MAX_QUEUE_FILE_BYTES / 2).nullable(),
});
export type Response = z.infer<typeof responseSchema>;

export interface QueueProblem {
  file: string;
  message: string;
}

export function newProposal(
  fields: Omit<Proposal, 'id' | 'arrivalTimestamp'>,
  now: Date = new Date(),
): Proposal {
  return { ...fields, id: randomUUID(), arrivalTimestamp: now.toISOString() };
}

const proposalName = (id: string): string => `${id}.proposal.json`;
const responseName = (id: string): string => `${id}.response.json`;
const claimName = (id: string): string => `${id}.claim.json`;

/**
 * Whole-file write: temp file, fsync, rename; mode 0600. With `owner`, a
 * root writer hands the file to that user (the queue's sidecar user, who
 * must read the answer).
 */
export function atomicWrite(
  path: string,
  content: string,
  owner?: { uid: number; gid: number },
): void {
  const tmp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    if (owner !== undefined && process.getuid?.() === 0) fchownSync(fd, owner.uid, owner.gid);
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Read a queue file without following symlinks and without reading past the
 * cap. Returns the text or a reason it was refused.
 */
export function readCapped(path: string, cap = MAX_QUEUE_FILE_BYTES): string | { refused: string } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      refused: code === 'ELOOP' ? 'is a symbolic link' : `cannot be read (${code ?? 'error'})`,
    };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { refused: 'is not a regular file' };
    if (st.size > cap) return { refused: `is ${st.size} bytes, over the ${cap}-byte limit` };
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function parseFile<T>(path: string, schema: z.ZodType<T>): { value: T } | { problem: string } {
  const raw = readCapped(path);
  if (typeof raw !== 'string') return { problem: raw.refused };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    return { problem: `is not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    const where = i === undefined || i.path.length === 0 ? '(top)' : i.path.join('.');
    return { problem: `${where}: ${i?.message ?? 'invalid'}` };
  }
  return { value: r.data };
}

export function writeProposal(queueDir: string, p: Proposal): string {
  mkdirSync(queueDir, { recursive: true, mode: 0o700 });
  const path = join(queueDir, proposalName(proposalSchema.parse(p).id));
  atomicWrite(path, `${JSON.stringify(p, null, 2)}\n`);
  return path;
}

export function writeResponse(queueDir: string, r: Response): string {
  mkdirSync(queueDir, { recursive: true, mode: 0o700 });
  const path = join(queueDir, responseName(responseSchema.parse(r).proposalId));
  atomicWrite(path, `${JSON.stringify(r, null, 2)}\n`, statSync(queueDir));
  return path;
}

export function readProposal(queueDir: string, id: string): Proposal | { problem: string } {
  if (!ID_RE.test(id)) return { problem: `'${id}' is not a proposal id` };
  const r = parseFile(join(queueDir, proposalName(id)), proposalSchema);
  if ('problem' in r) return r;
  if (r.value.id !== id) return { problem: `holds proposal ${r.value.id}, not ${id}` };
  return r.value;
}

/** The answer to `id`, undefined while there is none (or it is not readable yet). */
export function readResponse(queueDir: string, id: string): Response | undefined {
  if (!ID_RE.test(id)) return undefined;
  const r = parseFile(join(queueDir, responseName(id)), responseSchema);
  if ('problem' in r || r.value.proposalId !== id) return undefined;
  return r.value;
}

export interface PendingList {
  proposals: Proposal[];
  problems: QueueProblem[];
}

/**
 * Proposals still waiting for an answer, oldest first. Files that are not
 * well-formed proposals of this bottle are listed as problems and skipped.
 */
export function listPending(queueDir: string, slug?: string): PendingList {
  let names: string[];
  try {
    names = readdirSync(queueDir);
  } catch {
    return { proposals: [], problems: [] };
  }
  const present = new Set(names);
  const proposals: Proposal[] = [];
  const problems: QueueProblem[] = [];
  for (const name of names.sort()) {
    if (name === 'processed' || name.endsWith('.tmp')) continue;
    const file = join(queueDir, name);
    const m = /^(.*)\.(proposal|response|claim)\.json$/.exec(name);
    if (m === null || !ID_RE.test(m[1] ?? '')) {
      problems.push({ file, message: 'is not a queue file (expected <uuid>.proposal.json)' });
      continue;
    }
    if (m[2] !== 'proposal') continue;
    const id = m[1] ?? '';
    // Answered, or being answered right now.
    if (present.has(responseName(id)) || present.has(claimName(id))) continue;
    const r = readProposal(queueDir, id);
    if ('problem' in r) {
      problems.push({ file, message: r.problem });
      continue;
    }
    if (slug !== undefined && r.bottleSlug !== slug) {
      problems.push({ file, message: `names bottle ${r.bottleSlug}, not ${slug}` });
      continue;
    }
    proposals.push(r);
  }
  proposals.sort((a, b) => a.arrivalTimestamp.localeCompare(b.arrivalTimestamp));
  return { proposals, problems };
}

/** Who holds the right to answer a proposal. */
export interface Claim {
  by: string;
  pid: number;
  at: string;
}

/**
 * Take the one right to answer proposal `id`: an exclusive create of
 * `<id>.claim.json` (O_EXCL, so of two racing answerers, the operator's
 * surfaces and the sidecar's timeout alike, exactly one succeeds). Every
 * writer of an answer claims first. Returns false when someone else holds
 * it or the proposal is already answered.
 */
export function claimProposal(queueDir: string, id: string, by: string): boolean {
  if (!ID_RE.test(id)) return false;
  const path = join(queueDir, claimName(id));
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    if (process.getuid?.() === 0) {
      const owner = statSync(queueDir);
      fchownSync(fd, owner.uid, owner.gid);
    }
    const claim: Claim = { by, pid: process.pid, at: new Date().toISOString() };
    writeSync(fd, `${JSON.stringify(claim)}\n`);
  } finally {
    closeSync(fd);
  }
  // Answered and archived (the claim moved with it) or withdrawn meanwhile:
  // the proposal is no longer there to answer.
  if (!existsSync(join(queueDir, proposalName(id))) || readResponse(queueDir, id) !== undefined) {
    releaseClaim(queueDir, id);
    return false;
  }
  return true;
}

/** Give the right to answer back (an answer that could not be applied leaves it pending). */
export function releaseClaim(queueDir: string, id: string): void {
  if (!ID_RE.test(id)) return;
  rmSync(join(queueDir, claimName(id)), { force: true });
}

/** The holder of a claim, if one is held and readable. */
export function readClaim(queueDir: string, id: string): Claim | undefined {
  if (!ID_RE.test(id)) return undefined;
  const raw = readCapped(join(queueDir, claimName(id)), 4096);
  if (typeof raw !== 'string') return undefined;
  try {
    return JSON.parse(raw) as Claim;
  } catch {
    return undefined;
  }
}

/** Move a proposal, its answer and its claim to `processed/`; missing files are fine. */
export function archiveProposal(queueDir: string, id: string): void {
  if (!ID_RE.test(id)) return;
  const done = join(queueDir, 'processed');
  mkdirSync(done, { recursive: true, mode: 0o700 });
  for (const name of [proposalName(id), responseName(id), claimName(id)]) {
    try {
      renameSync(join(queueDir, name), join(done, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** Drop a proposal nobody will answer any more (its caller went away). */
export function withdrawProposal(queueDir: string, id: string): void {
  if (!ID_RE.test(id)) return;
  rmSync(join(queueDir, proposalName(id)), { force: true });
}
