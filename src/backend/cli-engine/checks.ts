import type { Check, DoctorRequest } from '../backend.js';
import { imageId } from './build.js';
import type { EngineCli } from './cli.js';

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The base image check, the same for every engine apart from the fix. */
export async function baseImageCheck(
  cli: EngineCli,
  base: NonNullable<DoctorRequest['baseImage']>,
  fix: (ref: string) => string,
): Promise<Check> {
  return (await imageId(cli, base.ref)) !== undefined
    ? {
        id: 'base-image',
        title: 'base image',
        status: 'ok',
        summary: `${base.ref} (${base.from}) is present`,
      }
    : {
        id: 'base-image',
        title: 'base image',
        status: 'fail',
        summary: `${base.ref} (${base.from}) is not present locally`,
        fix: fix(base.ref),
      };
}
