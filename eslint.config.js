import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const root = import.meta.dirname;

/** Every subprocess goes through the argv-array helpers in src/util/exec.ts. */
const noShellStrings = {
  name: 'node:child_process',
  importNames: ['exec', 'execSync'],
  message: 'Use argv arrays (execFile/spawn), never shell strings.',
};

/** Only src/backend/ knows an engine; the rest sees the interface and the selector. */
const engineImports = {
  regex: '(^|/)backend/(?!(backend|select)\\.js$)',
  message:
    "Only src/backend/ may know a container engine: import the Backend interface ('backend/backend.js') or the selector ('backend/select.js').",
};

/** Code that runs in a sidecar container holds nothing of the host's. */
const hostImports = {
  regex: '(^|/)((cli|tui|controller|ledger|trust|backend)/|manifest/load(\\.js)?$)',
  message:
    'Sidecar code (src/egress, the supervise server) runs in a container: it may not import host code (cli, tui, controller, ledger, trust, backend, manifest loading).',
};

/**
 * The sidecars' source files: src/egress and everything the sidecar entry
 * points import, followed through relative imports (what the bundle holds).
 */
function sidecarFiles() {
  const seen = new Set();
  const walk = (file) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g)) {
      walk(join(dirname(file), m[1]).replace(/\.js$/, '.ts'));
    }
  };
  for (const entry of ['src/egress/main.ts', 'src/supervise/main.ts', 'src/supervise/server.ts']) {
    walk(join(root, entry));
  }
  return ['src/egress/**/*.ts', ...[...seen].map((f) => relative(root, f))];
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      'no-restricted-imports': ['error', { paths: [noShellStrings] }],
    },
  },
  {
    files: ['src/**/*.ts', 'src/**/*.tsx'],
    ignores: ['src/backend/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [noShellStrings], patterns: [engineImports] }],
    },
  },
  {
    // Later entries win for a rule: this one repeats the patterns above.
    files: sidecarFiles(),
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [noShellStrings], patterns: [engineImports, hostImports] },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { URL: 'readonly', console: 'readonly', process: 'readonly' },
    },
  },
  {
    // Scripts the tests run inside containers (plain Node, CommonJS).
    files: ['**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'commonjs',
      globals: {
        URL: 'readonly',
        console: 'readonly',
        process: 'readonly',
        require: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);
