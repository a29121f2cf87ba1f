import type { ImageRecipe } from '../providers/recipe.js';
import { readBundle } from './sidecar-image.js';

/**
 * The in-cluster controller's image (the `controller` container of a
 * bottle's proxy pod on Kubernetes): the base image (it has Node) plus the
 * controller bundled into one file with the Postgres driver, run as
 * nobody. It holds no engine client, no agent tooling and no proxy code.
 */

const CONTROLLER_DIR = '/opt/bot-bottle/controller';
/** The controller's program; the rendered pod runs `node CONTROLLER_MAIN`. */
export const CONTROLLER_MAIN = `${CONTROLLER_DIR}/controller.mjs`;
export const CONTROLLER_IMAGE = 'bot-bottle-controller';

export function controllerImageRecipe(base: string): ImageRecipe {
  const dockerfile = [
    `FROM ${base}`,
    `COPY controller/ ${CONTROLLER_DIR}/`,
    'USER 65534:65534',
    `ENTRYPOINT ["node", "${CONTROLLER_MAIN}"]`,
    '',
  ].join('\n');
  return {
    name: CONTROLLER_IMAGE,
    base,
    dockerfile,
    files: { 'controller/controller.mjs': readBundle('controller.mjs') },
  };
}
