import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createBackend } from '../../src/backend/select.js';
import { agentImageRecipe } from '../../src/providers/recipe.js';
import { PROVIDER_REGISTRY, type ProviderName } from '../../src/providers/registry.js';
import { loadSettings } from '../../src/settings/settings.js';
import { CLI_HELP, cliHelpPath, readCliHelp } from '../fixtures/cli-help/index.js';
import { describeDocker, requireImage, testImage } from '../helpers/docker.js';

/**
 * The vendored `--help` texts (test/fixtures/cli-help/) are what the pinned
 * CLIs in the real agent images print. A version bump that changes a CLI's
 * options fails here until the texts are refreshed, and then the unit test
 * test/unit/provider-flags.test.ts checks the providers against the new
 * options. BOT_BOTTLE_REFRESH_CLI_HELP=1 rewrites the texts instead.
 */
describeDocker('vendored CLI help matches the pinned CLIs', () => {
  const logDir = mkdtempSync(join(tmpdir(), 'bb-cli-help-'));
  const images = new Map<ProviderName, Promise<string>>();
  afterAll(() => {
    rmSync(logDir, { recursive: true, force: true });
  });

  const imageOf = (provider: ProviderName): Promise<string> => {
    let tag = images.get(provider);
    if (tag === undefined) {
      requireImage();
      const settings = loadSettings({ cwd: process.cwd(), env: process.env });
      const recipe = agentImageRecipe({
        provider,
        base: testImage,
        apt: [],
        dockerfile: [],
        extraCaPems: settings.extraCaFiles.map((c) => readFileSync(c.path, 'utf8')),
      });
      tag = createBackend('docker')
        .images.ensure(recipe, { logDir })
        .then((r) => r.tag);
      images.set(provider, tag);
    }
    return tag;
  };

  it.each(CLI_HELP)(
    '`$command --help` is the vendored $file',
    async (h) => {
      const tag = await imageOf(h.provider);
      const r = spawnSync(
        'docker',
        [
          'run',
          '--rm',
          '--network',
          'none',
          '-e',
          'COLUMNS=100',
          '-e',
          'NO_COLOR=1',
          tag,
          ...h.command.split(' '),
          '--help',
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      const live = r.stdout + r.stderr;
      if (process.env.BOT_BOTTLE_REFRESH_CLI_HELP === '1') {
        writeFileSync(cliHelpPath(h), live);
        return;
      }
      const p = PROVIDER_REGISTRY[h.provider];
      expect(
        live,
        `\`${h.command} --help\` of ${p.npmPackage}@${p.npmVersion} differs from test/fixtures/cli-help/${h.file}: ` +
          'refresh the fixtures with BOT_BOTTLE_REFRESH_CLI_HELP=1 npx vitest run test/integration/cli-help.test.ts, ' +
          'then check the providers against the new options (test/unit/provider-flags.test.ts)',
      ).toBe(readCliHelp(h));
    },
    600_000,
  );
});
