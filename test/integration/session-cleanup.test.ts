import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createBackend } from '../../src/backend/select.js';
import { runSession } from '../../src/controller/session.js';
import type { SavedBottle } from '../../src/controller/state.js';
import { bottlePlanSchema } from '../../src/plan/schema.js';
import { leftovers } from '../helpers/bottle-repo.js';
import { describeDocker, requireImage, testImage } from '../helpers/docker.js';
import { makeFixture, md } from '../helpers/fixture.js';

/**
 * A launch that fails after the controller took the terminal's signals but
 * before anything else: the real launch core on the real engine, with the
 * host ledger made unopenable. The process must get its signals back (a
 * leaked SIGINT handler keeps Ctrl-C from ending it) and nothing may remain.
 */
describeDocker('a launch that fails while acquiring its resources', () => {
  const fx = makeFixture(
    {
      repo: {
        '.bot-bottle/bottles/plain.md': md('egress:\n  allow: [api.anthropic.com]'),
        '.bot-bottle/agents/worker.md': md('provider: claude\nbottle: plain', 'Work.'),
      },
    },
    { BOT_BOTTLE_BASE_IMAGE: testImage },
  );
  afterAll(() => {
    fx.cleanup();
  });

  it('gives back its signal handlers and leaves no docker object when the ledger cannot open', async () => {
    requireImage();
    const label = `cleanup-${process.pid}`;
    const dry = await fx.run(['start', 'worker', '--dry-run', '--json', '--label', label]);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = bottlePlanSchema.parse(JSON.parse(dry.stdout));
    // The ledger file's place is taken by a directory: SQLite cannot open it.
    mkdirSync(join(fx.home, 'bot-bottle.db'), { recursive: true });
    const identity = `${plan.slug}-20260101-000000`;
    // A resume of a "saved" bottle whose image is the base image: no agent image build.
    const saved: SavedBottle = {
      identity,
      slug: plan.slug,
      label: plan.label,
      agent: plan.agent.name,
      provider: plan.agent.provider,
      bottles: plan.bottles.map((b) => b.name),
      color: null,
      image: testImage,
      reason: 'ended',
      savedAt: '2026-01-01T00:00:00.000Z',
      startedAt: '2026-01-01T00:00:00.000Z',
      repo: null,
      baseCommit: null,
      branch: null,
      exitCode: 0,
      plan,
    };
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const lines: string[] = [];
    await expect(
      runSession({
        plan,
        backend: createBackend('docker'),
        env: fx.env,
        literals: new Map(),
        agentPrompt: '',
        headlessPrompt: 'x',
        tty: false,
        captureOutput: true,
        resume: saved,
        ask: undefined,
        progress: (l) => lines.push(l),
        supervise: false,
      }),
    ).rejects.toThrow(/database|open/i);
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(before);
    expect(leftovers(plan.slug)).toBe('');
  });
});
