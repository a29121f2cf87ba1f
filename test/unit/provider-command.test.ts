import { describe, expect, it } from 'vitest';
import { agentCommand } from '../../src/providers/command.js';
import { PROVIDERS } from '../../src/manifest/schema.js';

describe('agent CLI argv', () => {
  it.each([
    ['claude', {}, ['claude', '--dangerously-skip-permissions']],
    [
      'claude',
      { headless: { prompt: 'say hi' } },
      ['claude', '--dangerously-skip-permissions', '-p', '--', 'say hi'],
    ],
    [
      'claude',
      { model: 'opus', resume: true },
      ['claude', '--dangerously-skip-permissions', '--model', 'opus', '--continue'],
    ],
    [
      'claude',
      { headless: { prompt: 'go on' }, model: 'opus', resume: true },
      [
        'claude',
        '--dangerously-skip-permissions',
        '--model',
        'opus',
        '--continue',
        '-p',
        '--',
        'go on',
      ],
    ],
    ['codex', {}, ['codex', '--dangerously-bypass-approvals-and-sandbox']],
    [
      'codex',
      { headless: { prompt: 'say hi' } },
      [
        'codex',
        'exec',
        '--dangerously-bypass-approvals-and-sandbox',
        '--skip-git-repo-check',
        '--',
        'say hi',
      ],
    ],
    [
      'codex',
      { resume: true },
      ['codex', 'resume', '--last', '--dangerously-bypass-approvals-and-sandbox'],
    ],
    [
      'codex',
      { headless: { prompt: 'go on' }, resume: true, model: 'gpt-5' },
      [
        'codex',
        'exec',
        'resume',
        '--last',
        '--dangerously-bypass-approvals-and-sandbox',
        '--skip-git-repo-check',
        '--model',
        'gpt-5',
        '--',
        'go on',
      ],
    ],
    ['pi', {}, ['pi']],
    ['pi', { headless: { prompt: 'say hi' }, model: 'sonnet' }, ['pi', '--model', 'sonnet', '-p']],
    ['pi', { resume: true }, ['pi', '--continue']],
  ] as const)('%s %j', (provider, req, argv) => {
    expect(agentCommand(provider, req).argv).toEqual(argv);
  });

  it('keeps a hostile prompt as one argument or as the input', () => {
    const prompt = '"; rm -rf / #\n$(curl evil) `id`';
    for (const p of PROVIDERS) {
      const { argv, stdin } = agentCommand(p, { headless: { prompt } });
      const carriers = [...argv, ...(stdin === undefined ? [] : [stdin])];
      expect(carriers.filter((a) => a.includes('rm -rf'))).toEqual([prompt]);
    }
  });

  // A prompt the CLI would parse as its own flags, a file reference (pi's
  // `@file`), or the option terminator itself.
  const flagLike = ['--help me', '-p x', '--model evil', '-', '--', '@/etc/passwd', '--version'];

  it.each(flagLike)(
    'hands the prompt %j to claude and codex after the end of options',
    (prompt) => {
      for (const p of ['claude', 'codex'] as const) {
        for (const resume of [false, true]) {
          const { argv, stdin } = agentCommand(p, { headless: { prompt }, resume, model: 'm' });
          expect(stdin).toBeUndefined();
          // Exactly one `--` before the prompt, and the prompt is the last element.
          expect(argv.at(-1)).toBe(prompt);
          expect(argv.at(-2)).toBe('--');
          expect(argv.slice(0, -2)).not.toContain('--');
          expect(argv.slice(0, -2)).not.toContain(prompt);
        }
      }
    },
  );

  it.each(flagLike)('hands the prompt %j to pi on standard input, never in argv', (prompt) => {
    for (const resume of [false, true]) {
      const { argv, stdin } = agentCommand('pi', { headless: { prompt }, resume, model: 'm' });
      expect(stdin).toBe(prompt);
      expect(argv).not.toContain(prompt);
      expect(argv.at(-1)).toBe('-p');
    }
  });

  it('gives an interactive CLI no input', () => {
    for (const p of PROVIDERS) expect(agentCommand(p, {}).stdin).toBeUndefined();
  });
});
