import { mkdirSync, mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EnvironmentError } from '../../errors.js';
import { recipeHash, recipeTag, type ImageRecipe } from '../../providers/recipe.js';
import { runStreaming } from '../../util/exec.js';
import { ImageBuildError, type EnsureImageOptions, type EnsureImageResult } from '../backend.js';
import type { EngineCli } from './cli.js';

/** The local image ID of `ref`, or undefined when it is not present. */
export async function imageId(cli: EngineCli, ref: string): Promise<string | undefined> {
  const r = await cli.run(['image', 'inspect', '--format', '{{.Id}}', ref], { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/**
 * The step a build line announces: docker's classic builder prints
 * "Step 3/9 : RUN ...", BuildKit "#5 [3/9] RUN ...", podman (buildah)
 * "STEP 3/9: RUN ...".
 */
export function buildStep(line: string): string | undefined {
  const m =
    /^Step (\d+\/\d+) : (.*)$/.exec(line) ??
    /^#\d+ \[(?:[\w-]+ )?(\d+\/\d+)\] (.*)$/.exec(line) ??
    /^STEP (\d+\/\d+): (.*)$/.exec(line);
  return m === null ? undefined : `${m[1] ?? ''}: ${m[2] ?? ''}`;
}

/**
 * Make sure the image for `recipe` exists, building it only when no image
 * carries its content hash. The build streams progress and keeps its full
 * log; on failure the error names the failing step and shows the log tail.
 */
export async function ensureImage(
  cli: EngineCli,
  recipe: ImageRecipe,
  opts: EnsureImageOptions & { baseImageFix: (ref: string) => string },
): Promise<EnsureImageResult> {
  const started = Date.now();
  const baseId = await imageId(cli, recipe.base);
  if (baseId === undefined) {
    throw new EnvironmentError(
      `base image ${recipe.base} is not present`,
      opts.baseImageFix(recipe.base),
    );
  }
  const hash = recipeHash(recipe, baseId);
  const tag = recipeTag(recipe, hash);
  if ((await imageId(cli, tag)) !== undefined) {
    return { tag, hash, built: false, seconds: (Date.now() - started) / 1000 };
  }

  const ctx = mkdtempSync(join(tmpdir(), 'bot-bottle-build-'));
  mkdirSync(opts.logDir, { recursive: true });
  const logPath = join(opts.logDir, `build-${recipe.name}-${hash.slice(0, 16)}.log`);
  const log = createWriteStream(logPath);
  const tail: string[] = [];
  let step = '';
  try {
    writeFileSync(join(ctx, 'Dockerfile'), recipe.dockerfile);
    for (const [rel, content] of Object.entries(recipe.files)) {
      mkdirSync(dirname(join(ctx, rel)), { recursive: true });
      writeFileSync(join(ctx, rel), content);
    }
    opts.onProgress?.(`building ${tag} (log: ${logPath})`);
    const args = [
      'build',
      // A failed step must not leave its intermediate container behind.
      '--force-rm',
      '--label',
      'dev.bot-bottle.role=image',
      '--label',
      `dev.bot-bottle.recipe=${hash}`,
      '-t',
      tag,
      ctx,
    ];
    const r = await runStreaming(
      cli.bin,
      args,
      (line) => {
        log.write(`${line}\n`);
        tail.push(line);
        if (tail.length > 40) tail.shift();
        const next = buildStep(line);
        if (next !== undefined && next !== step) {
          step = next;
          opts.onProgress?.(`  step ${step.length > 110 ? `${step.slice(0, 107)}...` : step}`);
        }
      },
      { env: { ...process.env, DOCKER_BUILDKIT: '0' } },
    );
    if (r.spawnError !== undefined) throw cli.notStarted(r.spawnError.code);
    if (r.code !== 0) {
      throw new ImageBuildError(
        `image build ${tag} failed${step === '' ? '' : ` at step ${step}`}\n${tail
          .slice(-20)
          .map((l) => `  | ${l}`)
          .join('\n')}`,
        `full log: ${logPath}`,
        { logPath, step, tail },
      );
    }
    return { tag, hash, built: true, seconds: (Date.now() - started) / 1000 };
  } finally {
    log.end();
    rmSync(ctx, { recursive: true, force: true });
  }
}
