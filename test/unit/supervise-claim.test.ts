import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import type { ActiveBottle, Backend } from '../../src/backend/backend.js';
import { answerProposal, type AnswerRequest } from '../../src/supervise/answer.js';
import { readAudit } from '../../src/supervise/audit.js';
import { onHostQueue } from '../../src/supervise/wait.js';
import { sha256Hex } from '../../src/supervise/diff.js';
import { queueDir } from '../../src/supervise/paths.js';
import {
  claimProposal,
  listPending,
  newProposal,
  readResponse,
  writeProposal,
  type Proposal,
} from '../../src/supervise/queue.js';
import { propose } from '../../src/supervise/server.js';

/**
 * One proposal, one answer: every writer of an answer (the TUI, `supervise
 * answer`, the sidecar's timeout) claims the proposal first, and exactly one
 * claim succeeds. Racers are real processes (test/fixtures/queue-writer.mjs,
 * which runs the built code: `npm run build` first).
 */

const WRITER = join(import.meta.dirname, '..', 'fixtures', 'queue-writer.mjs');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'bb-claim-'));
}

function writer(args: string[]): ChildProcess {
  return spawn(process.execPath, [WRITER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
}

function exitCode(c: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    c.on('close', (code) => {
      resolve(code ?? 1);
    });
  });
}

function firstLine(c: ChildProcess): Promise<string> {
  if (c.stdout === null) throw new Error('no stdout');
  const rl = createInterface({ input: c.stdout });
  return new Promise((resolve) => rl.once('line', resolve));
}

function queued(q: string, over: Partial<Proposal> = {}): Proposal {
  const p = {
    ...newProposal({
      bottleSlug: 'dev',
      tool: 'egress-block',
      proposedFile: 'allow: [example.com]\n',
      justification: 'needs docs',
      currentFileHash: sha256Hex(''),
    }),
    ...over,
  };
  writeProposal(q, p);
  return p;
}

describe('answering a proposal exactly once', () => {
  it('lets exactly one of 8 racing processes answer, round after round', async () => {
    const q = tmp();
    for (let round = 0; round < 3; round++) {
      const p = queued(q);
      const tags = Array.from({ length: 8 }, (_, i) => `op-${round}-${i}`);
      const codes = await Promise.all(tags.map((t) => exitCode(writer(['answer', q, p.id, t]))));
      expect(codes.filter((c) => c === 0)).toHaveLength(1);
      expect(codes.filter((c) => c === 3)).toHaveLength(7);
      // The answer on file is the winner's, and nobody else's.
      expect(readResponse(q, p.id)?.notes).toBe(tags[codes.indexOf(0)]);
      expect(listPending(q, 'dev').proposals.map((x) => x.id)).not.toContain(p.id);
    }
  }, 60_000);

  it("holds the sidecar's timeout while an operator's answer is being applied; the agent gets that answer", async () => {
    const q = tmp();
    const clock = { t: 1_000 };
    const events: Record<string, unknown>[] = [];
    const waiters: { kind: string; resolve: (e: Record<string, unknown>) => void }[] = [];
    const seen = (kind: string): Promise<Record<string, unknown>> => {
      const hit = events.find((e) => e.kind === kind);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve) => waiters.push({ kind, resolve }));
    };
    const answer = propose(
      onHostQueue({
        slug: 'dev',
        queueDir: q,
        currentConfigDir: tmp(),
        timeoutMs: 60_000,
        pollMs: 5,
        now: () => clock.t,
        log: (e) => {
          events.push(e);
          for (const w of waiters.filter((x) => x.kind === e.kind)) w.resolve(e);
        },
      }),
      'egress-block',
      'allow: [example.com]\n',
      'needs docs',
      new AbortController().signal,
    );
    const { id } = (await seen('proposal')) as { id: string };
    const operator = writer(['hold', q, id, 'the-operator']);
    expect(await firstLine(operator)).toBe('claimed');
    clock.t += 61_000;
    await seen('timeout-deferred');
    operator.stdin?.write('go\n');
    expect(await exitCode(operator)).toBe(0);
    await expect(answer).resolves.toEqual({ status: 'approved', notes: 'the-operator' });
    expect(events.map((e) => e.kind)).not.toContain('timed-out');
  });

  it('refuses an operator whose answer comes after the timeout answered', async () => {
    const q = tmp();
    const events: Record<string, unknown>[] = [];
    const r = await propose(
      onHostQueue({
        slug: 'dev',
        queueDir: q,
        currentConfigDir: tmp(),
        timeoutMs: 0,
        log: (e) => events.push(e),
      }),
      'egress-block',
      'allow: [example.com]\n',
      'needs docs',
      new AbortController().signal,
    );
    expect(r.status).toBe('timed-out');
    const id = String(events.find((e) => e.kind === 'proposal')?.id);
    expect(await exitCode(writer(['answer', q, id, 'late-operator']))).toBe(3);
    expect(claimProposal(q, id, 'later-still')).toBe(false);
    expect(existsSync(join(q, 'processed', `${id}.response.json`))).toBe(true);
  });
});

describe('supervise answer and the claim', () => {
  function setup(): { env: NodeJS.ProcessEnv; q: string; req: (p: Proposal) => AnswerRequest } {
    const home = tmp();
    const env = { BOT_BOTTLE_HOME: home, USER: 'tester' };
    const q = queueDir(env, 'dev');
    mkdirSync(q, { recursive: true });
    const bottle: ActiveBottle = {
      slug: 'dev',
      label: 'dev',
      agent: 'worker',
      provider: 'claude',
      bottles: [],
      identity: 'dev-20260101-000000',
      startedAt: '',
      state: 'running',
      controllerPid: undefined,
      controllerHost: undefined,
    };
    // Only the list of running bottles is asked of the engine for a reject.
    const backend = { enumerateActive: () => Promise.resolve([bottle]) } as unknown as Backend;
    const req = (p: Proposal): AnswerRequest => ({
      env,
      cwd: home,
      backend,
      id: p.id,
      decision: 'reject',
      notes: 'no',
      values: new Map(),
      scope: 'run',
      rebuild: 'next-launch',
      force: false,
      ask: undefined,
      progress: () => undefined,
    });
    return { env, q, req };
  }

  it('says "already answered", naming who holds it, and applies and audits nothing', async () => {
    const { env, q, req } = setup();
    const p = queued(q);
    const tui = writer(['hold', q, p.id, 'tui-operator']);
    expect(await firstLine(tui)).toBe('claimed');
    await expect(answerProposal(req(p))).rejects.toThrow(
      new RegExp(
        `proposal ${p.id} has already been answered \\(by tui-operator, pid \\d+, at .+\\); this answer was not applied`,
      ),
    );
    expect(readAudit(env, 'dev').entries).toEqual([]);
    tui.stdin?.write('go\n');
    expect(await exitCode(tui)).toBe(0);
    expect(readResponse(q, p.id)).toMatchObject({ status: 'approved', notes: 'tui-operator' });
  });

  it('gives the claim back when the answer fails before it is written', async () => {
    const { q, req } = setup();
    // Made against a config that has changed since: approve without --force fails.
    const p = queued(q, { currentFileHash: '1'.repeat(64) });
    await expect(answerProposal({ ...req(p), decision: 'approve' })).rejects.toThrow(
      'was made against an older',
    );
    expect(listPending(q, 'dev').proposals.map((x) => x.id)).toEqual([p.id]);
    await expect(answerProposal(req(p))).resolves.toMatchObject({ status: 'rejected' });
    expect(readResponse(q, p.id)?.status).toBe('rejected');
  });
});
