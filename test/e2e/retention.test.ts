import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { bottleRepo, leftovers, runBin, useFakeUpstream } from '../helpers/bottle-repo.js';
import { describeDocker, dockerOut } from '../helpers/docker.js';
import type { Fixture } from '../helpers/fixture.js';

/**
 * A fleet of headless sessions must not leave every bottle behind: --rm
 * keeps nothing, and settings.yml keep: thins out older saved bottles after
 * each session. Real Claude Code, real engine, the fake upstream.
 */

interface Rec {
  slug: string;
  identity: string;
  savedImage: string | null;
  resumeCommand: string | null;
}

const savedImages = (): string[] =>
  dockerOut(['images', 'bot-bottle-saved', '--format', '{{.Repository}}:{{.Tag}}'])
    .split('\n')
    .filter((s) => s !== '');

describeDocker('saved bottles do not pile up (e2e)', () => {
  const upstream = useFakeUpstream();
  const made: Fixture[] = [];
  afterAll(() => {
    for (const fx of made) fx.cleanup();
  });

  async function headless(fx: Fixture, label: string, ...extra: string[]): Promise<Rec> {
    const r = await runBin(fx, [
      'start',
      'claude',
      '--headless',
      '--prompt',
      'say hi',
      '--label',
      label,
      '--json',
      ...extra,
    ]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Rec;
  }

  async function saved(fx: Fixture): Promise<string[]> {
    const ps = await runBin(fx, ['ps', '--all', '--json']);
    expect(ps.code, ps.stderr).toBe(0);
    return (JSON.parse(ps.stdout) as { saved: { identity: string }[] }).saved.map(
      (s) => s.identity,
    );
  }

  it('start --rm leaves no saved image and no saved state; resume --rm forgets the bottle', async () => {
    const fx = bottleRepo(upstream().port);
    made.push(fx);
    const label = `rm-${process.pid}`;
    const rec = await headless(fx, label, '--rm');
    expect(rec.savedImage).toBeNull();
    expect(rec.resumeCommand).toBeNull();
    expect(leftovers(rec.slug)).toBe('');
    expect(savedImages()).not.toContain(`bot-bottle-saved:${rec.identity}`);
    expect(await saved(fx)).toEqual([]);
    expect((await runBin(fx, ['resume', rec.identity])).stderr).toContain(
      `no saved bottle '${rec.identity}'`,
    );

    // A saved one, resumed with --rm: afterwards nothing of it stays.
    const kept = await headless(fx, label);
    expect(savedImages()).toContain(`bot-bottle-saved:${kept.identity}`);
    const again = await runBin(fx, [
      'resume',
      kept.identity,
      '--headless',
      '--prompt',
      'carry on',
      '--rm',
      '--json',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as Rec).savedImage).toBeNull();
    expect(savedImages()).not.toContain(`bot-bottle-saved:${kept.identity}`);
    expect(await saved(fx)).toEqual([]);
  });

  it('after N+2 sessions with keep: last N, exactly N saved bottles (and their images) remain', async () => {
    const fx = bottleRepo(upstream().port);
    made.push(fx);
    const N = 1;
    writeFileSync(join(fx.home, 'settings.yml'), `keep:\n  last: ${N}\n`);
    const records: Rec[] = [];
    for (let i = 0; i < N + 2; i++) {
      records.push(await headless(fx, `keep-${process.pid}`));
      // Identities carry the second they were made in.
      await new Promise((r) => setTimeout(r, 1100));
    }
    const newest = records.slice(-N).map((r) => r.identity);
    expect(await saved(fx)).toEqual(newest);
    const images = savedImages();
    for (const r of records) {
      expect(images.includes(`bot-bottle-saved:${r.identity}`), r.identity).toBe(
        newest.includes(r.identity),
      );
    }
  });
});
