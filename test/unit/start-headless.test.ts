import { describe, expect, it } from 'vitest';
import type { ActiveBottle, Backend } from '../../src/backend/backend.js';
import { main } from '../../src/cli/main.js';
import type { Services } from '../../src/cli/services.js';
import { uniquifyLabel } from '../../src/cli/start.js';
import type { LaunchRecord, SessionRequest } from '../../src/controller/session.js';
import type { Ui } from '../../src/tui/pickers.js';
import { makeFixture, md } from '../helpers/fixture.js';

/**
 * `start --headless` with the engine and the launch core replaced: what a
 * launch is asked to do, decided from flags and config alone.
 */

const repo = {
  '.bot-bottle/bottles/claude.md': md('egress:\n  allow: [api.anthropic.com]'),
  '.bot-bottle/bottles/dev.md': md('env:\n  MODE: dev'),
  '.bot-bottle/agents/researcher.md': md('provider: claude', 'Research things.'),
  '.bot-bottle/agents/implementer.md': md('provider: claude\nbottle: dev', 'Build things.'),
};

function active(slug: string): ActiveBottle {
  return {
    slug,
    label: slug,
    agent: 'researcher',
    provider: 'claude',
    bottles: [],
    identity: `${slug}-x`,
    startedAt: '',
    state: 'running',
    controllerPid: undefined,
    controllerHost: undefined,
  };
}

const noUi: Ui = new Proxy({} as Ui, {
  get: (_t, prop) => () => {
    throw new Error(`picker ${String(prop)} fired`);
  },
});

function harness(
  opts: {
    running?: string[];
    exitCode?: number;
    ui?: Ui;
    interactive?: boolean;
    redactions?: Record<string, number>;
  } = {},
) {
  const fx = makeFixture({ repo });
  const launches: SessionRequest[] = [];
  const backend = {
    name: 'docker',
    enumerateActive: () => Promise.resolve((opts.running ?? []).map(active)),
  } as unknown as Backend; // only enumerateActive is reached before the launch core
  const services: Partial<Services> = {
    backend: () => backend,
    ui: opts.ui ?? noUi,
    interactive: opts.interactive ?? true,
    runSession: (req) => {
      launches.push(req);
      const record: LaunchRecord = {
        outcome: 'ended',
        slug: req.plan.slug,
        label: req.plan.label,
        identity: `${req.plan.slug}-20260101-000000`,
        agent: req.plan.agent.name,
        provider: req.plan.agent.provider,
        bottles: req.plan.bottles.map((b) => b.name),
        runtime: req.plan.runtime.name,
        exitCode: opts.exitCode ?? 0,
        branch: null,
        commits: 0,
        committedLeftovers: false,
        workNote: 'no new commits; no branch was created',
        savedImage: 'bot-bottle-saved:x',
        resumeCommand: 'bot-bottle resume x',
        startedAt: '2026-01-01T00:00:00.000Z',
        endedAt: '2026-01-01T00:00:01.000Z',
        timings: {},
        redactions: opts.redactions ?? {},
      };
      return Promise.resolve(record);
    },
  };
  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, {
      cwd: fx.repo,
      env: { ...fx.env, ...env },
      io: { out: (t) => (stdout += `${t}\n`), err: (t) => (stderr += `${t}\n`) },
      services,
    });
    return { code, stdout, stderr };
  };
  return { fx, run, launches };
}

describe('start --headless', () => {
  it('fires no picker, even on a terminal, and asks for no confirmation', async () => {
    const h = harness({ interactive: true });
    const r = await h.run([
      'start',
      'researcher',
      '--headless',
      '--bottle',
      'claude',
      '--prompt',
      'Do it',
    ]);
    expect(r.stderr).not.toContain('picker');
    expect(r.code).toBe(0);
    expect(h.launches).toHaveLength(1);
    expect(h.launches[0]?.tty).toBe(false);
  });

  it('counts the secrets redacted from LLM requests in the launch record and the summary', async () => {
    const h = harness({ redactions: { 'aws-access-key-id': 1, 'stripe-key': 2 } });
    const r = await h.run([
      'start',
      'researcher',
      '--headless',
      '--json',
      '--bottle',
      'claude',
      '--prompt',
      'Do it',
    ]);
    expect(r.code).toBe(0);
    const record = JSON.parse(r.stdout) as LaunchRecord;
    expect(record.redactions).toEqual({ 'aws-access-key-id': 1, 'stripe-key': 2 });
    expect(r.stderr).toContain(
      'secrets redacted from its LLM requests: aws-access-key-id, stripe-key x2',
    );
  });

  it('requires --prompt', async () => {
    const h = harness();
    const r = await h.run(['start', 'researcher', '--headless', '--bottle', 'claude']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--headless requires --prompt');
    expect(h.launches).toHaveLength(0);
  });

  it('forwards the prompt verbatim', async () => {
    const h = harness();
    const prompt = `Fix "it"; rm -rf / && $(whoami) \`id\`\nsecond line`;
    await h.run(['start', 'researcher', '--headless', '--bottle', 'claude', '--prompt', prompt]);
    expect(h.launches[0]?.headlessPrompt).toBe(prompt);
  });

  it('composes --bottle flags in the order given', async () => {
    const h = harness();
    await h.run([
      'start',
      'researcher',
      '--headless',
      '--bottle',
      'dev',
      '--bottle',
      'claude',
      '--prompt',
      'Do it',
    ]);
    expect(h.launches[0]?.plan.bottles.map((b) => b.name)).toEqual(['dev', 'claude']);
  });

  it("falls back to the agent's default bottle", async () => {
    const h = harness();
    await h.run(['start', 'implementer', '--headless', '--prompt', 'Do it']);
    expect(h.launches[0]?.plan.bottles.map((b) => b.name)).toEqual(['dev']);
  });

  it('fails clearly when there is no --bottle and no default bottle', async () => {
    const h = harness();
    const r = await h.run(['start', 'researcher', '--headless', '--prompt', 'Do it']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "--headless: agent 'researcher' has no default bottle; pass one or more --bottle NAME",
    );
    expect(h.launches).toHaveLength(0);
  });

  it('requires an agent name', async () => {
    const h = harness();
    const r = await h.run(['start', '--headless', '--prompt', 'Do it']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--headless requires an agent name');
  });

  it('rejects an unknown agent with a suggestion', async () => {
    const h = harness();
    const r = await h.run([
      'start',
      'researchr',
      '--headless',
      '--bottle',
      'claude',
      '--prompt',
      'x',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown agent 'researchr'");
    expect(r.stderr).toContain("did you mean 'researcher'");
  });

  it('labels the bottle with the agent name by default', async () => {
    const h = harness();
    await h.run(['start', 'researcher', '--headless', '--bottle', 'claude', '--prompt', 'Do it']);
    expect(h.launches[0]?.plan.label).toBe('researcher');
    expect(h.launches[0]?.plan.slug).toBe('researcher');
    expect(h.launches[0]?.plan.color).toBeNull();
  });

  it('forwards an explicit label and color', async () => {
    const h = harness();
    await h.run([
      'start',
      'researcher',
      '--headless',
      '--bottle',
      'claude',
      '--prompt',
      'Do it',
      '--label',
      'Fix CI',
      '--color',
      'bright-cyan',
    ]);
    expect(h.launches[0]?.plan.label).toBe('Fix CI');
    expect(h.launches[0]?.plan.slug).toBe('fix-ci');
    expect(h.launches[0]?.plan.color).toBe('bright-cyan');
  });

  it('uniquifies a label that a running bottle uses: -2, then -3', async () => {
    const h = harness({ running: ['researcher', 'researcher-2'] });
    const r = await h.run([
      'start',
      'researcher',
      '--headless',
      '--bottle',
      'claude',
      '--prompt',
      'x',
    ]);
    expect(h.launches[0]?.plan.label).toBe('researcher-3');
    expect(r.stderr).toContain("label 'researcher' is in use; using 'researcher-3'");
  });

  it('forwards --backend and rejects an unknown one', async () => {
    const h = harness();
    await h.run([
      'start',
      '--backend=docker',
      'researcher',
      '--headless',
      '--bottle',
      'claude',
      '--prompt',
      'x',
    ]);
    expect(h.launches[0]?.plan.backend).toBe('docker');
    await h.run(['start', 'researcher', '--headless', '--bottle', 'claude', '--prompt', 'x'], {
      BOT_BOTTLE_BACKEND: 'podman',
    });
    expect(h.launches[1]?.plan.backend).toBe('podman');
    const bad = await h.run(
      ['start', 'researcher', '--headless', '--bottle', 'claude', '--prompt', 'x'],
      { BOT_BOTTLE_BACKEND: 'nomad' },
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("BOT_BOTTLE_BACKEND: unknown backend 'nomad'");
    expect(bad.stderr).toContain('available: docker, podman, kubernetes');
  });

  it("propagates the agent CLI's exit code", async () => {
    const h = harness({ exitCode: 7 });
    const r = await h.run([
      'start',
      'researcher',
      '--headless',
      '--bottle',
      'claude',
      '--prompt',
      'x',
    ]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('ended (agent exit 7)');
  });

  it('--json prints the launch record and captures the agent output', async () => {
    const h = harness();
    const r = await h.run([
      'start',
      'researcher',
      '--headless',
      '--bottle',
      'claude',
      '--prompt',
      'x',
      '--json',
    ]);
    expect(h.launches[0]?.captureOutput).toBe(true);
    const record = JSON.parse(r.stdout) as LaunchRecord;
    expect(record).toMatchObject({ outcome: 'ended', slug: 'researcher', exitCode: 0 });
    expect(record.resumeCommand).toBe('bot-bottle resume x');
  });

  it('refuses --prompt without --headless', async () => {
    const h = harness();
    const r = await h.run(['start', 'researcher', '--bottle', 'claude', '--prompt', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--prompt is for headless runs');
  });
});

describe('start, interactive', () => {
  it('asks for agent, bottles, label and color, then confirms', async () => {
    const asked: string[] = [];
    const ui: Ui = {
      pickAgent: (agents) => {
        asked.push(`agent:${agents.map((a) => a.name).join(',')}`);
        return Promise.resolve('implementer');
      },
      pickBottles: (all, pre) => {
        asked.push(`bottles:${all.join(',')}|${pre.join(',')}`);
        return Promise.resolve(['claude', 'dev']);
      },
      labelAndColor: (label) => {
        asked.push(`label:${label}`);
        return Promise.resolve({ label: 'my run', color: 'red' });
      },
      confirm: () => {
        asked.push('confirm');
        return Promise.resolve(true);
      },
      secret: () => Promise.reject(new Error('no secret expected')),
    };
    const h = harness({ ui, running: ['implementer'] });
    const r = await h.run(['start']);
    expect(r.code).toBe(0);
    expect(asked).toEqual([
      'agent:implementer,researcher',
      'bottles:claude,dev|dev',
      'label:implementer-2',
      'confirm',
    ]);
    const plan = h.launches[0]?.plan;
    expect(plan?.bottles.map((b) => b.name)).toEqual(['claude', 'dev']);
    expect(plan?.slug).toBe('my-run');
    expect(plan?.color).toBe('red');
    expect(h.launches[0]?.tty).toBe(true);
  });

  it('launches nothing when the confirmation is declined', async () => {
    const ui: Ui = {
      pickAgent: () => Promise.resolve('implementer'),
      pickBottles: () => Promise.resolve(['dev']),
      labelAndColor: (label) => Promise.resolve({ label, color: undefined }),
      confirm: () => Promise.resolve(false),
      secret: () => Promise.reject(new Error('no secret expected')),
    };
    const h = harness({ ui });
    const r = await h.run(['start', 'implementer']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('not launched; nothing was created');
    expect(h.launches).toHaveLength(0);
  });

  it('without a terminal, a missing agent name is an error, not a picker', async () => {
    const h = harness({ interactive: false });
    const r = await h.run(['start']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no terminal to pick one on');
  });
});

describe('uniquifyLabel', () => {
  it('compares slugs, not raw labels', () => {
    expect(uniquifyLabel('Fix CI', new Set(['fix-ci']))).toBe('Fix CI-2');
    expect(uniquifyLabel('free', new Set(['other']))).toBe('free');
  });
});
