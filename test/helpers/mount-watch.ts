import { execFile } from 'node:child_process';

/** One bind mount a bottle container was given: a host path the engine had to share. */
export interface HostBind {
  container: string;
  source: string;
  destination: string;
}

function dockerAsync(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { encoding: 'utf8', env, timeout: 30_000 }, (e, out) => {
      if (e !== null) reject(new Error(e.message));
      else resolve(out);
    });
  });
}

interface InspectedMounts {
  Name?: string;
  Mounts?: { Type?: string; Source?: string; Destination?: string }[];
}

/**
 * Watches an engine while bottles run: every container labelled
 * `dev.bot-bottle.slug` is inspected once, and each `bind` mount in its
 * `.Mounts` is recorded. No bottle channel may depend on a host path
 * (Docker Desktop, colima and remote engines have none of this machine's
 * files), so a test asserts `binds()` is empty after the run. Polling is
 * asynchronous: an in-process fake upstream keeps answering meanwhile.
 */
export interface MountWatch {
  /** Bind mounts seen so far. */
  binds: () => HostBind[];
  /** Names of the bottle containers inspected so far. */
  seen: () => string[];
  /** Stop polling; one last look first, so a container started just now is counted. */
  stop: () => Promise<void>;
}

export function watchBottleMounts(
  opts: { env?: NodeJS.ProcessEnv; slugs?: readonly string[]; everyMs?: number } = {},
): MountWatch {
  const env = opts.env ?? process.env;
  const mine = (slug: string): boolean => opts.slugs === undefined || opts.slugs.includes(slug);
  const inspected = new Map<string, string>();
  const binds: HostBind[] = [];
  const state = { stopped: false };
  const look = async (): Promise<void> => {
    let ids: string[];
    try {
      const out = await dockerAsync(
        [
          'ps',
          '--all',
          '--no-trunc',
          '--filter',
          'label=dev.bot-bottle.slug',
          '--format',
          '{{.ID}} {{.Label "dev.bot-bottle.slug"}}',
        ],
        env,
      );
      ids = out
        .split('\n')
        .map((l) => l.split(' '))
        .filter(
          ([id, slug]) => id !== undefined && id !== '' && !inspected.has(id) && mine(slug ?? ''),
        )
        .map(([id]) => id ?? '');
    } catch {
      return;
    }
    if (ids.length === 0) return;
    let list: InspectedMounts[];
    try {
      list = JSON.parse(
        await dockerAsync(['container', 'inspect', ...ids], env),
      ) as InspectedMounts[];
    } catch {
      // One of them was removed between ps and inspect: ask again next round.
      return;
    }
    for (const [i, c] of list.entries()) {
      const name = (c.Name ?? '').replace(/^\//, '');
      inspected.set(ids[i] ?? name, name);
      for (const m of c.Mounts ?? []) {
        if (m.Type === 'bind')
          binds.push({ container: name, source: m.Source ?? '', destination: m.Destination ?? '' });
      }
    }
  };
  const loop = (async () => {
    while (!state.stopped) {
      await look();
      await new Promise((r) => setTimeout(r, opts.everyMs ?? 300));
    }
  })();
  return {
    binds: () => [...binds],
    seen: () => [...new Set(inspected.values())].sort(),
    stop: async () => {
      state.stopped = true;
      await loop;
      await look();
    },
  };
}
