import { EnvironmentError } from '../errors.js';
import type { ContainerFile } from './backend.js';

/**
 * Whole files into a container directory through `exec` stdin, on any
 * engine: a small tar archive made here and a fixed script there that
 * unpacks it next to the target and renames each file into place (a reader
 * sees the old file or the new one, never half of one). The directory is
 * the script's argument, never part of its text.
 */

/** Run as root in the container; `$1` is the directory. */
export const WRITE_FILES_ARGV: readonly string[] = [
  'sh',
  '-c',
  [
    'set -e',
    'd="$1"',
    'mkdir -p -- "$d"',
    'chmod 755 -- "$d"',
    't="$(mktemp -d "$d/.incoming.XXXXXX")"',
    'tar -x -f - -C "$t"',
    'for f in "$t"/*; do mv -f -- "$f" "$d/"; done',
    'rmdir -- "$t"',
  ].join('\n'),
  'sh',
];

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const BLOCK = 512;

function field(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, length, 'ascii');
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, size: number, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  field(h, 0, 100, name);
  field(h, 100, 8, octal(mode & 0o7777, 8));
  field(h, 108, 8, octal(0, 8));
  field(h, 116, 8, octal(0, 8));
  field(h, 124, 12, octal(size, 12));
  field(h, 136, 12, octal(Math.floor(Date.now() / 1000), 12));
  field(h, 148, 8, '        ');
  field(h, 156, 1, '0');
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** A ustar archive of plain files (flat names only). */
export function tarFiles(files: readonly ContainerFile[]): Buffer {
  if (files.length === 0) throw new EnvironmentError('no files to write');
  const parts: Buffer[] = [];
  for (const f of files) {
    if (!NAME_RE.test(f.name)) {
      throw new EnvironmentError(
        `refusing to write ${JSON.stringify(f.name)}: not a plain file name`,
      );
    }
    const body = Buffer.from(f.content, 'utf8');
    parts.push(header(f.name, body.length, f.mode), body);
    const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
