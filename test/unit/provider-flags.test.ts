import { describe, expect, it } from 'vitest';
import { meteredApi } from '../../src/egress/meter.js';
import type { AgentCommandRequest } from '../../src/providers/provider.js';
import {
  PROVIDER_NAMES,
  PROVIDER_REGISTRY,
  type ProviderName,
} from '../../src/providers/registry.js';
import { SUPERVISE_URL } from '../../src/supervise/paths.js';
import { CLI_HELP, readCliHelp } from '../fixtures/cli-help/index.js';

/**
 * Every option a provider passes to its CLI is one the pinned CLI documents
 * in its `--help` (vendored in test/fixtures/cli-help/, re-checked against
 * the real images by test/integration/cli-help.test.ts).
 */

const help = new Map(CLI_HELP.map((h) => [h.command, readCliHelp(h)]));
/** Command paths and their prefixes (`codex mcp` leads to `codex mcp add`). */
const paths = new Set(
  CLI_HELP.flatMap((h) => h.command.split(' ').map((_, i, w) => w.slice(0, i + 1).join(' '))),
);

/** A help text lists `flag` as an option (`-p, --print`, `--model <model>`, `--continue, -c`). */
function documents(text: string, flag: string): boolean {
  const escaped = flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[\\s,])${escaped}(?=[\\s,=<\\[]|$)`, 'm').test(text);
}

/**
 * The options of an argv, each with the command whose help must document
 * it: a word that names a subcommand of the current command (`exec`,
 * `resume`, `mcp add`) moves on to that command's help; `--` ends options.
 */
function optionsByCommand(argv: readonly string[]): { command: string; flag: string }[] {
  let command = argv[0] ?? '';
  const out: { command: string; flag: string }[] = [];
  for (const arg of argv.slice(1)) {
    if (arg === '--') break;
    if (arg.startsWith('-')) out.push({ command, flag: arg.split('=')[0] ?? arg });
    else if (paths.has(`${command} ${arg}`)) command = `${command} ${arg}`;
  }
  return out;
}

const REQUESTS: AgentCommandRequest[] = [
  {},
  { model: 'm' },
  { resume: true, model: 'm' },
  { headless: { prompt: 'say hi' } },
  { headless: { prompt: 'go on' }, resume: true, model: 'm' },
  { superviseTimeoutMs: 60_000 },
  { superviseTimeoutMs: 60_000, resume: true, model: 'm' },
  { headless: { prompt: 'x' }, superviseTimeoutMs: 60_000, resume: true, model: 'm' },
];

function argvsOf(name: ProviderName): string[][] {
  const p = PROVIDER_REGISTRY[name];
  const reg = p.mcpRegistration(SUPERVISE_URL);
  return [
    ...REQUESTS.map((r) => p.command(r).argv),
    ...(reg === undefined ? [] : [reg.add, reg.remove]),
  ];
}

describe.each(PROVIDER_NAMES)('provider %s against its CLI help', (name) => {
  const p = PROVIDER_REGISTRY[name];

  it('is registered under its own name and runs its own binary', () => {
    expect(p.name).toBe(name);
    for (const argv of argvsOf(name)) expect(argv[0]).toBe(p.bin);
  });

  it('passes only options the pinned CLI documents', () => {
    const checked: string[] = [];
    for (const argv of argvsOf(name)) {
      for (const { command, flag } of optionsByCommand(argv)) {
        const text = help.get(command);
        expect(
          text,
          `no vendored help for \`${command}\` (used by ${argv.join(' ')})`,
        ).toBeDefined();
        expect(
          documents(text ?? '', flag),
          `\`${command} --help\` of ${p.npmPackage}@${p.npmVersion} does not list ${flag} (argv: ${argv.join(' ')})`,
        ).toBe(true);
        checked.push(`${command} ${flag}`);
      }
    }
    expect(checked.length).toBeGreaterThan(0);
  });

  it('sends the subcommands it uses to commands the CLI has', () => {
    for (const argv of argvsOf(name)) {
      const words: string[] = [];
      for (const arg of argv.slice(1)) {
        if (arg === '--') break;
        if (!arg.startsWith('-') && paths.has([argv[0], ...words, arg].join(' '))) words.push(arg);
      }
      expect(help.has([argv[0], ...words].join(' '))).toBe(true);
    }
  });

  it('is metered on the API paths its wire speaks', () => {
    const path = p.wire === 'anthropic' ? '/v1/messages' : '/v1/responses';
    expect(p.meteredApis).toContain(meteredApi('POST', path));
  });
});

describe('the flag check itself', () => {
  it('finds an option only as an option', () => {
    const text = help.get('claude') ?? '';
    expect(documents(text, '--dangerously-skip-permissions')).toBe(true);
    expect(documents(text, '-p')).toBe(true);
    expect(documents(text, '--no-such-flag')).toBe(false);
    // `--model` is listed; a prefix of another option is not an option.
    expect(documents(text, '--mod')).toBe(false);
  });

  it('reads the options of a subcommand against that subcommand', () => {
    expect(
      optionsByCommand(['codex', '-c', 'k=v', 'exec', 'resume', '--last', '--', '--fake']),
    ).toEqual([
      { command: 'codex', flag: '-c' },
      { command: 'codex exec resume', flag: '--last' },
    ]);
  });
});

describe('background traffic the bottle would refuse is switched off', () => {
  const guest = (name: ProviderName) =>
    PROVIDER_REGISTRY[name].guest({
      baseUrl: 'https://api.example',
      model: null,
      superviseTimeoutMs: undefined,
    });

  it('claude: no auto-update, telemetry or official marketplace install', () => {
    expect(PROVIDER_REGISTRY.claude.backgroundOff).toEqual({
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL: '1',
    });
  });

  it('codex: no release check and no plugin marketplace sync, in config.toml', () => {
    const toml = guest('codex').files.find((f) => f.path === '.codex/config.toml')?.content ?? '';
    // Top-level keys come before the first table, or TOML files them under it.
    const top = toml.split('\n[')[0] ?? '';
    expect(top).toContain('check_for_update_on_startup = false');
    expect(toml).toMatch(/\n\[features\]\nplugins = false\n/);
  });

  it('pi: offline startup (no version check, install report or tool download)', () => {
    expect(PROVIDER_REGISTRY.pi.backgroundOff).toEqual({ PI_OFFLINE: '1', PI_TELEMETRY: '0' });
    expect(help.get('pi')).toContain('PI_OFFLINE');
    expect(help.get('pi')).toContain('PI_TELEMETRY');
  });
});
