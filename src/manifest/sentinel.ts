import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { ENV_NAME_RE } from './names.js';

/**
 * Where a value comes from. Values are resolved on the host at launch, never
 * at planning time, so a plan can be printed without ever holding a secret.
 */
export type ValueSource =
  /** Written in the config file itself. The value stays out of plans and output. */
  | { kind: 'literal' }
  /** Asked for at launch with hidden input. */
  | { kind: 'prompt' }
  /** Read from the host environment. */
  | { kind: 'env'; name: string }
  /** Read from a host file (trailing newline dropped). */
  | { kind: 'file'; path: string }
  /** The stdout of a host command, run without a shell. */
  | { kind: 'cmd'; command: string; argv: string[] };

export type ValueSourceKind = ValueSource['kind'];

export class SentinelError extends Error {}

/** Human-readable form of a source, safe to print: it never holds the value. */
export function describeSource(s: ValueSource): string {
  switch (s.kind) {
    case 'literal':
      return 'literal (value hidden)';
    case 'prompt':
      return 'asked at launch';
    case 'env':
      return `env:${s.name}`;
    case 'file':
      return `file:${s.path}`;
    case 'cmd':
      return `cmd:${s.command}`;
  }
}

export function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return p;
}

/** Why `raw` is not a well-formed value source, or undefined if it is. */
export function sentinelProblem(raw: string): string | undefined {
  try {
    classifyValue(raw, '/');
    return undefined;
  } catch (e) {
    if (e instanceof SentinelError) return e.message;
    throw e;
  }
}

/**
 * Classify a raw config value. `baseDir` anchors relative `file:` paths (the
 * directory of the file that declares the value). Returns the source and,
 * for literals, the literal text.
 */
export function classifyValue(
  raw: string,
  baseDir: string,
): { source: ValueSource; literal?: string } {
  if (raw === '?') return { source: { kind: 'prompt' } };
  if (raw.startsWith('literal:')) {
    return { source: { kind: 'literal' }, literal: raw.slice('literal:'.length) };
  }
  if (raw.startsWith('env:')) {
    const name = raw.slice(4);
    if (!ENV_NAME_RE.test(name)) {
      throw new SentinelError(
        `'env:' must be followed by an environment variable name, got ${JSON.stringify(name)}`,
      );
    }
    return { source: { kind: 'env', name } };
  }
  if (raw.startsWith('file:')) {
    const p = raw.slice(5).trim();
    if (p === '') throw new SentinelError("'file:' must be followed by a path");
    const expanded = expandHome(p);
    return {
      source: { kind: 'file', path: isAbsolute(expanded) ? expanded : resolve(baseDir, expanded) },
    };
  }
  if (raw.startsWith('cmd:')) {
    const command = raw.slice(4).trim();
    if (command === '') throw new SentinelError("'cmd:' must be followed by a command");
    return { source: { kind: 'cmd', command, argv: splitCommand(command) } };
  }
  return { source: { kind: 'literal' }, literal: raw };
}

const SHELL_OPERATORS = new Set(['|', '||', '&&', ';', '&', '>', '>>', '<', '2>', '2>&1']);

/**
 * Split a `cmd:` value into argv the way a shell would split words, but with
 * no expansion, pipes or redirection: the command runs via execFile, so
 * shell syntax would silently become literal arguments. Reject it instead.
 */
export function splitCommand(command: string): string[] {
  const argv: string[] = [];
  // Words that had quotes or escapes are data even if they spell an operator.
  const bare: boolean[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < command.length; i++) {
    const ch = command.charAt(i);
    if (quote === "'") {
      if (ch === "'") quote = null;
      else cur += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === '\\' && (command[i + 1] === '"' || command[i + 1] === '\\')) {
        cur += command.charAt(++i);
      } else cur += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
      quoted = true;
    } else if (ch === '\\') {
      if (i + 1 >= command.length) throw new SentinelError('cmd: ends with a lone backslash');
      cur += command.charAt(++i);
      inWord = true;
      quoted = true;
    } else if (/\s/.test(ch)) {
      if (inWord) {
        argv.push(cur);
        bare.push(!quoted);
      }
      cur = '';
      inWord = false;
      quoted = false;
    } else {
      if (ch === '$' || ch === '`') {
        throw new SentinelError(
          `cmd: runs without a shell, so '${ch}' expansion is not available; put the logic in a script and name the script`,
        );
      }
      cur += ch;
      inWord = true;
    }
  }
  if (quote !== null) throw new SentinelError(`cmd: has an unclosed ${quote} quote`);
  if (inWord) {
    argv.push(cur);
    bare.push(!quoted);
  }
  for (const [i, a] of argv.entries()) {
    if (bare[i] === true && SHELL_OPERATORS.has(a)) {
      throw new SentinelError(
        `cmd: runs without a shell, so '${a}' is not an operator; put the pipeline in a script and name the script`,
      );
    }
  }
  if (argv.length === 0) throw new SentinelError("'cmd:' must be followed by a command");
  return argv;
}
