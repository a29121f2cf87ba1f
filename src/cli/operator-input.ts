import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { splitCommand } from '../manifest/sentinel.js';

/** What an operator hands a change: `--value` sources, a `--file`, or an edit in $EDITOR. */

/** `--value 'HOST HEADER=SOURCE'`, repeatable. */
export function parseValues(raw: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of raw) {
    const m = /^\s*(\S+)\s+([^\s=]+)=(.+)$/.exec(v);
    if (m === null) {
      throw new UsageError(
        `--value ${JSON.stringify(v)}: expected 'HOST HEADER=SOURCE', e.g. 'api.github.com authorization=env:GH_TOKEN'`,
      );
    }
    out.set(`${(m[1] ?? '').toLowerCase()} ${(m[2] ?? '').toLowerCase()}`, m[3] ?? '');
  }
  return out;
}

export function readFileArg(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Open the operator's editor on `text`; returns the edited text (the same text: no change). */
export function editText(env: NodeJS.ProcessEnv, name: string, text: string): string {
  const editor = env.VISUAL ?? env.EDITOR ?? 'vi';
  const argv = splitCommand(editor);
  const dir = mkdtempSync(join(tmpdir(), 'bot-bottle-edit-'));
  const file = join(dir, name);
  try {
    writeFileSync(file, text, { mode: 0o600 });
    const r = spawnSync(argv[0] ?? 'vi', [...argv.slice(1), file], { stdio: 'inherit', env });
    if (r.error !== undefined || r.status !== 0) {
      throw new UsageError(
        `the editor (${editor}) ${r.error === undefined ? `exited with ${r.status ?? r.signal}` : `could not start: ${r.error.message}`}; nothing was changed`,
        'set EDITOR (or VISUAL) to your editor',
      );
    }
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
