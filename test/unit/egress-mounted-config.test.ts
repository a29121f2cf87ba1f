import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCa } from '../../src/egress/ca.js';
import { emptyPolicy } from '../../src/egress/config.js';

/**
 * The egress sidecar as the Kubernetes proxy pod runs it: policy and
 * secrets are mounted files (a ConfigMap and a Secret), loaded at start,
 * with no `ctl configure`.
 */

const BUNDLE = join(import.meta.dirname, '..', '..', 'dist', 'sidecar', 'egress.mjs');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => {
        resolve(typeof a === 'object' && a !== null ? a.port : 0);
      });
    });
  });
}

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function startSidecar(env: NodeJS.ProcessEnv): Promise<{ lines: string[]; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BUNDLE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), 10_000);
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines.push(...parts);
      if (parts.some((l) => l.includes('"kind":"ready"'))) child.kill('SIGTERM');
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ lines, code });
    });
  });
}

describe('egress sidecar with mounted configuration', () => {
  it('loads the mounted policy and secrets at start and listens', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bb-egress-mounted-'));
    const run = join(dir, 'run');
    mkdirSync(run);
    const ca = await createCa('k8s-test');
    writeFileSync(
      join(dir, 'policy.json'),
      JSON.stringify({ ...emptyPolicy('k8s-test'), revision: 1 }),
    );
    writeFileSync(
      join(dir, 'secrets.json'),
      JSON.stringify({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, upstreamCaPem: '', values: {} }),
    );
    const port = await freePort();
    const r = await startSidecar({
      PATH: process.env.PATH,
      BOT_BOTTLE_RUN_DIR: run,
      BOT_BOTTLE_EGRESS_PORT: String(port),
      BOT_BOTTLE_EGRESS_LOAD_AT_START: '1',
      BOT_BOTTLE_EGRESS_POLICY_FILE: join(dir, 'policy.json'),
      BOT_BOTTLE_EGRESS_SECRETS_FILE: join(dir, 'secrets.json'),
    });
    const ready = r.lines.map(
      (l) => JSON.parse(l) as { kind: string; port?: number; revision?: number },
    );
    expect(ready).toContainEqual(expect.objectContaining({ kind: 'ready', port, revision: 1 }));
  });

  it('exits with the reason when a mounted file is not a valid policy', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bb-egress-mounted-'));
    const run = join(dir, 'run');
    mkdirSync(run);
    writeFileSync(join(dir, 'policy.json'), JSON.stringify({ slug: 'x' }));
    writeFileSync(join(dir, 'secrets.json'), '{}');
    const r = await startSidecar({
      PATH: process.env.PATH,
      BOT_BOTTLE_RUN_DIR: run,
      BOT_BOTTLE_EGRESS_PORT: String(await freePort()),
      BOT_BOTTLE_EGRESS_LOAD_AT_START: '1',
      BOT_BOTTLE_EGRESS_POLICY_FILE: join(dir, 'policy.json'),
      BOT_BOTTLE_EGRESS_SECRETS_FILE: join(dir, 'secrets.json'),
    });
    expect(r.code).toBe(1);
    expect(r.lines.join('\n')).toMatch(/"kind":"error","error":"policy: /);
  });

  it('keeps the readiness mark only while the controller is linked, on the socket it is given', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bb-egress-mounted-'));
    const run = join(dir, 'run');
    const shared = join(dir, 'link');
    mkdirSync(run);
    mkdirSync(shared);
    const ca = await createCa('k8s-test');
    writeFileSync(
      join(dir, 'policy.json'),
      JSON.stringify({ ...emptyPolicy('k8s-test'), revision: 1 }),
    );
    writeFileSync(
      join(dir, 'secrets.json'),
      JSON.stringify({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, upstreamCaPem: '', values: {} }),
    );
    const mark = join(run, 'ready');
    // A mark left by an earlier run of the container in the same pod is stale.
    writeFileSync(mark, '');
    const socket = join(shared, 'controller.sock');
    const child = spawn(process.execPath, [BUNDLE], {
      env: {
        PATH: process.env.PATH,
        BOT_BOTTLE_RUN_DIR: run,
        BOT_BOTTLE_EGRESS_PORT: String(await freePort()),
        BOT_BOTTLE_EGRESS_LOAD_AT_START: '1',
        BOT_BOTTLE_EGRESS_POLICY_FILE: join(dir, 'policy.json'),
        BOT_BOTTLE_EGRESS_SECRETS_FILE: join(dir, 'secrets.json'),
        BOT_BOTTLE_CONTROLLER_LINK: '1',
        BOT_BOTTLE_CONTROLLER_SOCKET: socket,
        BOT_BOTTLE_EGRESS_READY_FILE: mark,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const until = async (ok: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await until(() => out.includes('"kind":"ready"'), 'the proxy to listen');
      expect(existsSync(mark)).toBe(false);
      const c = connect(socket);
      await until(() => existsSync(mark), 'the mark once linked');
      c.destroy();
      await until(() => !existsSync(mark), 'the mark to go with the link');
    } finally {
      child.kill('SIGTERM');
    }
  });
});
