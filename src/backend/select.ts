import { chooseBackend } from '../plan/build.js';
import type { BackendName } from '../plan/schema.js';
import { UnsupportedError } from '../errors.js';
import type { Backend, ClusterBackend } from './backend.js';
import { DockerBackend } from './docker/docker-backend.js';
import { KubernetesCluster } from './kubernetes/kubectl.js';
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
    case 'kubernetes':
      // A cluster is not a container engine this host drives container by container.
      throw new UnsupportedError(
        'the kubernetes backend renders and applies bottles (`bot-bottle start --backend kubernetes`, teardown with `bot-bottle kill <slug> --backend kubernetes`); this command needs a container engine',
        'use --backend docker or --backend podman (or unset BOT_BOTTLE_BACKEND)',
      );
  }
}

/** The backend `--backend` names, else BOT_BOTTLE_BACKEND, else docker. */
export function selectBackend(flag: string | undefined, env: NodeJS.ProcessEnv): BackendName {
  return chooseBackend(flag, env);
}

/** The cluster backend (`--backend kubernetes`): renders a bottle as objects and applies them with kubectl. */
export function createClusterBackend(): ClusterBackend {
  return new KubernetesCluster();
}
