import { createHash } from 'node:crypto';
import {
  GUEST_HOME,
  GUEST_USER,
  GUEST_WORKSPACE,
  providerOf,
  type ProviderName,
} from './registry.js';

/** A Dockerfile plus the files its build context needs. */
export interface ImageRecipe {
  /** Short name for messages and the tag's repository part. */
  name: string;
  /** The FROM image; its ID goes into the content hash. */
  base: string;
  dockerfile: string;
  /** Build-context files, relative path -> content. */
  files: Record<string, string>;
}

export interface AgentImageInput {
  provider: ProviderName;
  base: string;
  apt: readonly string[];
  dockerfile: readonly string[];
  /** PEM bundles trusted for the build (npm, apt over https) and by the image. */
  extraCaPems: readonly string[];
}

const BASE_PACKAGES = ['ca-certificates', 'git', 'openssh-client'];
const CA_DIR = '/usr/local/share/ca-certificates/bot-bottle';

/**
 * The image an agent runs in: the provider's CLI from npm (pinned), git, an
 * ssh client, CA certificates, a non-root user, then the bottle's additions.
 * Additions run as root after everything else, so they can use git and the
 * CLI but cannot change what came before.
 */
export function agentImageRecipe(input: AgentImageInput): ImageRecipe {
  const info = providerOf(input.provider);
  const files: Record<string, string> = {};
  input.extraCaPems.forEach((pem, i) => {
    files[`ca/extra-${i}.crt`] = pem.endsWith('\n') ? pem : `${pem}\n`;
  });
  const packages = [...new Set([...BASE_PACKAGES, ...input.apt])];
  const lines = [
    `FROM ${input.base}`,
    'USER root',
    'ENV DEBIAN_FRONTEND=noninteractive',
    ...(input.extraCaPems.length > 0 ? [`COPY ca/ ${CA_DIR}/`] : []),
    `RUN apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')} \\`,
    '    && rm -rf /var/lib/apt/lists/* && update-ca-certificates',
    // Node ignores the system store unless told; the build's npm must trust
    // the extra CAs (TLS-inspecting proxies), the running agent gets its own
    // CA settings at launch.
    `RUN NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm install -g --no-audit --no-fund ${info.npmPackage}@${info.npmVersion} \\`,
    `    && ${info.bin} --version`,
    ...info.installSteps,
    `RUN (id -u ${GUEST_USER} >/dev/null 2>&1 || useradd --create-home --home-dir ${GUEST_HOME} --shell /bin/bash ${GUEST_USER}) \\`,
    `    && mkdir -p ${GUEST_WORKSPACE} && chown ${GUEST_USER}:${GUEST_USER} ${GUEST_WORKSPACE}`,
    ...input.dockerfile,
    `USER ${GUEST_USER}`,
    `ENV HOME=${GUEST_HOME}`,
    `WORKDIR ${GUEST_WORKSPACE}`,
    '',
  ];
  return {
    name: `bot-bottle-${input.provider}`,
    base: input.base,
    dockerfile: lines.join('\n'),
    files,
  };
}

/** Content hash of a recipe on a given base image ID. */
export function recipeHash(recipe: ImageRecipe, baseImageId: string): string {
  const h = createHash('sha256');
  const feed = (s: string): void => {
    h.update(`${Buffer.byteLength(s)}:`);
    h.update(s);
  };
  feed(baseImageId);
  feed(recipe.dockerfile);
  for (const path of Object.keys(recipe.files).sort()) {
    feed(path);
    feed(recipe.files[path] ?? '');
  }
  return h.digest('hex');
}

/** `bot-bottle-claude:<16 hex>`: an unchanged recipe maps to the same tag. */
export function recipeTag(recipe: ImageRecipe, hash: string): string {
  return `${recipe.name}:${hash.slice(0, 16)}`;
}
