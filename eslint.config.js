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
 * The in-cluster controller runs in the proxy pod with a Postgres store
 * only: no engine, no CLI, no host ledger file, no host-side enforcement.
 */
const podControllerImports = {
  regex:
    '(^|/)((cli|tui|trust|supervise|backend/(docker|podman|cli-engine|kubernetes))/|ledger/(open|sqlite)(\\.js)?$|(^\\./|controller/)(enforcement|session|keep|fleet|state)(\\.js)?$|manifest/load(\\.js)?$)',
  message:
    'The in-cluster controller (src/controller/pod-main.ts and what it imports) runs in the proxy pod: it may not import engine, CLI, host ledger file or host enforcement code.',
};

/** Every file reachable from `entries` through relative imports (what a bundle holds). */
function reachable(entries) {
  const seen = new Set();
  const walk = (file) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g)) {
      walk(join(dirname(file), m[1]).replace(/\.js$/, '.ts'));
    }
  };
  for (const entry of entries) walk(join(root, entry));
  return [...seen].map((f) => relative(root, f));
}

/**
 * The sidecars' source files: src/egress and everything the sidecar entry
 * points import, followed through relative imports (what the bundle holds).
 */
function sidecarFiles() {
  return [
    'src/egress/**/*.ts',
    ...reachable(['src/egress/main.ts', 'src/supervise/main.ts', 'src/supervise/server.ts']),
  ];
}

/** The controller image's bundle, less what the sidecars share (their rule is stricter). */
function podControllerFiles() {
  const sidecar = new Set(
    reachable(['src/egress/main.ts', 'src/supervise/main.ts', 'src/supervise/server.ts']),
  );
  return reachable(['src/controller/pod-main.ts']).filter(
    (f) => !sidecar.has(f) && !f.startsWith('src/egress/'),
  );
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
    files: podControllerFiles(),
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [noShellStrings], patterns: [engineImports, podControllerImports] },
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
