import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  ImageBuildError,
  type EnsureImageOptions,
  type EnsureImageResult,
} from '../../src/backend/backend.js';
import { createBackend } from '../../src/backend/select.js';
import type { ImageRecipe } from '../../src/providers/recipe.js';

import {
  describeDocker,
  dockerOut,
  requireImage,
  testImage,
  uniqueName,
} from '../helpers/docker.js';

const ensureImage = (r: ImageRecipe, o: EnsureImageOptions): Promise<EnsureImageResult> =>
  createBackend('docker').images.ensure(r, o);

describeDocker('image builds (real docker)', () => {
  const logDir = mkdtempSync(join(tmpdir(), 'bb-build-'));
  const name = uniqueName('bot-bottle-test-img');
  const tags: string[] = [];
  afterAll(() => {
    for (const t of tags) {
      try {
        dockerOut(['rmi', '-f', t]);
      } catch {
        /* already gone */
      }
    }
    rmSync(logDir, { recursive: true, force: true });
  });

  const recipe = (marker: string): ImageRecipe => ({
    name,
    base: testImage,
    dockerfile: `FROM ${testImage}\nCOPY note.txt /note.txt\nRUN echo ${marker} > /marker\n`,
    files: { 'note.txt': `note ${marker}\n` },
  });

  it('builds once, labels the image, and reuses it while the recipe is unchanged', async () => {
    requireImage();
    const progress: string[] = [];
    const first = await ensureImage(recipe('one'), {
      logDir,
      onProgress: (l: string) => progress.push(l),
    });
    tags.push(first.tag);
    expect(first.built).toBe(true);
    expect(progress[0]).toContain(`building ${first.tag}`);
    // --label adds steps of its own, so only the step text is fixed
    expect(progress.some((l) => /step \d+\/\d+: RUN echo one > \/marker$/.test(l))).toBe(true);
    expect(
      execFileSync('docker', ['run', '--rm', first.tag, 'cat', '/marker', '/note.txt'], {
        encoding: 'utf8',
      }),
    ).toBe('one\nnote one\n');
    expect(
      dockerOut([
        'image',
        'inspect',
        '--format',
        '{{index .Config.Labels "dev.bot-bottle.recipe"}}',
        first.tag,
      ]),
    ).toBe(first.hash);

    const again = await ensureImage(recipe('one'), { logDir });
    expect(again).toMatchObject({ tag: first.tag, built: false });

    const changed = await ensureImage(recipe('two'), { logDir });
    tags.push(changed.tag);
    expect(changed.built).toBe(true);
    expect(changed.tag).not.toBe(first.tag);
  });

  it('a failing step is named, with the log tail and the full log kept', async () => {
    const bad: ImageRecipe = {
      ...recipe('bad'),
      dockerfile: `FROM ${testImage}\nRUN echo about-to-fail && exit 7\n`,
    };
    const err = await ensureImage(bad, { logDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageBuildError);
    const e = err as ImageBuildError;
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(/failed at step 2\/\d+: RUN echo about-to-fail && exit 7/);
    expect(e.message).toContain('| about-to-fail');
    const logPath = e.data.logPath as string;
    expect(existsSync(logPath)).toBe(true);
    expect(readFileSync(logPath, 'utf8')).toContain('about-to-fail');
    expect(e.hint).toBe(`full log: ${logPath}`);
  });

  it('a missing base image is an environment error with the fix', async () => {
    const err = await ensureImage(
      { ...recipe('x'), base: 'bot-bottle-test/absent:none' },
      { logDir },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toContain(
      'base image bot-bottle-test/absent:none is not present',
    );
  });
});
