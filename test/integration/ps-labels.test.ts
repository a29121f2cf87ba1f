import { afterAll, expect, it } from 'vitest';
import { LABEL } from '../../src/backend/backend.js';
import { createBackend } from '../../src/backend/select.js';
import {
  describeDocker,
  dockerOut,
  requireImage,
  testImage,
  uniqueName,
} from '../helpers/docker.js';

/**
 * Bottles are found by their labels only, so a label value must never be
 * able to forge another label: a user's `--label` holding
 * `,dev.bot-bottle.slug=evil` must not turn the bottle into `evil` for
 * `ps`, `stop` or `kill`. A real container on the real engine.
 */
describeDocker('listing bottles reads labels as a map', () => {
  const name = uniqueName('bbtest-labels');
  const slug = name;
  afterAll(() => {
    try {
      dockerOut(['rm', '--force', name]);
    } catch {
      /* already gone */
    }
  });

  it('keeps a label value holding commas and key=value pairs whole', async () => {
    requireImage();
    const hostile = `fix it,${LABEL.slug}=evil,${LABEL.controllerPid}=1,${LABEL.bottles}=x y`;
    const labels: Record<string, string> = {
      'dev.bot-bottle.test': '1',
      [LABEL.role]: 'agent',
      [LABEL.slug]: slug,
      [LABEL.agent]: 'worker',
      [LABEL.provider]: 'claude',
      [LABEL.bottles]: 'base github',
      [LABEL.identity]: `${slug}-20260101-000000`,
      [LABEL.startedAt]: '2026-01-01T00:00:00.000Z',
      [LABEL.label]: hostile,
      [LABEL.controllerHost]: 'host,with=comma',
    };
    dockerOut([
      'run',
      '--detach',
      '--name',
      name,
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      testImage,
      'sleep',
      'infinity',
    ]);
    const active = await createBackend('docker').enumerateActive();
    expect(active.filter((b) => b.slug === 'evil')).toEqual([]);
    const mine = active.filter((b) => b.identity === `${slug}-20260101-000000`);
    expect(mine).toEqual([
      {
        slug,
        label: hostile,
        agent: 'worker',
        provider: 'claude',
        bottles: ['base', 'github'],
        identity: `${slug}-20260101-000000`,
        startedAt: '2026-01-01T00:00:00.000Z',
        state: 'running',
        controllerPid: undefined,
        controllerHost: 'host,with=comma',
      },
    ]);
  });
});
