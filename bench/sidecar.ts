import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaMaterial } from '../src/egress/ca.js';
import { emptyPolicy } from '../src/egress/config.js';
import { BENCH_HOST } from './stub.js';

export interface RunningSidecar {
  process: ChildProcess;
  port: number;
  stop: () => void;
}

/**
 * An egress sidecar bundle (`egress.mjs`) in its own process, configured
 * through its control socket as at launch, allowing BENCH_HOST at the stub
 * upstream. Its audit log goes to a file, as docker's log driver takes it.
 */
export async function startSidecar(
  bundle: string,
  port: number,
  upstreamPort: number,
  bottleCa: CaMaterial,
  upstreamCa: CaMaterial,
): Promise<RunningSidecar> {
  const runDir = mkdtempSync(join(tmpdir(), 'bb-bench-egress-'));
  const env = { ...process.env, BOT_BOTTLE_RUN_DIR: runDir, BOT_BOTTLE_EGRESS_PORT: String(port) };
  const logFd = openSync(join(runDir, 'audit.log'), 'w');
  const child = spawn(process.execPath, [bundle], { env, stdio: ['ignore', logFd, 'inherit'] });
  const payload = {
    policy: {
      ...emptyPolicy('bench'),
      allow: [BENCH_HOST],
      hosts: { [BENCH_HOST]: `127.0.0.1:${upstreamPort}` },
    },
    secrets: {
      caCertPem: bottleCa.certPem,
      caKeyPem: bottleCa.keyPem,
      upstreamCaPem: upstreamCa.certPem,
      values: {},
    },
  };
  // The control socket appears once the program is up; `ctl` retries until then.
  let out = '';
  for (let i = 0; i < 50 && !out.includes('"ok":true'); i++) {
    out = spawnSync(process.execPath, [bundle, 'ctl', 'configure'], {
      env,
      input: JSON.stringify(payload),
      encoding: 'utf8',
    }).stdout;
    if (!out.includes('"ok":true')) await new Promise((r) => setTimeout(r, 100));
  }
  if (!out.includes('"ok":true')) throw new Error(`sidecar ${bundle} did not configure: ${out}`);
  return {
    process: child,
    port,
    stop: () => {
      child.kill();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
