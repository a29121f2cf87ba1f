import { describe, expect, it } from 'vitest';
import {
  classifyValue,
  describeSource,
  SentinelError,
  splitCommand,
} from '../../src/manifest/sentinel.js';

describe('env sentinels', () => {
  it.each([
    ['plain value', { kind: 'literal' }],
    ['?', { kind: 'prompt' }],
    ['env:GH_TOKEN', { kind: 'env', name: 'GH_TOKEN' }],
    ['file:/run/secrets/x', { kind: 'file', path: '/run/secrets/x' }],
    ['file:rel/x', { kind: 'file', path: '/base/dir/rel/x' }],
    ['cmd:gh auth token', { kind: 'cmd', command: 'gh auth token', argv: ['gh', 'auth', 'token'] }],
    ['literal:env:NOT_A_LOOKUP', { kind: 'literal' }],
  ])('%s', (raw, source) => {
    expect(classifyValue(raw, '/base/dir').source).toEqual(source);
  });

  it('keeps the literal text for literals, including escaped sentinels', () => {
    expect(classifyValue('literal:env:X', '/').literal).toBe('env:X');
    expect(classifyValue('hello', '/').literal).toBe('hello');
    expect(classifyValue('env:X', '/').literal).toBeUndefined();
  });

  it('never describes a literal by its value', () => {
    expect(describeSource(classifyValue('hunter2', '/').source)).toBe('literal (value hidden)');
  });
});

describe('cmd: splitting (no shell)', () => {
  it.each([
    ['gh auth token', ['gh', 'auth', 'token']],
    ["printf '%s\\n' 'a b'", ['printf', '%s\\n', 'a b']],
    ['echo "a \\"quoted\\" word"', ['echo', 'a "quoted" word']],
    ['a\\ b c', ['a b', 'c']],
    ["op read 'op://vault/item/field'", ['op', 'read', 'op://vault/item/field']],
    ["x ''", ['x', '']],
  ])('%s', (cmd, argv) => {
    expect(splitCommand(cmd)).toEqual(argv);
  });

  it.each([
    ['gh auth token | cat', "'|'"],
    ['a && b', "'&&'"],
    ['a ; b', "';'"],
    ['a > /tmp/x', "'>'"],
    ['echo $HOME', "'$'"],
    ['echo `id`', "'`'"],
    ["echo 'open", 'unclosed'],
    ['echo \\', 'backslash'],
  ])('rejects %s', (cmd, fragment) => {
    expect(() => splitCommand(cmd)).toThrow(SentinelError);
    expect(() => splitCommand(cmd)).toThrow(fragment);
  });

  it('quoted operators are plain arguments', () => {
    expect(splitCommand("grep '|' file")).toEqual(['grep', '|', 'file']);
  });
});
