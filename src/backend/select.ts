import { chooseBackend } from '../plan/build.js';
import type { BackendName } from '../plan/schema.js';
import type { Backend } from './backend.js';
import { DockerBackend } from './docker/docker-backend.js';
import { PodmanBackend } from './podman/podman-backend.js';

/**
 * The one place that knows which engines exist. Everything else gets a
 * Backend from here and never imports an engine's folder.
 */

export function createBackend(name: BackendName): Backend {
  switch (name) {
    case 'docker':
      return new DockerBackend();
    case 'podman':
      return new PodmanBackend();
  }
}

/** The backend `--backend` names, else BOT_BOTTLE_BACKEND, else docker. */
export function selectBackend(flag: string | undefined, env: NodeJS.ProcessEnv): BackendName {
  return chooseBackend(flag, env);
}
