import type { z } from 'zod';
import { ConfigError, type ConfigLocation } from '../errors.js';
import { didYouMean } from '../util/suggest.js';

/** Render a value for an error message without dumping a whole structure. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') {
    const shown = v.length > 40 ? `${v.slice(0, 37)}...` : v;
    return `the string ${JSON.stringify(shown)}`;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v;
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  record: 'a mapping',
};

export function pathToField(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

interface ZodDefLike {
  type: string;
  shape?: Record<string, unknown>;
  element?: unknown;
  innerType?: unknown;
  valueType?: unknown;
  options?: unknown[];
  in?: unknown;
}

function defOf(schema: unknown): ZodDefLike | undefined {
  return (schema as { def?: ZodDefLike } | undefined)?.def;
}

/** The keys an object schema accepts at `path`, for "did you mean". */
export function knownKeysAt(schema: unknown, path: readonly PropertyKey[]): string[] {
  let cur: unknown = schema;
  const unwrap = (): void => {
    for (;;) {
      const d = defOf(cur);
      if (d === undefined) return;
      if (d.type === 'optional' || d.type === 'nullable' || d.type === 'default') cur = d.innerType;
      else if (d.type === 'pipe') cur = d.in;
      else return;
    }
  };
  const objectKeys = (): string[] | undefined => {
    unwrap();
    const d = defOf(cur);
    if (d?.type === 'object' && d.shape !== undefined) return Object.keys(d.shape);
    if (d?.type === 'union' && d.options !== undefined) {
      for (const o of d.options) {
        const od = defOf(o);
        if (od?.type === 'object' && od.shape !== undefined) return Object.keys(od.shape);
      }
    }
    return undefined;
  };
  for (const seg of path) {
    unwrap();
    const d = defOf(cur);
    if (d === undefined) return [];
    if (d.type === 'object' && d.shape !== undefined && typeof seg === 'string') cur = d.shape[seg];
    else if (d.type === 'array') cur = d.element;
    else if (d.type === 'record') cur = d.valueType;
    else if (d.type === 'union' && d.options !== undefined) {
      const obj = d.options.find((o) => defOf(o)?.type === 'object');
      const shape = defOf(obj)?.shape;
      cur = typeof seg === 'string' ? shape?.[seg] : undefined;
    } else return [];
  }
  return objectKeys() ?? [];
}

function issueDetail(issue: z.core.$ZodIssue, schema: unknown): { field: string; detail: string } {
  const path = issue.path;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(schema, path);
      const key = issue.keys[0] ?? '';
      const field = pathToField([...path, key]);
      const knownList = known.length > 0 ? `; known keys: ${known.join(', ')}` : '';
      return { field, detail: `unknown key '${key}'${didYouMean(key, known)}${knownList}` };
    }
    case 'invalid_type': {
      const field = pathToField(path);
      const input: unknown = issue.input;
      const want = TYPE_WORDS[issue.expected] ?? issue.expected;
      if (input === undefined) return { field, detail: `is required (expected ${want})` };
      return { field, detail: `expected ${want}, got ${describeValue(input)}` };
    }
    case 'invalid_value': {
      const field = pathToField(path);
      const values = issue.values.map(String);
      const input: unknown = issue.input;
      const got = typeof input === 'string' ? input : String(input);
      if (input === undefined)
        return { field, detail: `is required (one of ${values.join(', ')})` };
      return {
        field,
        detail: `expected one of ${values.join(', ')}, got ${describeValue(input)}${didYouMean(got, values)}`,
      };
    }
    case 'invalid_union': {
      // Header values are `string | {secret, prefix}`: report the branch the
      // user evidently meant, judged by the type they wrote.
      const input: unknown = issue.input;
      const branch =
        typeof input === 'string'
          ? issue.errors[0]
          : typeof input === 'object' && input !== null && !Array.isArray(input)
            ? issue.errors[1]
            : undefined;
      const inner = branch?.find((i) => i.code === 'unrecognized_keys') ?? branch?.[0];
      if (inner !== undefined) {
        const sub = issueDetail({ ...inner, path: [...path, ...inner.path] }, schema);
        return sub;
      }
      return {
        field: pathToField(path),
        detail: `expected a string or a mapping {secret, prefix}, got ${describeValue(issue.input)}`,
      };
    }
    case 'invalid_key': {
      const field = pathToField(path);
      const sub = issue.issues[0];
      return {
        field,
        detail: `key ${JSON.stringify(issue.input)} ${sub?.message ?? issue.message}`,
      };
    }
    case 'invalid_element': {
      const field = pathToField(path);
      return { field, detail: issue.message };
    }
    case 'too_small':
    case 'too_big':
    case 'invalid_format':
    case 'not_multiple_of':
    case 'custom':
    default: {
      return { field: pathToField(path), detail: issue.message };
    }
  }
}

/**
 * Turn the first zod issue into one ConfigError. One message, not a list:
 * users fix one thing at a time and a wall of cascading errors hides the
 * real one.
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  data: unknown,
  loc: ConfigLocation,
  fieldPrefix = '',
): z.output<S> {
  const result = schema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  // An unknown key usually explains the other issues (a misspelled required
  // key is also a missing one), so it is the one to report.
  const issues = result.error.issues;
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  if (issue === undefined) throw new ConfigError(loc, 'invalid value');
  const { field, detail } = issueDetail(issue, schema);
  const full = fieldPrefix === '' ? field : field === '' ? fieldPrefix : `${fieldPrefix}.${field}`;
  throw new ConfigError({ ...loc, field: full }, detail);
}
