import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Docker-backed tests share one engine; running files in parallel on
          // two cores mostly adds contention.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Real agent CLIs in real bottles: one at a time on two cores.
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'podman',
          include: ['test/podman/**/*.test.ts'],
          // Rootless podman as an unprivileged user (scripts/testbed-podman.sh).
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 900_000,
        },
      },
      {
        test: {
          // The ledger on a Postgres server (scripts/testbed-postgres.sh
          // starts one); each test makes a database of its own.
          name: 'postgres',
          include: ['test/postgres/**/*.test.ts'],
          // Writer processes on two cores: one file at a time.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // The product against a Docker engine that shares no files with this
          // machine (scripts/testbed-remote.sh starts one).
          name: 'remote',
          include: ['test/remote/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
