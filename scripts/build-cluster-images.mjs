// Builds the two images a bottle's Kubernetes proxy pod runs (egress and
// controller) with the local docker engine, from this checkout's build
// (`npm run build` first), on the base image of settings.yml or
// BOT_BOTTLE_BASE_IMAGE. With `--push PREFIX` (e.g. registry.example/team)
// each is tagged PREFIX/<name>:<tag> and pushed. Prints the
// `--k8s-egress-image` and `--k8s-controller-image` flags to pass to
// `bot-bottle start --backend kubernetes`. docs/kubernetes.md explains it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controllerImageRecipe, egressImageRecipe } from '../dist/backend/backend.js';
import { createBackend } from '../dist/backend/select.js';
import { loadSettings } from '../dist/settings/settings.js';

const args = process.argv.slice(2);
const at = args.indexOf('--push');
const prefix = at >= 0 ? args[at + 1] : undefined;
if (at >= 0 && (prefix === undefined || prefix === '' || prefix.startsWith('-'))) {
  process.stderr.write('usage: node scripts/build-cluster-images.mjs [--push REGISTRY/PREFIX]\n');
  process.exit(2);
}

const base = loadSettings({ cwd: process.cwd() }).baseImage.ref;
const images = createBackend('docker').images;
const logDir = mkdtempSync(join(tmpdir(), 'bb-cluster-images-'));
const flags = {};
for (const [flag, recipe] of [
  ['--k8s-egress-image', egressImageRecipe(base)],
  ['--k8s-controller-image', controllerImageRecipe(base)],
]) {
  const img = await images.ensure(recipe, {
    logDir,
    onProgress: (l) => process.stderr.write(`${l}\n`),
  });
  let ref = img.tag;
  if (prefix !== undefined) {
    ref = `${prefix.replace(/\/+$/, '')}/${img.tag}`;
    execFileSync('docker', ['tag', img.tag, ref], { stdio: 'inherit' });
    execFileSync('docker', ['push', ref], { stdio: 'inherit' });
  }
  flags[flag] = ref;
}
rmSync(logDir, { recursive: true, force: true });
process.stdout.write(
  `${Object.entries(flags)
    .map(([f, r]) => `${f} ${r}`)
    .join(' ')}\n`,
);
