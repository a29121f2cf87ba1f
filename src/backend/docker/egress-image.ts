import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvironmentError } from '../../errors.js';
import type { ImageRecipe } from '../../providers/recipe.js';

/** Where the sidecar's code lives in its image. */
const SIDECAR_DIR = '/opt/bot-bottle/egress';

/** The package root: the nearest directory above this module with a package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new EnvironmentError('cannot find the bot-bottle package root');
    dir = up;
  }
  return dir;
}

/**
 * The egress sidecar's image: the base image (it has Node) plus the compiled
 * egress modules, run as an unprivileged user. It holds no agent tooling,
 * and the agent image holds none of this code. The files come from `dist/`,
 * so a source checkout must be built first (`npm run build`).
 */
export function egressImageRecipe(base: string): ImageRecipe {
  const dist = join(packageRoot(), 'dist', 'egress');
  if (!existsSync(join(dist, 'main.js'))) {
    throw new EnvironmentError(
      `the egress proxy is not built (${join(dist, 'main.js')} is missing)`,
      'run `npm run build` in the bot-bottle checkout',
    );
  }
  const files: Record<string, string> = {
    'egress/package.json': '{ "type": "module" }\n',
  };
  for (const f of readdirSync(dist).sort()) {
    if (f.endsWith('.js')) files[`egress/${f}`] = readFileSync(join(dist, f), 'utf8');
  }
  const dockerfile = [
    `FROM ${base}`,
    `COPY egress/ ${SIDECAR_DIR}/`,
    'USER 65534:65534',
    `ENTRYPOINT ["node", "${SIDECAR_DIR}/main.js"]`,
    '',
  ].join('\n');
  return { name: 'bot-bottle-egress', base, dockerfile, files };
}
