import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tarFiles, WRITE_FILES_ARGV } from '../../src/backend/container-files.js';
import { keepLinked, type KeptLink } from '../../src/controller/engine-link.js';
import { superviseRelay, type SuperviseRelay } from '../../src/controller/supervise-link.js';
import { sha256Hex } from '../../src/supervise/diff.js';
import type { ProposalDraft } from '../../src/supervise/link-protocol.js';
import { listPending, writeResponse } from '../../src/supervise/queue.js';
import { listenSupervise, type SuperviseLink } from '../../src/supervise/sidecar-link.js';
import { socketStream } from '../helpers/link.js';

/**
 * The channels between the controller and a bottle that replace shared host
 * paths: files written into a container through `exec` stdin, and the
 * supervise queue reached over a link the controller opens (here a unix
 * socket connection stands in for the engine's `exec` stream).
 */

const dirs: string[] = [];
function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function eventually(check: () => void, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

describe('files written into a container', () => {
  const writeWithScript = (dir: string, archive: Buffer): void => {
    // The same fixed script the engine runs, with the directory as its argument.
    const [sh, flag, script, name] = WRITE_FILES_ARGV;
    const r = spawnSync(sh ?? 'sh', [flag ?? '-c', script ?? '', name ?? 'sh', dir], {
      input: archive,
    });
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
  };

  it('arrive whole with their modes, replacing older files by rename, leaving nothing else behind', () => {
    const dir = join(tmp('bb-files-'), 'current-config');
    mkdirSync(dir);
    writeFileSync(join(dir, 'egress.yaml'), 'old\n');
    const before = statSync(join(dir, 'egress.yaml')).ino;
    const big = 'x'.repeat(70_000);
    writeWithScript(
      dir,
      tarFiles([
        { name: 'egress.yaml', content: 'allow:\n  - example.com\n', mode: 0o644 },
        { name: 'Dockerfile', content: big, mode: 0o600 },
      ]),
    );
    expect(readFileSync(join(dir, 'egress.yaml'), 'utf8')).toBe('allow:\n  - example.com\n');
    expect(readFileSync(join(dir, 'Dockerfile'), 'utf8')).toBe(big);
    expect(statSync(join(dir, 'egress.yaml')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'Dockerfile')).mode & 0o777).toBe(0o600);
    // A new inode: the old file was replaced, never rewritten in place.
    expect(statSync(join(dir, 'egress.yaml')).ino).not.toBe(before);
    expect(readdirSync(dir).sort()).toEqual(['Dockerfile', 'egress.yaml']);
  });

  it('creates a missing directory, and the archive is one that tar itself reads', () => {
    const dir = join(tmp('bb-files-'), 'a', 'b');
    const archive = tarFiles([{ name: 'routes.yaml', content: 'routes: []\n', mode: 0o644 }]);
    expect(execFileSync('tar', ['-t', '-v', '-f', '-'], { input: archive }).toString()).toMatch(
      /-rw-r--r-- .*routes\.yaml/,
    );
    writeWithScript(dir, archive);
    expect(readFileSync(join(dir, 'routes.yaml'), 'utf8')).toBe('routes: []\n');
  });

  it.each(['../escape', 'a/b', '/etc/passwd', '.hidden', '', 'x'.repeat(101), 'new\nline'])(
    'refuses the file name %j (no path, no traversal)',
    (name) => {
      expect(() => tarFiles([{ name, content: 'x', mode: 0o644 }])).toThrow(
        /not a plain file name/,
      );
    },
  );

  it('refuses to write nothing', () => {
    expect(() => tarFiles([])).toThrow(/no files/);
  });
});

describe('the supervise queue over the controller link', () => {
  interface Rig {
    queueDir: string;
    configDir: string;
    sidecar: SuperviseLink;
    relay: SuperviseRelay;
    kept: KeptLink;
    socketPath: string;
  }

  function rig(timeoutMs = 60_000): Rig {
    const root = tmp('bb-suplink-');
    const queueDir = join(root, 'queue');
    const configDir = join(root, 'config');
    mkdirSync(configDir);
    writeFileSync(join(configDir, 'egress.yaml'), 'allow:\n  - api.anthropic.com\n');
    const socketPath = join(root, 'link.sock');
    const sidecar = listenSupervise({ socketPath });
    const relay = superviseRelay({
      slug: 'dev',
      queueDir,
      currentConfigDir: configDir,
      timeoutMs,
      pollMs: 10,
    });
    const kept = keepLinked({
      open: () => socketStream(socketPath),
      server: relay,
      what: 'test',
      log: () => undefined,
      retryMs: 20,
    });
    cleanups.push(async () => {
      await kept.stop();
      await relay.close();
      sidecar.close();
    });
    return { queueDir, configDir, sidecar, relay, kept, socketPath };
  }

  const draft = (over: Partial<ProposalDraft> = {}): ProposalDraft => ({
    id: randomUUID(),
    tool: 'egress-block',
    proposedFile: 'allow:\n  - api.anthropic.com\n  - docs.example.com\n',
    justification: 'needs the docs',
    arrivalTimestamp: new Date().toISOString(),
    ...over,
  });

  const answer = (queueDir: string, id: string, notes = 'ok'): void => {
    writeResponse(queueDir, { proposalId: id, status: 'approved', notes, finalFile: null });
  };

  it("queues a call on the host under the controller's slug and the hash of the host's current config, and answers it", async () => {
    const r = rig();
    await eventually(() => {
      expect(r.sidecar.connected()).toBe(true);
    });
    const d = draft();
    const pending = r.sidecar.submit(d, 60_000, new AbortController().signal);
    await eventually(() => {
      expect(listPending(r.queueDir).proposals).toHaveLength(1);
    });
    const [p] = listPending(r.queueDir).proposals;
    expect(p).toMatchObject({
      id: d.id,
      bottleSlug: 'dev',
      tool: 'egress-block',
      currentFileHash: sha256Hex('allow:\n  - api.anthropic.com\n'),
    });
    answer(r.queueDir, d.id, 'go ahead');
    await expect(pending).resolves.toEqual({ status: 'approved', notes: 'go ahead' });
    expect(existsSync(join(r.queueDir, 'processed', `${d.id}.response.json`))).toBe(true);
  });

  it('loses no call when the link drops: the answer given meanwhile arrives after it is back, once', async () => {
    const r = rig();
    await eventually(() => {
      expect(r.sidecar.connected()).toBe(true);
    });
    const d = draft();
    const pending = r.sidecar.submit(d, 60_000, new AbortController().signal);
    await eventually(() => {
      expect(listPending(r.queueDir).proposals).toHaveLength(1);
    });
    // The engine connection goes away and the controller has not reopened it yet.
    await r.kept.stop();
    await eventually(() => {
      expect(r.sidecar.connected()).toBe(false);
    });
    answer(r.queueDir, d.id, 'answered while the link was down');
    await new Promise((res) => setTimeout(res, 100));
    const again = keepLinked({
      open: () => socketStream(r.socketPath),
      server: r.relay,
      what: 'test',
      log: () => undefined,
      retryMs: 20,
    });
    cleanups.push(() => again.stop());
    await expect(pending).resolves.toEqual({
      status: 'approved',
      notes: 'answered while the link was down',
    });
    // Re-sent on reconnect, queued once.
    expect(
      readdirSync(join(r.queueDir, 'processed')).filter((f) => f.endsWith('.proposal.json')),
    ).toHaveLength(1);
  });

  it('withdraws the proposal when the agent hangs up', async () => {
    const r = rig();
    await eventually(() => {
      expect(r.sidecar.connected()).toBe(true);
    });
    const ac = new AbortController();
    const d = draft();
    const pending = r.sidecar.submit(d, 60_000, ac.signal);
    await eventually(() => {
      expect(listPending(r.queueDir).proposals).toHaveLength(1);
    });
    ac.abort();
    await expect(pending).resolves.toMatchObject({ status: 'timed-out', notes: /cancelled/ });
    await eventually(() => {
      expect(existsSync(join(r.queueDir, `${d.id}.proposal.json`))).toBe(false);
    });
  });

  it('times a call out on the host when no operator answers', async () => {
    const r = rig(50);
    await eventually(() => {
      expect(r.sidecar.connected()).toBe(true);
    });
    const got = await r.sidecar.submit(draft(), 50, new AbortController().signal);
    expect(got.status).toBe('timed-out');
    expect(got.notes).toMatch(/no operator answer within 0 s/);
  });

  it('ignores what the sidecar may not say: another bottle, a hash, a broken line, an oversized one', async () => {
    const r = rig();
    // Let the product's link settle, then speak on a raw connection of our own.
    await eventually(() => {
      expect(r.sidecar.connected()).toBe(true);
    });
    await r.kept.stop();
    const bad: string[] = [];
    const lone = superviseRelay({
      slug: 'dev',
      queueDir: r.queueDir,
      currentConfigDir: r.configDir,
      timeoutMs: 60_000,
      onBad: (w) => bad.push(w),
    });
    cleanups.push(() => lone.close());
    const { createServer } = await import('node:net');
    const path = join(tmp('bb-raw-'), 'raw.sock');
    const server = createServer((s) => {
      void lone.attach({ input: s, output: s, destroy: () => s.destroy() });
    });
    await new Promise<void>((res) => server.listen(path, res));
    cleanups.push(() => {
      server.close();
    });
    const c = connect(path);
    const d = draft();
    c.write(
      `${JSON.stringify({ t: 'propose', draft: { ...d, bottleSlug: 'other' } })}\n` +
        `${JSON.stringify({ t: 'propose', draft: { ...d, currentFileHash: '0'.repeat(64) } })}\n` +
        'not json\n',
    );
    await eventually(() => {
      expect(bad).toHaveLength(3);
    });
    c.write('x'.repeat(70 * 1024));
    await eventually(() => {
      expect(bad.at(-1)).toMatch(/oversized/);
    });
    expect(listPending(r.queueDir).proposals).toHaveLength(0);
    c.destroy();
  });
});
