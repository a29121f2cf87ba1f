import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createCa, LeafMinter, type CaMaterial } from '../src/egress/ca.js';

/** The benchmarks' host name for their stub upstream. */
export const BENCH_HOST = 'bench.test';

export interface StubUpstream {
  process: ChildProcess;
  port: number;
  /** The CA that signed the stub's certificate (what a proxy must trust upstream). */
  ca: CaMaterial;
}

/** bench/stub-upstream.mjs in its own process, with a certificate for BENCH_HOST. */
export async function startStubUpstream(): Promise<StubUpstream> {
  const ca = await createCa('bench-upstream');
  const leaf = await new LeafMinter(ca).leaf(BENCH_HOST);
  const child = spawn(process.execPath, [join(import.meta.dirname, 'stub-upstream.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin.end(JSON.stringify({ cert: leaf.certPem, key: leaf.keyPem }));
  const port = await new Promise<number>((resolve) => {
    child.stdout.once('data', (d: Buffer) => {
      resolve(Number(d.toString().trim()));
    });
  });
  return { process: child, port, ca };
}
