/**
 * Variables the docker CLI reads for its own connection to the engine: Go's
 * proxy settings (used for a tcp:// DOCKER_HOST, skipped for a unix socket)
 * and the engine selection and TLS settings.
 */
const CLI_OWN = new Set([
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'all_proxy',
  'DOCKER_HOST',
  'DOCKER_CONTEXT',
  'DOCKER_CONFIG',
  'DOCKER_CERT_PATH',
  'DOCKER_TLS',
  'DOCKER_TLS_VERIFY',
  'DOCKER_API_VERSION',
]);

export interface ContainerEnv {
  /** `--env` flags for `docker run` / `docker exec`. */
  args: string[];
  /** Values the CLI reads for `--env NAME`, merged over its own environment. */
  env: Record<string, string>;
}

/**
 * How a container's environment reaches the docker CLI. Values travel in the
 * CLI's environment (`--env NAME`), so secrets never appear in its argv;
 * but a variable the CLI itself obeys would redirect the CLI instead: the
 * bottle's HTTPS_PROXY (the egress sidecar's name, which resolves only
 * inside the bottle) would become the proxy for a remote engine's API.
 * Those few go in argv as NAME=value (proxy URLs and engine settings, not
 * secrets), and the CLI keeps its own.
 */
export function containerEnv(values: Readonly<Record<string, string>>): ContainerEnv {
  const args: string[] = [];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (CLI_OWN.has(name)) {
      args.push('--env', `${name}=${value}`);
    } else {
      args.push('--env', name);
      env[name] = value;
    }
  }
  return { args, env };
}
