import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

/** Lint `code` as if it were the file at `path` (an existing file of the project). */
async function lint(path: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
}

describe('import boundaries (eslint no-restricted-imports)', { timeout: 60_000 }, () => {
  it('refuses an engine import outside src/backend, and allows the interface and the selector', async () => {
    const messages = await lint(
      'src/cli/ps.ts',
      [
        "import { DockerBackend } from '../backend/docker/docker-backend.js';",
        "import { PodmanBackend } from '../backend/podman/podman-backend.js';",
        "import type { Backend } from '../backend/backend.js';",
        "import { createBackend } from '../backend/select.js';",
        'export const all: Backend[] = [new DockerBackend(), new PodmanBackend(), createBackend("docker")];',
        '',
      ].join('\n'),
    );
    expect(messages).toHaveLength(2);
    for (const m of messages) expect(m).toContain('Only src/backend/ may know a container engine');
  });

  it('lets the backend folder use its engines', async () => {
    const messages = await lint(
      'src/backend/select.ts',
      "import { DockerBackend } from './docker/docker-backend.js';\nexport const d = new DockerBackend();\n",
    );
    expect(messages).toEqual([]);
  });

  it('refuses host code in the egress proxy and the supervise server', async () => {
    const egress = await lint(
      'src/egress/main.ts',
      "import { openLedger } from '../ledger/open.js';\nexport const o = openLedger;\n",
    );
    expect(egress).toEqual([expect.stringContaining('it may not import host code')]);
    const supervise = await lint(
      'src/supervise/server.ts',
      "import { loadConfig } from '../manifest/load.js';\nexport const l = loadConfig;\n",
    );
    expect(supervise).toEqual([expect.stringContaining('it may not import host code')]);
    // A module the supervise server imports is sidecar code too.
    const queue = await lint(
      'src/supervise/queue.ts',
      "import { runSession } from '../controller/session.js';\nexport const r = runSession;\n",
    );
    expect(queue).toEqual([expect.stringContaining('it may not import host code')]);
  });

  it('refuses engine, host ledger file and host enforcement code in the in-cluster controller', async () => {
    const messages = await lint(
      'src/controller/pod-controller.ts',
      [
        "import { openLedger } from '../ledger/open.js';",
        "import { killBottle } from './enforcement.js';",
        "import { PostgresLedger } from '../ledger/postgres.js';",
        'export const all = [openLedger, killBottle, PostgresLedger];',
        '',
      ].join('\n'),
    );
    expect(messages).toHaveLength(2);
    for (const m of messages) expect(m).toContain('runs in the proxy pod');
  });
});
