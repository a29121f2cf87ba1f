import { mkdirSync, mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EnvironmentError } from '../../errors.js';
import { recipeHash, recipeTag, type ImageRecipe } from '../../providers/recipe.js';
import { runStreaming } from '../../util/exec.js';
import { DOCKER_BIN } from './cli.js';
import { FIX } from './fixes.js';
import { imageId } from './health.js';

export interface EnsureImageResult {
  tag: string;
  hash: string;
  /** False when an image with this content hash already existed. */
  built: boolean;
  seconds: number;
}

export interface EnsureImageOptions {
  /** Progress lines for the user ("step 3/9: RUN npm install ..."). */
  onProgress?: (line: string) => void;
  /** Where the full build log goes; kept after a failure. */
  logDir: string;
}

export class ImageBuildError extends EnvironmentError {}

/**
 * Make sure the image for `recipe` exists, building it only when no image
 * carries its content hash. The build streams progress and keeps its full
 * log; on failure the error names the failing step and shows the log tail.
 */
export async function ensureImage(
  recipe: ImageRecipe,
  opts: EnsureImageOptions,
): Promise<EnsureImageResult> {
  const started = Date.now();
  const baseId = await imageId(recipe.base);
  if (baseId === undefined) {
    throw new EnvironmentError(
      `base image ${recipe.base} is not present`,
      FIX.baseImage(recipe.base),
    );
  }
  const hash = recipeHash(recipe, baseId);
  const tag = recipeTag(recipe, hash);
  if ((await imageId(tag)) !== undefined) {
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
      DOCKER_BIN,
      args,
      (line) => {
        log.write(`${line}\n`);
        tail.push(line);
        if (tail.length > 40) tail.shift();
        // The classic builder prints "Step 3/9 : RUN ..."; BuildKit "#5 [3/9] RUN ...".
        const m =
          /^Step (\d+\/\d+) : (.*)$/.exec(line) ??
          /^#\d+ \[(?:[\w-]+ )?(\d+\/\d+)\] (.*)$/.exec(line);
        if (m !== null && `${m[1]}: ${m[2]}` !== step) {
          step = `${m[1]}: ${m[2]}`;
          opts.onProgress?.(`  step ${step.length > 110 ? `${step.slice(0, 107)}...` : step}`);
        }
      },
      { env: { ...process.env, DOCKER_BUILDKIT: '0' } },
    );
    if (r.spawnError !== undefined) {
      throw new EnvironmentError(
        `the docker CLI (${DOCKER_BIN}) could not be started: ${r.spawnError.code ?? 'error'}`,
      );
    }
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
