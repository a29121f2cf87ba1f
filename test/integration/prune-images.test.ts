import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { DockerBackend } from '../../src/backend/docker/docker-backend.js';
import { describeDocker, dockerOut, requireImage, testImage } from '../helpers/docker.js';
import { makeFixture } from '../helpers/fixture.js';

/**
 * `prune --images` on the real engine, as a dry run (other images on a
 * shared engine are not this test's to remove): an agent image no recipe
 * produces is listed with its size, one a container uses is not, and the
 * backend then removes the planted tag and nothing else.
 */
describeDocker('prune --images (real docker)', () => {
  const fx = makeFixture({}, { BOT_BOTTLE_BASE_IMAGE: testImage });
  const hex = (): string => randomBytes(8).toString('hex');
  const stale = `bot-bottle-pi:${hex()}`;
  const used = `bot-bottle-codex:${hex()}`;
  const container = `bot-bottle-prune-test-${process.pid}`;
  afterAll(() => {
    for (const args of [
      ['rm', '--force', container],
      ['image', 'rm', stale],
      ['image', 'rm', used],
    ]) {
      try {
        dockerOut(args);
      } catch {
        // already gone
      }
    }
    fx.cleanup();
  });

  it('lists the stale image with its bytes, not the used one, and removes only the stale tag', async () => {
    requireImage();
    // Images of their own (an image ID's users count for every tag of it).
    for (const ref of [stale, used]) {
      execFileSync('docker', ['build', '--quiet', '--tag', ref, '-'], {
        input: `FROM ${testImage}\nLABEL dev.bot-bottle.test=${ref}\n`,
        stdio: ['pipe', 'ignore', 'pipe'],
        timeout: 120_000,
      });
    }
    dockerOut(['create', '--name', container, used, 'true']);
    const r = await fx.run(['prune', '--images', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      dryRun: boolean;
      images: { ref: string; bytes: number; created: string }[];
    };
    expect(out.dryRun).toBe(true);
    const refs = out.images.map((i) => i.ref);
    expect(refs).toContain(stale);
    expect(refs).not.toContain(used);
    expect(refs.some((ref) => ref.startsWith('bot-bottle-base'))).toBe(false);
    expect(out.images.find((i) => i.ref === stale)?.created).toMatch(/^\d{4}-\d\d-\d\dT/);
    // A dry run removes nothing.
    expect(dockerOut(['image', 'inspect', '--format', '{{.Id}}', stale])).not.toBe('');

    await new DockerBackend().removeImage(stale);
    expect(dockerOut(['images', '--quiet', stale])).toBe('');
    expect(dockerOut(['images', '--quiet', testImage])).not.toBe('');
    await new DockerBackend().removeImage(stale); // already gone: not an error
  });
});
