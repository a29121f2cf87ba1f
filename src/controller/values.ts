import { readFileSync } from 'node:fs';
import { ConfigError, UsageError } from '../errors.js';
import { routeLiteralKey } from '../plan/build.js';
import type { BottlePlan, PlanValueSource } from '../plan/schema.js';
import { assertPlanTrusted } from '../trust/entries.js';
import { run } from '../util/exec.js';

/** Asks for a `?` value with hidden input; absent when no terminal can ask. */
export type SecretAsker = (question: string) => Promise<string>;

const stripNewline = (s: string): string => s.replace(/\r?\n$/, '');

/**
 * Resolve one value on the host, right before launch. Every failure names
 * what the value is for (`what`) and its source, and happens before any
 * container exists.
 */
export async function resolveSource(
  what: string,
  source: PlanValueSource,
  literal: string | undefined,
  env: NodeJS.ProcessEnv,
  ask: SecretAsker | undefined,
): Promise<string> {
  const where = { entity: what };
  switch (source.kind) {
    case 'literal':
      if (literal === undefined)
        throw new ConfigError(where, 'literal value missing from the plan');
      return literal;
    case 'prompt':
      if (ask === undefined) {
        throw new UsageError(
          `${what} is '?' (asked at launch), but there is no terminal to ask on`,
          'use env:NAME, file:PATH or cmd:COMMAND for unattended launches',
        );
      }
      return ask(`value for ${what} (input hidden)`);
    case 'env': {
      const v = env[source.name];
      if (v === undefined) {
        throw new ConfigError(
          where,
          `host variable ${source.name} is not set (env:${source.name})`,
          `export ${source.name}=... before starting`,
        );
      }
      return v;
    }
    case 'file':
      try {
        return stripNewline(readFileSync(source.path, 'utf8'));
      } catch (e) {
        throw new ConfigError(
          where,
          `cannot read ${source.path} (file:): ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        );
      }
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
      return stripNewline(r.stdout);
    }
  }
}

/** The bottle's `env` entries, resolved on the host. */
export async function resolveEnv(
  plan: BottlePlan,
  literals: ReadonlyMap<string, string>,
  env: NodeJS.ProcessEnv,
  ask: SecretAsker | undefined,
): Promise<Record<string, string>> {
  // Before any value: an untrusted repository layer resolves nothing on this host.
  assertPlanTrusted(plan);
  const out: Record<string, string> = {};
  for (const { name, source } of plan.env) {
    out[name] = await resolveSource(`env ${name}`, source, literals.get(name), env, ask);
  }
  return out;
}

/** The header value the proxy sets: prefix + the secret (or base64 of basicUser:secret). */
export function routeHeaderValue(
  what: string,
  secret: string,
  prefix: string | null | undefined,
  basicUser: string | null | undefined,
): string {
  if (secret === '' || /[\r\n\0]/.test(secret)) {
    throw new ConfigError(
      { entity: what },
      'the value is empty or has a line break, so it cannot be an HTTP header',
    );
  }
  const body =
    basicUser === null || basicUser === undefined
      ? secret
      : Buffer.from(`${basicUser}:${secret}`).toString('base64');
  return `${prefix ?? ''}${body}`;
}

/**
 * Credential route headers, resolved on the host: host -> header -> the
 * value the proxy sets (prefix and Basic encoding applied). These go to the
 * egress sidecar only, never into the agent's environment.
 */
export async function resolveRoutes(
  plan: BottlePlan,
  literals: ReadonlyMap<string, string>,
  env: NodeJS.ProcessEnv,
  ask: SecretAsker | undefined,
): Promise<Map<string, Map<string, string>>> {
  assertPlanTrusted(plan);
  const out = new Map<string, Map<string, string>>();
  for (const r of plan.egress.routes) {
    const headers = new Map<string, string>();
    for (const h of r.headers) {
      const what = `route ${r.host} header ${h.name}`;
      const secret = await resolveSource(
        what,
        h.source,
        literals.get(routeLiteralKey(r.host, h.name)),
        env,
        ask,
      );
      headers.set(h.name.toLowerCase(), routeHeaderValue(what, secret, h.prefix, h.basicUser));
    }
    out.set(r.host, headers);
  }
  return out;
}
