// Bundles the egress sidecar (dist/egress/main.js and its dependencies) into
// one ESM file, so its image needs Node and this file only.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/egress/main.js'],
  outfile: 'dist/sidecar/egress.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  // Some bundled CommonJS calls require() for Node built-ins.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});
