import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvironmentError } from '../errors.js';
import type { ImageRecipe } from '../providers/recipe.js';

/** Where the sidecar's code lives in its image. */
const SIDECAR_DIR = '/opt/bot-bottle/egress';
/** The sidecar's program, run as `node SIDECAR_MAIN [ctl <op>]`. */
export const SIDECAR_MAIN = `${SIDECAR_DIR}/egress.mjs`;
/** The supervise sidecar's program (same image, its own entry point). */
export const SUPERVISE_MAIN = `${SIDECAR_DIR}/supervise.mjs`;
/** How the controller links to each sidecar: its relay, run through `exec` with stdio piped. */
export const SIDECAR_LINK_ARGV = {
  egress: ['node', SIDECAR_MAIN, 'link'],
  supervise: ['node', SUPERVISE_MAIN, 'link'],
} as const satisfies Record<string, readonly string[]>;
/** The sidecar's tmpfs: policy, secrets and the control socket live here only. */
export const SIDECAR_RUN_DIR = '/run/bot-bottle';

/** The package root: the nearest directory above this module with a package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new EnvironmentError('cannot find the bot-bottle package root');
    dir = up;
  }
  return dir;
}

/** One of the bundles `npm run build` makes (dist/sidecar/NAME). */
export function readBundle(name: string): string {
  const bundle = join(packageRoot(), 'dist', 'sidecar', name);
  if (!existsSync(bundle)) {
    throw new EnvironmentError(
      `the sidecars are not built (${bundle} is missing)`,
      'run `npm run build` in the bot-bottle checkout',
    );
  }
  return readFileSync(bundle, 'utf8');
}

/**
 * The sidecars' image: the base image (it has Node) plus the compiled
 * egress proxy and supervise server, each bundled into one file (`npm run
 * build` makes them), run as an unprivileged user. It holds no agent tooling, and the agent image holds
 * none of this code.
 */
export function egressImageRecipe(base: string): ImageRecipe {
  const files: Record<string, string> = {};
  for (const name of ['egress.mjs', 'supervise.mjs']) files[`egress/${name}`] = readBundle(name);
  const dockerfile = [
    `FROM ${base}`,
    `COPY egress/ ${SIDECAR_DIR}/`,
    'USER 65534:65534',
    `ENTRYPOINT ["node", "${SIDECAR_MAIN}"]`,
    '',
  ].join('\n');
  return { name: 'bot-bottle-egress', base, dockerfile, files };
}
