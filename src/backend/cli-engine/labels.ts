import { EnvironmentError } from '../../errors.js';
import { LABEL, type ActiveBottle } from '../backend.js';

/** The part of an engine's container description that names a bottle. */
export interface InspectedContainer {
  Config?: { Labels?: unknown };
  State?: { Status?: unknown };
}

/** Bottles from `container inspect` output; labels are read as the map they are. */
export function bottlesFromInspect(json: string): ActiveBottle[] {
  const parsed: unknown = JSON.parse(json === '' ? '[]' : json);
  if (!Array.isArray(parsed)) throw new EnvironmentError('docker inspect did not return a list');
  return bottlesFrom(parsed as InspectedContainer[]);
}

export function bottlesFrom(containers: readonly InspectedContainer[]): ActiveBottle[] {
  return containers.map((c) => {
    const raw = c.Config?.Labels;
    const labels = new Map<string, string>();
    if (raw !== null && typeof raw === 'object') {
      for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels.set(k, v);
    }
    const get = (k: string): string => labels.get(k) ?? '';
    const pid = Number(get(LABEL.controllerPid));
    const state = c.State?.Status;
    return {
      slug: get(LABEL.slug),
      label: get(LABEL.label),
      agent: get(LABEL.agent),
      provider: get(LABEL.provider),
      bottles: get(LABEL.bottles)
        .split(' ')
        .filter((b) => b !== ''),
      identity: get(LABEL.identity),
      startedAt: get(LABEL.startedAt),
      state: typeof state === 'string' ? state : 'unknown',
      controllerPid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
      controllerHost: labels.get(LABEL.controllerHost),
    };
  });
}
