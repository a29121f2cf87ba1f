import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tarDirectory, tarWorkspace, type TarStream } from '../../src/controller/provision.js';

/**
 * The workspace and home archives are made in-process (not by the host's
 * tar, which on macOS is bsdtar): what goes in is what git would keep, links
 * stay links, and the archive is one any tar unpacks.
 */

const dirs: string[] = [];
const tmp = (p: string): string => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function unpack(t: TarStream): Promise<string> {
  const chunks: Buffer[] = [];
  t.stream.on('data', (c: Buffer) => chunks.push(c));
  await t.done;
  const out = tmp('bb-untar-');
  execFileSync('tar', ['-x', '-f', '-', '-C', out], { input: Buffer.concat(chunks) });
  return out;
}

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
    cwd,
    encoding: 'utf8',
  });

describe('the workspace archive', () => {
  it('holds what git keeps and .git whole; not ignored, deleted or outside files', async () => {
    const ws = tmp('bb-ws-');
    const outside = tmp('bb-outside-');
    writeFileSync(join(outside, 'secret'), 'host secret\n');
    git(ws, 'init', '-q', '-b', 'main');
    writeFileSync(join(ws, '.gitignore'), 'ignored.log\nbuild/\n');
    writeFileSync(join(ws, 'tracked.txt'), 'tracked\n');
    writeFileSync(join(ws, 'gone.txt'), 'soon deleted\n');
    mkdirSync(join(ws, 'src', 'deep'), { recursive: true });
    writeFileSync(join(ws, 'src', 'deep', 'a file with spaces.ts'), 'x\n');
    git(ws, 'add', '.');
    git(ws, 'commit', '-q', '-m', 'first');
    unlinkSync(join(ws, 'gone.txt'));
    writeFileSync(join(ws, 'untracked.txt'), 'new\n');
    writeFileSync(join(ws, 'ignored.log'), 'ignored\n');
    mkdirSync(join(ws, 'build'));
    writeFileSync(join(ws, 'build', 'out.bin'), 'built\n');
    symlinkSync(join(outside, 'secret'), join(ws, 'link-out'));

    const out = await unpack(await tarWorkspace(ws));
    expect(readFileSync(join(out, 'tracked.txt'), 'utf8')).toBe('tracked\n');
    expect(readFileSync(join(out, 'untracked.txt'), 'utf8')).toBe('new\n');
    expect(existsSync(join(out, 'src', 'deep', 'a file with spaces.ts'))).toBe(true);
    expect(existsSync(join(out, 'ignored.log'))).toBe(false);
    expect(existsSync(join(out, 'build'))).toBe(false);
    expect(existsSync(join(out, 'gone.txt'))).toBe(false);
    // The link is copied as a link: the host file it names is not read.
    expect(lstatSync(join(out, 'link-out')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(out, 'link-out'))).toBe(join(outside, 'secret'));
    // History travels: the commit is there.
    expect(git(out, 'log', '--format=%s')).toBe('first\n');
  });

  it('outside a git repository is the whole directory', async () => {
    const dir = tmp('bb-plain-');
    mkdirSync(join(dir, 'a'));
    writeFileSync(join(dir, 'a', 'b.txt'), 'b\n');
    const out = await unpack(await tarWorkspace(dir));
    expect(readFileSync(join(out, 'a', 'b.txt'), 'utf8')).toBe('b\n');
  });

  it('a staged home keeps modes', async () => {
    const dir = tmp('bb-home-');
    mkdirSync(join(dir, '.ssh'), { mode: 0o700 });
    writeFileSync(join(dir, '.ssh', 'key'), 'k\n', { mode: 0o600 });
    const out = await unpack(tarDirectory(dir));
    expect(lstatSync(join(out, '.ssh', 'key')).mode & 0o777).toBe(0o600);
  });
});
