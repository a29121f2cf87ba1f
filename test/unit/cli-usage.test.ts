import { afterAll, describe, expect, it } from 'vitest';
import { makeFixture } from '../helpers/fixture.js';

/**
 * Command-line usage errors: exit 2 with a message, and under `--json` the
 * same error as the one JSON object scripts read from stdout.
 */

const fx = makeFixture();
afterAll(() => {
  fx.cleanup();
});

interface JsonError {
  outcome: string;
  error: string;
  exitCode: number;
  message: string;
}

function parseError(stdout: string): JsonError {
  return JSON.parse(stdout) as JsonError;
}

describe('unknown commands', () => {
  it.each([
    [['frobnicate', '--help']],
    [['frobnicate', '-h']],
    [['frobnicate']],
    [['help', 'frobnicate']],
  ])('%j exits 2 naming the command', async (argv) => {
    const r = await fx.run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
    expect(r.stdout).not.toContain('Usage:');
  });

  it('suggests the close command', async () => {
    for (const argv of [['strat', '--help'], ['strat'], ['help', 'strat']]) {
      const r = await fx.run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toContain("unknown command 'strat'");
      expect(r.stderr).toContain("did you mean 'start'?");
    }
  });

  it('does not suggest a command that is not close', async () => {
    const r = await fx.run(['zzzzzzzz', '--help']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('did you mean');
  });

  it('still shows help for known commands and for the program', async () => {
    for (const argv of [['start', '--help'], ['--help'], ['help', 'ps'], ['egress', 'log', '-h']]) {
      const r = await fx.run(argv);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.stdout).toContain('Usage: bot-bottle');
    }
  });

  it('keeps a prompt that looks like a command name an argument', async () => {
    const r = await fx.run(['start', 'frobnicate', '--dry-run', '--prompt', 'strat', '--json']);
    // The agent does not exist: a configuration error, not an unknown command.
    expect(r.stderr).not.toContain('unknown command');
    expect(parseError(r.stdout).outcome).toBe('error');
  });
});

describe('usage errors under --json', () => {
  it.each([
    ['an unknown option', ['ps', '--bogus', '--json'], "unknown option '--bogus'"],
    ['a missing argument', ['stop', '--json'], "missing required argument 'slug'"],
    ['a bad choice', ['start', 'x', '--color', 'mauve', '--json'], "'mauve' is invalid"],
    ['a missing option value', ['start', 'x', '--json', '--label'], "'--label <label>'"],
    ['too many arguments', ['ps', 'extra', '--json'], 'too many arguments'],
    ['an unknown command', ['frobnicate', '--json'], "unknown command 'frobnicate'"],
    ['an unknown command with help', ['frobnicate', '--help', '--json'], 'unknown command'],
    ['an unknown subcommand', ['egress', 'lgo', 'x', '--json'], "unknown command 'lgo'"],
  ])('%s prints the error object and exits 2', async (_name, argv, message) => {
    const r = await fx.run(argv);
    expect(r.code).toBe(2);
    const e = parseError(r.stdout);
    expect(e).toMatchObject({ outcome: 'error', error: 'UsageError', exitCode: 2 });
    expect(e.message).toContain(message);
    expect(e.message).not.toMatch(/^error: /);
    // The human message stays on stderr.
    expect(r.stderr).toContain(message);
  });

  it('prints nothing on stdout for a usage error without --json', async () => {
    const r = await fx.run(['ps', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("unknown option '--bogus'");
  });
});

describe('dashboard', () => {
  it('teaches its keys in --help', async () => {
    const r = await fx.run(['dashboard', '--help']);
    expect(r.code).toBe(0);
    for (const key of [
      'a           approve the selected proposal',
      'm           modify it: opens $EDITOR',
      'r           reject it',
      'c           cut off',
      'f / s / x   freeze / stop / kill',
      'q or Esc    quit',
      '--json',
    ]) {
      expect(r.stdout).toContain(key);
    }
  });

  it('needs a terminal unless --json, and says so', async () => {
    const r = await fx.run(['dashboard']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the dashboard needs a terminal (stdin and stdout)');
    expect(r.stderr).toContain('bot-bottle dashboard --json');
  });

  it('refuses a --since it cannot read', async () => {
    const r = await fx.run(['dashboard', '--since', 'yesterday', '--json']);
    expect(r.code).toBe(2);
    expect(parseError(r.stdout).message).toBe(
      '--since: expected an ISO time (2026-11-21, 2026-11-21T09:00Z) or a span such as 30m, 24h, 7d; got "yesterday"',
    );
  });
});

describe('usage --host', () => {
  it('refuses an empty host name', async () => {
    const r = await fx.run(['usage', '--host', ' ']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--host: expected a host name; got an empty string');
  });

  it('says when a host has no usage', async () => {
    const r = await fx.run(['usage', '--host', 'elsewhere']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no metered usage yet on host elsewhere');
  });
});
