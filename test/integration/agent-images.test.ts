import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createBackend } from '../../src/backend/select.js';
import { PROVIDERS } from '../../src/manifest/schema.js';
import { agentImageRecipe } from '../../src/providers/recipe.js';
import { PROVIDER_INFO } from '../../src/providers/registry.js';
import { loadSettings } from '../../src/settings/settings.js';
import { describeDocker, requireImage, testImage } from '../helpers/docker.js';

/**
 * The real recipes: each provider's CLI installs from npm on the base image
 * (trusting the configured extra CAs) and runs as the non-root user.
 * Cold, this downloads the CLIs (about a minute for all three); warm, the
 * content-hash tags make it instant.
 */
describeDocker('agent images (real docker, CLIs from npm)', () => {
  const logDir = mkdtempSync(join(tmpdir(), 'bb-agent-img-'));
  afterAll(() => {
    rmSync(logDir, { recursive: true, force: true });
  });

  it.each(PROVIDERS)(
    '%s image builds and its CLI runs as the agent user',
    async (provider) => {
      requireImage();
      const settings = loadSettings({ cwd: process.cwd(), env: process.env });
      const recipe = agentImageRecipe({
        provider,
        base: testImage,
        apt: [],
        dockerfile: [],
        extraCaPems: settings.extraCaFiles.map((c) => readFileSync(c.path, 'utf8')),
      });
      const { tag } = await createBackend('docker').images.ensure(recipe, { logDir });
      const info = PROVIDER_INFO[provider];
      // pi prints its version on stderr.
      const out = execFileSync(
        'docker',
        ['run', '--rm', tag, 'sh', '-c', `id -un; pwd; ${info.bin} --version 2>&1`],
        {
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      const [user, cwd, version] = out.trim().split('\n');
      expect(user).toBe('agent');
      expect(cwd).toBe('/workspace');
      expect(version).toContain(info.npmVersion);
    },
    600_000,
  );
});
