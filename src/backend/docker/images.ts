import { EnvironmentError } from '../../errors.js';
import type { EngineImage } from '../backend.js';
import { firstLine, type EngineCli } from '../cli-engine/cli.js';

/**
 * bot-bottle's images on a docker engine, with what each one costs: its
 * size, the bytes only it holds (what removing it frees; layers shared
 * with other images stay) and how many containers use it.
 */

interface DfImage {
  Repository?: string;
  Tag?: string;
  ID?: string;
  CreatedAt?: string;
  Size?: string;
  UniqueSize?: string;
  Containers?: string;
}

const UNITS: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** docker's human sizes ("954.4kB", "1.04GB", "0B"; decimal units) in bytes. */
export function parseDockerSize(text: string | undefined): number {
  const m = /^([\d.]+)\s*([kKMGT]?B)$/.exec((text ?? '').trim());
  if (m === null) return 0;
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 'B'] ?? 1));
}

/** "2026-12-01 11:46:39 +0000 UTC" as ISO time. */
function isoTime(text: string | undefined): string {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) ([+-]\d{2})(\d{2})/.exec(text ?? '');
  if (m === null) return '';
  const t = new Date(`${m[1]}T${m[2]}${m[3]}:${m[4]}`);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString();
}

export function parseDfImages(json: string): EngineImage[] {
  const rows = JSON.parse(json === '' ? '[]' : json) as DfImage[] | null;
  return (rows ?? [])
    .filter((r) => (r.Repository ?? '').startsWith('bot-bottle-') && (r.Tag ?? '') !== '<none>')
    .map((r) => ({
      ref: `${r.Repository ?? ''}:${r.Tag ?? ''}`,
      id: r.ID ?? '',
      size: parseDockerSize(r.Size),
      uniqueSize: parseDockerSize(r.UniqueSize),
      created: isoTime(r.CreatedAt),
      containers: Number(r.Containers ?? '0') || 0,
    }));
}

export async function listImages(cli: EngineCli): Promise<EngineImage[]> {
  // `system df -v` is the one listing with unique sizes and container counts.
  const r = await cli.run(['system', 'df', '--verbose', '--format', '{{json .Images}}'], {
    timeoutMs: 120_000,
  });
  if (r.code !== 0) {
    throw new EnvironmentError(`listing images failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
  }
  return parseDfImages(r.stdout.trim());
}
