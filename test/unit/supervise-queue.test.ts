import { spawn } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  statSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendAudit, readAudit } from '../../src/supervise/audit.js';
import { renderDiff, sha256Hex } from '../../src/supervise/diff.js';
import {
  archiveProposal,
  listPending,
  newProposal,
  readProposal,
  readResponse,
  writeProposal,
  writeResponse,
  type Proposal,
} from '../../src/supervise/queue.js';
import { auditPath } from '../../src/supervise/paths.js';

const WRITER = join(import.meta.dirname, '..', 'fixtures', 'queue-writer.mjs');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'bb-queue-'));
}

function run(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [WRITER, ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    c.on('close', (code) => {
      resolve(code ?? 1);
    });
  });
}

const proposal = (over: Partial<Proposal> = {}): Proposal => ({
  ...newProposal({
    bottleSlug: 'dev',
    tool: 'egress-block',
    proposedFile: 'allow: [example.com]\n',
    justification: 'needs docs',
    currentFileHash: sha256Hex(''),
  }),
  ...over,
});

describe('supervise queue', () => {
  it('writes proposals 0600, lists them oldest first, and drops answered ones from the list', () => {
    const q = tmp();
    const a = proposal({ arrivalTimestamp: '2026-11-21T10:00:02.000Z' });
    const b = proposal({ arrivalTimestamp: '2026-11-21T10:00:01.000Z' });
    const path = writeProposal(q, a);
    writeProposal(q, b);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(listPending(q, 'dev').proposals.map((p) => p.id)).toEqual([b.id, a.id]);
    writeResponse(q, { proposalId: b.id, status: 'rejected', notes: 'no', finalFile: null });
    expect(listPending(q, 'dev').proposals.map((p) => p.id)).toEqual([a.id]);
    expect(readResponse(q, b.id)?.notes).toBe('no');
    archiveProposal(q, b.id);
    expect(readdirSync(join(q, 'processed')).sort()).toEqual(
      [`${b.id}.proposal.json`, `${b.id}.response.json`].sort(),
    );
    // No temp file is left behind by the atomic writes.
    expect(readdirSync(q).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('skips malformed, truncated and hostile files with a message, and still lists the good one', () => {
    const q = tmp();
    const good = proposal();
    writeProposal(q, good);
    const id = (n: number): string => `00000000-0000-4000-8000-00000000000${n}`;
    writeFileSync(join(q, `${id(1)}.proposal.json`), '{"id": "trunc');
    writeFileSync(
      join(q, `${id(2)}.proposal.json`),
      JSON.stringify({ ...proposal(), id: id(2), tool: 'rm-rf-block' }),
    );
    writeFileSync(
      join(q, `${id(3)}.proposal.json`),
      JSON.stringify({ ...proposal(), id: id(3), justification: 42 }),
    );
    writeFileSync(join(q, `${id(4)}.proposal.json`), 'x'.repeat(300 * 1024));
    symlinkSync('/etc/passwd', join(q, `${id(5)}.proposal.json`));
    writeFileSync(join(q, '..%2F..%2Fetc.proposal.json'), JSON.stringify(proposal()));
    writeFileSync(
      join(q, `${id(6)}.proposal.json`),
      JSON.stringify({ ...proposal(), id: id(6), bottleSlug: 'other' }),
    );
    writeFileSync(
      join(q, `${id(7)}.proposal.json`),
      JSON.stringify({ ...proposal(), id: '../../../etc/passwd' }),
    );
    writeFileSync(join(q, `${id(8)}.proposal.json`), JSON.stringify([1, 2]));
    const { proposals, problems } = listPending(q, 'dev');
    expect(proposals.map((p) => p.id)).toEqual([good.id]);
    const byFile: Record<string, string> = Object.fromEntries(
      problems.map((p): [string, string] => [basename(p.file), p.message]),
    );
    expect(byFile[`${id(1)}.proposal.json`]).toMatch(/not JSON/);
    expect(byFile[`${id(2)}.proposal.json`]).toMatch(/^tool:/);
    expect(byFile[`${id(3)}.proposal.json`]).toMatch(/^justification:/);
    expect(byFile[`${id(4)}.proposal.json`]).toMatch(/over the 262144-byte limit/);
    expect(byFile[`${id(5)}.proposal.json`]).toMatch(/symbolic link/);
    expect(byFile['..%2F..%2Fetc.proposal.json']).toMatch(/not a queue file/);
    expect(byFile[`${id(6)}.proposal.json`]).toMatch(/names bottle other, not dev/);
    expect(byFile[`${id(7)}.proposal.json`]).toMatch(/^id: must be a proposal id/);
    expect(byFile[`${id(8)}.proposal.json`]).toMatch(/\(top\)/);
    // Ids that are paths are refused before any file is touched.
    expect(readProposal(q, '../../etc/passwd')).toEqual({
      problem: "'../../etc/passwd' is not a proposal id",
    });
    expect(readResponse(q, '../x')).toBeUndefined();
    expect(() => {
      writeProposal(q, { ...proposal(), id: '../escape' });
    }).toThrow();
  });

  it('loses no proposal when 8 processes write at once', async () => {
    const q = tmp();
    const codes = await Promise.all(
      Array.from({ length: 8 }, () => run(['propose', q, 'dev', '25'])),
    );
    expect(codes).toEqual(Array(8).fill(0));
    const { proposals, problems } = listPending(q, 'dev');
    expect(problems).toEqual([]);
    expect(proposals).toHaveLength(200);
  });

  it('keeps every audit line whole when 8 processes append at once', async () => {
    const home = tmp();
    const n = 60;
    const codes = await Promise.all(
      Array.from({ length: 8 }, (_, t) => run(['audit', home, 'dev', String(n), `t${t}`])),
    );
    expect(codes).toEqual(Array(8).fill(0));
    const env = { BOT_BOTTLE_HOME: home };
    const { entries, badLines } = readAudit(env, 'dev');
    expect(badLines).toEqual([]);
    expect(entries).toHaveLength(8 * n);
    const notes = new Set(entries.map((e) => e.notes));
    for (let t = 0; t < 8; t++)
      for (let i = 0; i < n; i++) expect(notes.has(`t${t}:${i}`)).toBe(true);
    expect(statSync(auditPath(env, 'dev')).mode & 0o777).toBe(0o600);
    // Lines are long (several KiB): interleaving would have broken JSON.
    expect(readFileSync(auditPath(env, 'dev'), 'utf8').split('\n').length).toBe(8 * n + 1);
  });

  it('reports unparseable audit lines instead of failing the read', async () => {
    const home = tmp();
    const env = { BOT_BOTTLE_HOME: home };
    await appendAudit(env, {
      timestamp: new Date().toISOString(),
      bottleSlug: 'dev',
      identity: 'dev-20261121-100000',
      component: 'routes',
      action: 'rejected',
      proposalId: null,
      operator: 'op',
      notes: 'n',
      justification: 'j',
      diff: '',
      stale: false,
      applied: 'none',
    });
    mkdirSync(join(home, 'audit'), { recursive: true });
    writeFileSync(auditPath(env, 'dev'), '{"half": \n', { flag: 'a' });
    const r = readAudit(env, 'dev');
    expect(r.entries).toHaveLength(1);
    expect(r.badLines).toEqual([2]);
  });

  it('renders a unified diff and detects a stale base by hash', () => {
    const before = 'allow:\n  - a.example\n';
    const after = 'allow:\n  - a.example\n  - b.example\n';
    const d = renderDiff(before, after, 'egress.yaml');
    expect(d).toContain('--- egress.yaml (current)');
    expect(d).toContain('+++ egress.yaml (proposed)');
    expect(d).toContain('+  - b.example');
    expect(renderDiff(before, before, 'egress.yaml')).toBe('');
    const p = proposal({ currentFileHash: sha256Hex(before) });
    expect(p.currentFileHash === sha256Hex(before)).toBe(true);
    expect(p.currentFileHash === sha256Hex(after)).toBe(false);
  });
});
