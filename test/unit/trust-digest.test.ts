import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decideTrust, diffEntries } from '../../src/trust/assess.js';
import {
  digestOf,
  layerDigest,
  MAX_LAYER_ENTRIES,
  type LayerDigest,
} from '../../src/trust/digest.js';
import { md, writeTree, type FileTree } from '../helpers/fixture.js';

const LAYER: FileTree = {
  '.bot-bottle/bottles/dev.md': md('env:\n  X: cmd:gh auth token'),
  '.bot-bottle/agents/coder.md': md('provider: claude\nbottle: dev', 'Be brief.'),
  '.bot-bottle/skills/review/SKILL.md': '---\nname: review\n---\nReview.\n',
  '.bot-bottle/skills/review/scripts/check.sh': 'echo ok\n',
  'bot-bottle.json': JSON.stringify({ bottles: { web: {} } }),
  'README.md': 'not part of the layer\n',
};

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function repo(tree: FileTree = LAYER): string {
  const root = mkdtempSync(join(tmpdir(), 'bb-trust-'));
  roots.push(root);
  writeTree(root, tree);
  return root;
}

function digest(root: string): string {
  const d = layerDigest(root);
  if (!d.ok) throw new Error(`refused: ${d.path} ${d.problem}`);
  return d.digest;
}

function refused(d: LayerDigest): { path: string; problem: string } {
  if (d.ok) throw new Error('expected the layer to be refused');
  return d;
}

describe('repository layer digest', () => {
  it('covers every file of the layer: entity files, every skill file, bot-bottle.json, dotfiles', () => {
    const root = repo();
    const d = layerDigest(root);
    expect(d.ok && d.entries.map((e) => `${e.kind} ${e.path}`)).toEqual([
      'dir .bot-bottle',
      'dir .bot-bottle/agents',
      'file .bot-bottle/agents/coder.md',
      'dir .bot-bottle/bottles',
      'file .bot-bottle/bottles/dev.md',
      'dir .bot-bottle/skills',
      'dir .bot-bottle/skills/review',
      'file .bot-bottle/skills/review/SKILL.md',
      'dir .bot-bottle/skills/review/scripts',
      'file .bot-bottle/skills/review/scripts/check.sh',
      'file bot-bottle.json',
    ]);
    const base = digest(root);
    for (const rel of [
      '.bot-bottle/bottles/dev.md',
      '.bot-bottle/agents/coder.md',
      '.bot-bottle/skills/review/SKILL.md',
      '.bot-bottle/skills/review/scripts/check.sh',
      'bot-bottle.json',
    ]) {
      const other = repo();
      writeFileSync(join(other, rel), 'changed\n');
      expect(digest(other), rel).not.toBe(base);
    }
    // A dotfile the loader skips still changes the digest: nothing in the layer is ignored.
    const dot = repo();
    writeFileSync(join(dot, '.bot-bottle/bottles/.hidden.md'), 'x');
    expect(digest(dot)).not.toBe(base);
  });

  it('files outside the layer do not count', () => {
    const a = repo();
    const b = repo();
    writeFileSync(join(b, 'README.md'), 'edited\n');
    writeFileSync(join(b, 'src.ts'), 'new\n');
    expect(digest(a)).toBe(digest(b));
  });

  it('is independent of the order files were created and listed in', () => {
    const entries = Object.entries(LAYER);
    const forward = repo(Object.fromEntries(entries));
    const backward = repo(Object.fromEntries([...entries].reverse()));
    expect(digest(forward)).toBe(digest(backward));
    const d = layerDigest(forward);
    if (!d.ok) throw new Error('refused');
    expect(digestOf([...d.entries].reverse())).toBe(d.digest);
  });

  it('changes on a rename: a renamed skill, a renamed file with the same content', () => {
    const root = repo();
    const base = digest(root);
    renameSync(join(root, '.bot-bottle/skills/review'), join(root, '.bot-bottle/skills/rev'));
    expect(digest(root)).not.toBe(base);
    const other = repo();
    renameSync(
      join(other, '.bot-bottle/skills/review/scripts/check.sh'),
      join(other, '.bot-bottle/skills/review/scripts/check2.sh'),
    );
    expect(digest(other)).not.toBe(base);
  });

  it('changes on an added skill file, an added empty directory, a removed file', () => {
    const base = digest(repo());
    const added = repo();
    writeFileSync(join(added, '.bot-bottle/skills/review/extra.md'), '');
    expect(digest(added)).not.toBe(base);
    const dir = repo();
    mkdirSync(join(dir, '.bot-bottle/skills/review/empty'));
    expect(digest(dir)).not.toBe(base);
    const removed = repo();
    unlinkSync(join(removed, 'bot-bottle.json'));
    expect(digest(removed)).not.toBe(base);
  });

  it('a bot-bottle.json alone is a layer; an empty file and no file differ', () => {
    const only = repo({ 'bot-bottle.json': '{}' });
    const d = layerDigest(only);
    expect(d.ok && d.entries.map((e) => e.path)).toEqual(['bot-bottle.json']);
    const empty = repo({ 'bot-bottle.json': '' });
    const none = repo({});
    expect(digest(empty)).not.toBe(digest(none));
  });

  it('file content and name bytes cannot be confused with the record format', () => {
    // A name holding what looks like a record separator or JSON is refused or distinct.
    const a = repo({ '.bot-bottle/skills/x/a",null]': 'x' });
    const b = repo({ '.bot-bottle/skills/x/a': 'x' });
    expect(digest(a)).not.toBe(digest(b));
  });

  describe('refuses what it cannot pin by content', () => {
    it.each([
      ['an entity file', '.bot-bottle/bottles/dev.md'],
      ['bot-bottle.json', 'bot-bottle.json'],
      ['a skill directory', '.bot-bottle/skills/review'],
      ['the bottles directory', '.bot-bottle/bottles'],
    ])('a symlink as %s', (_what, rel) => {
      const root = repo();
      const target = join(root, 'elsewhere');
      renameSync(join(root, rel), target);
      symlinkSync(target, join(root, rel));
      const r = refused(layerDigest(root));
      expect(r.path).toBe(rel);
      expect(r.problem).toContain('symbolic link');
    });

    it('the layer directory itself as a symlink', () => {
      const root = repo();
      renameSync(join(root, '.bot-bottle'), join(root, 'real-layer'));
      symlinkSync(join(root, 'real-layer'), join(root, '.bot-bottle'));
      expect(refused(layerDigest(root)).path).toBe('.bot-bottle');
    });

    it('a dangling symlink as an entity file', () => {
      const root = repo();
      symlinkSync('/nonexistent/x.md', join(root, '.bot-bottle/bottles/ghost.md'));
      expect(refused(layerDigest(root)).path).toBe('.bot-bottle/bottles/ghost.md');
    });

    it('a FIFO', () => {
      const root = repo();
      execFileSync('mkfifo', [join(root, '.bot-bottle/skills/review/pipe')]);
      const r = refused(layerDigest(root));
      expect(r.path).toBe('.bot-bottle/skills/review/pipe');
      expect(r.problem).toContain('not a regular file or directory');
    });

    it('a name with a control character, a name that is not UTF-8', () => {
      const root = repo();
      writeFileSync(join(root, '.bot-bottle/skills/review/a\nb'), 'x');
      expect(refused(layerDigest(root)).problem).toContain('control character');
      const bad = repo();
      const dir = Buffer.from(join(bad, '.bot-bottle/skills/review/'));
      writeFileSync(Buffer.concat([dir, Buffer.from([0x66, 0xff, 0x66])]), 'x');
      expect(refused(layerDigest(bad)).problem).toContain('not valid UTF-8');
    });

    it(`a layer of more than ${MAX_LAYER_ENTRIES} entries`, () => {
      const root = repo();
      const dir = join(root, '.bot-bottle/skills/review/many');
      mkdirSync(dir);
      for (let i = 0; i < MAX_LAYER_ENTRIES; i++) writeFileSync(join(dir, String(i)), '');
      expect(refused(layerDigest(root)).problem).toContain(`more than ${MAX_LAYER_ENTRIES}`);
    }, 60_000); // ten thousand files to create on a shared machine
  });

  it('inside a skill, a link is hashed by its target text (it enters the bottle as a link)', () => {
    const root = repo();
    symlinkSync('/etc/passwd', join(root, '.bot-bottle/skills/review/outside'));
    const d = layerDigest(root);
    expect(d.ok && d.entries.find((e) => e.path.endsWith('outside'))?.kind).toBe('link');
    const before = digest(root);
    unlinkSync(join(root, '.bot-bottle/skills/review/outside'));
    symlinkSync('/etc/shadow', join(root, '.bot-bottle/skills/review/outside'));
    expect(digest(root)).not.toBe(before);
  });
});

describe('trust decision', () => {
  it('trusted only when the digest matches; a change lists what changed', () => {
    const root = repo();
    const first = layerDigest(root);
    if (!first.ok) throw new Error('refused');
    const record = {
      version: 1 as const,
      root,
      digest: first.digest,
      trustedAt: '2026-01-01T00:00:00.000Z',
      entries: first.entries,
    };
    expect(decideTrust(root, first, { record }).state).toBe('trusted');
    expect(decideTrust(root, first, { record: undefined }).state).toBe('untrusted');
    writeFileSync(
      join(root, '.bot-bottle/bottles/dev.md'),
      md('env:\n  Y: file:~/.aws/credentials'),
    );
    writeFileSync(join(root, '.bot-bottle/skills/review/new.md'), 'x');
    unlinkSync(join(root, 'bot-bottle.json'));
    const t = decideTrust(root, layerDigest(root), { record });
    expect(t.state).toBe('changed');
    expect(t.changes).toEqual([
      { path: '.bot-bottle/bottles/dev.md', change: 'modified' },
      { path: '.bot-bottle/skills/review/new.md', change: 'added' },
      { path: 'bot-bottle.json', change: 'removed' },
    ]);
  });

  it('a layer that cannot be hashed is never trusted, even with a record', () => {
    const root = repo();
    const first = layerDigest(root);
    if (!first.ok) throw new Error('refused');
    const record = { version: 1 as const, root, digest: first.digest, trustedAt: 'x', entries: [] };
    renameSync(join(root, 'bot-bottle.json'), join(root, 'b.json'));
    symlinkSync(join(root, 'b.json'), join(root, 'bot-bottle.json'));
    const t = decideTrust(root, layerDigest(root), { record });
    expect(t.state).toBe('changed');
    expect(t.digest).toBeNull();
    expect(t.problem).toContain('bot-bottle.json is a symbolic link');
  });

  it('diffEntries sees a file turned into a directory', () => {
    expect(
      diffEntries(
        [{ path: 'a', kind: 'file', sha256: 'x' }],
        [{ path: 'a', kind: 'dir', sha256: null }],
      ),
    ).toEqual([{ path: 'a', change: 'modified' }]);
  });
});
