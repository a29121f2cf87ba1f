/**
 * Entity and skill names become file names, container labels, docker object
 * names and guest path segments. Restricting them to kebab-case at load time
 * is what makes every later use of them safe without quoting.
 */
export const ENTITY_NAME_RE = /^[a-z][a-z0-9-]*$/;
export const MAX_ENTITY_NAME_LENGTH = 63;

export function isValidEntityName(name: string): boolean {
  return name.length <= MAX_ENTITY_NAME_LENGTH && ENTITY_NAME_RE.test(name);
}

export function entityNameProblem(name: string): string | undefined {
  if (isValidEntityName(name)) return undefined;
  if (name.length > MAX_ENTITY_NAME_LENGTH) {
    return `name is ${name.length} characters long; the limit is ${MAX_ENTITY_NAME_LENGTH}`;
  }
  return `${JSON.stringify(name)} is not a valid name; names must match [a-z][a-z0-9-]* (lowercase letters, digits and dashes, starting with a letter)`;
}

/** Env variable names as POSIX shells accept them. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
