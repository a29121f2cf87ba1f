// Bundles each sidecar (the egress proxy, the supervise MCP server) and the
// in-cluster controller with their dependencies into one ESM file each, so
// their images need Node and these files only.
import { build } from 'esbuild';

const bundles = {
  egress: 'dist/egress/main.js',
  supervise: 'dist/supervise/main.js',
  controller: 'dist/controller/pod-main.js',
};
for (const [name, entry] of Object.entries(bundles)) await bundle(name, entry);

async function bundle(name, entry) {
  await build({
    entryPoints: [entry],
    outfile: `dist/sidecar/${name}.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    legalComments: 'none',
    logLevel: 'warning',
    // The Postgres driver's optional native binding is never used.
    external: ['pg-native'],
    // Some bundled CommonJS calls require() for Node built-ins.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
}
