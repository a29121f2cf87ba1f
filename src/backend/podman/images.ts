import { EnvironmentError } from '../../errors.js';
import { firstLine, type EngineCli } from '../cli-engine/cli.js';

/** One of bot-bottle's images in podman's store, with what it costs. */
export interface PodmanImage {
  /** repository:tag, without podman's `localhost/` prefix (the name bot-bottle gave it). */
  ref: string;
  id: string;
  /** Bytes, base layers included. */
  size: number;
  /** Bytes only this image holds: what removing it frees. */
  uniqueSize: number;
  /** ISO time the image was created. */
  created: string;
  /** Containers (in any state) created from it. */
  containers: number;
}

interface ImagesEntry {
  Id?: string;
  Names?: string[] | null;
  Size?: number;
  Containers?: number;
  Created?: number;
}

const UNITS: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** podman's human sizes ("243.9MB", "0B"; decimal units) in bytes. */
export function parseHumanSize(text: string): number {
  const m = /^([\d.]+)\s*([kKMGT]?B)$/.exec(text.trim());
  if (m === null) return 0;
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 'B'] ?? 1));
}

/**
 * Unique sizes by short image ID from `podman system df --verbose`, whose
 * `--format` podman 4.3 ignores: a table with columns two or more spaces apart.
 */
export function uniqueSizes(table: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = table.split('\n');
  const header = lines.findIndex((l) => l.startsWith('REPOSITORY'));
  if (header === -1) return out;
  const cols = (lines[header] ?? '').split(/\s{2,}/);
  const idCol = cols.indexOf('IMAGE ID');
  const uniqueCol = cols.indexOf('UNIQUE SIZE');
  for (const line of lines.slice(header + 1)) {
    if (line.trim() === '') break;
    const cells = line.trim().split(/\s{2,}/);
    const id = cells[idCol];
    const unique = cells[uniqueCol];
    if (id !== undefined && unique !== undefined) out.set(id, parseHumanSize(unique));
  }
  return out;
}

/** bot-bottle's images (`bot-bottle-*`) from `podman images --format json` and the df table. */
export function parsePodmanImages(imagesJson: string, dfTable: string): PodmanImage[] {
  const rows = JSON.parse(imagesJson.trim() === '' ? '[]' : imagesJson) as ImagesEntry[] | null;
  const unique = uniqueSizes(dfTable);
  const images: PodmanImage[] = [];
  for (const r of rows ?? []) {
    const id = r.Id ?? '';
    for (const name of r.Names ?? []) {
      const ref = name.replace(/^localhost\//, '');
      if (!ref.startsWith('bot-bottle-')) continue;
      const size = r.Size ?? 0;
      images.push({
        ref,
        id,
        size,
        uniqueSize: unique.get(id.slice(0, 12)) ?? size,
        created: r.Created === undefined ? '' : new Date(r.Created * 1000).toISOString(),
        containers: r.Containers ?? 0,
      });
    }
  }
  return images;
}

export async function listPodmanImages(cli: EngineCli): Promise<PodmanImage[]> {
  const images = await cli.run(['images', '--format', 'json'], { timeoutMs: 120_000 });
  if (images.code !== 0) {
    throw new EnvironmentError(`listing images failed: ${firstLine(images.stderr)}`);
  }
  const df = await cli.run(['system', 'df', '--verbose'], { timeoutMs: 120_000 });
  return parsePodmanImages(images.stdout, df.code === 0 ? df.stdout : '');
}
