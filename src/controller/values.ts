import { readFileSync } from 'node:fs';
import { ConfigError, UsageError } from '../errors.js';
import type { BottlePlan } from '../plan/schema.js';
import { run } from '../util/exec.js';

/** Asks for a `?` value with hidden input; absent when no terminal can ask. */
export type SecretAsker = (question: string) => Promise<string>;

const stripNewline = (s: string): string => s.replace(/\r?\n$/, '');

/**
 * Resolve the bottle's `env` entries on the host, right before launch.
 * Every failure names the variable and its source, and happens before any
 * container exists.
 */
export async function resolveEnv(
  plan: BottlePlan,
  literals: ReadonlyMap<string, string>,
  env: NodeJS.ProcessEnv,
  ask: SecretAsker | undefined,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const { name, source } of plan.env) {
    const where = { entity: `env ${name}` };
    switch (source.kind) {
      case 'literal': {
        const v = literals.get(name);
        if (v === undefined) throw new ConfigError(where, 'literal value missing from the plan');
        out[name] = v;
        break;
      }
      case 'prompt':
        if (ask === undefined) {
          throw new UsageError(
            `env ${name} is '?' (asked at launch), but there is no terminal to ask on`,
            'use env:NAME, file:PATH or cmd:COMMAND for unattended launches',
          );
        }
        out[name] = await ask(`value for ${name} (input hidden)`);
        break;
      case 'env': {
        const v = env[source.name];
        if (v === undefined) {
          throw new ConfigError(
            where,
            `host variable ${source.name} is not set (env:${source.name})`,
            `export ${source.name}=... before starting`,
          );
        }
        out[name] = v;
        break;
      }
      case 'file':
        try {
          out[name] = stripNewline(readFileSync(source.path, 'utf8'));
        } catch (e) {
          throw new ConfigError(
            where,
            `cannot read ${source.path} (file:): ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
          );
        }
        break;
      case 'cmd': {
        const [file, ...args] = source.argv;
        if (file === undefined) throw new ConfigError(where, 'cmd: has no command');
        const r = await run(file, args, { timeoutMs: 30_000 });
        if (r.spawnError !== undefined || r.code !== 0) {
          throw new ConfigError(
            where,
            `cmd:${source.command} ${r.spawnError !== undefined ? `could not start (${r.spawnError.code ?? 'error'})` : `exited ${r.code}`}`,
            r.stderr.trim().split('\n')[0],
          );
        }
        out[name] = stripNewline(r.stdout);
        break;
      }
    }
  }
  return out;
}
