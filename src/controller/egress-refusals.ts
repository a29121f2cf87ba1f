import type { Backend } from '../backend/backend.js';
import { readArchivedEgressLog } from './egress-archive.js';

/**
 * What a bottle's egress proxy refused, read from its egress log (the
 * running sidecar's, or the archive an ended bottle left): how many
 * requests and the latest one. The dashboard shows it next to the budget
 * refusals the ledger holds.
 */

export interface EgressRefusal {
  at: string;
  host: string;
  port: number;
  status: number;
  reason: string;
}

export interface EgressRefusals {
  count: number;
  latest: EgressRefusal | null;
}

/** Count the `refused` entries of egress log lines; lines that are not entries are skipped. */
export function summarizeRefusals(lines: Iterable<string>): EgressRefusals {
  let count = 0;
  let latest: EgressRefusal | null = null;
  for (const line of lines) {
    if (!line.includes('"refused"')) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (e.verdict !== 'refused') continue;
    count += 1;
    latest = {
      at: typeof e.at === 'string' ? e.at : '',
      host: typeof e.host === 'string' ? e.host : '',
      port: typeof e.port === 'number' ? e.port : 0,
      status: typeof e.status === 'number' ? e.status : 0,
      reason: typeof e.reason === 'string' ? e.reason : '',
    };
  }
  return { count, latest };
}

export interface RefusalSource {
  slug: string;
  identity: string;
  running: boolean;
}

/**
 * Reads refusals for a live view without re-reading every log on every
 * refresh: a running bottle's log at most every `minIntervalMs`, an ended
 * bottle's archive once (it no longer grows). A log that cannot be read
 * (the bottle ran on another host, or its sidecar is gone) is `null`.
 */
export class RefusalReader {
  private readonly cache = new Map<string, { at: number; value: EgressRefusals | null }>();

  constructor(
    private readonly backend: Backend,
    private readonly env: NodeJS.ProcessEnv,
    private readonly minIntervalMs = 3_000,
    private readonly now: () => number = Date.now,
  ) {}

  async read(b: RefusalSource): Promise<EgressRefusals | null> {
    const key = `${b.running ? 'live' : 'archive'}:${b.identity}`;
    const hit = this.cache.get(key);
    if (hit !== undefined && (!b.running || this.now() - hit.at < this.minIntervalMs)) {
      return hit.value;
    }
    const value = await this.fresh(b);
    this.cache.set(key, { at: this.now(), value });
    return value;
  }

  private async fresh(b: RefusalSource): Promise<EgressRefusals | null> {
    if (b.running) {
      try {
        const log = await this.backend.egressLogText(b.slug);
        return log === undefined ? null : summarizeRefusals(log.text.split('\n'));
      } catch {
        return null;
      }
    }
    const lines = readArchivedEgressLog(this.env, b.identity);
    return lines === undefined ? null : summarizeRefusals(lines);
  }
}
