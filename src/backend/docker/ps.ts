import { LABEL, type ActiveBottle } from '../backend.js';
import { bottlesFrom, type InspectedContainer } from '../cli-engine/labels.js';

/**
 * `docker ps` joins a container's labels with commas, so a value holding
 * `,key=value` would forge a label. Each label is asked for on its own and
 * printed as JSON instead: one `docker ps` gives the same map inspect does.
 */
export const PS_FORMAT = `{"Config":{"Labels":{${Object.values(LABEL)
  .map((k) => `${JSON.stringify(k)}:{{json (.Label ${JSON.stringify(k)})}}`)
  .join(',')}}},"State":{"Status":{{json .State}}}}`;

/** Bottles from `docker ps --format PS_FORMAT` lines (a label docker lacks prints as ''). */
export function bottlesFromPs(out: string): ActiveBottle[] {
  return bottlesFrom(
    out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const c = JSON.parse(l) as { Config: { Labels: Record<string, string> }; State: unknown };
        const labels = Object.entries(c.Config.Labels).filter(([, v]) => v !== '');
        return {
          Config: { Labels: Object.fromEntries(labels) },
          State: c.State,
        } as InspectedContainer;
      }),
  );
}
