import { stringify } from 'yaml';
import { z } from 'zod';
import type { EgressPolicyConfig } from '../egress/config.js';
import { ConfigError } from '../errors.js';
import { parseYaml } from '../manifest/frontmatter.js';
import {
  basicUserName,
  exactHost,
  headerName,
  headerPrefix,
  hostPattern,
  requestRule,
} from '../manifest/schema.js';
import type { Component } from './audit.js';
import type { Tool } from './queue.js';

/**
 * The three files the supervise plane is about, as the agent reads them in
 * /etc/bot-bottle/current-config/ and proposes them back: the egress rules
 * (egress.yaml), the credential routes by host and header name
 * (routes.yaml; values are the operator's and never appear), and the
 * Dockerfile lines the image has beyond its recipe (Dockerfile). Each has
 * one renderer and one strict parser, shared by the sidecar (to refuse a
 * bad proposal at once) and the host (to check what it applies).
 */

export const FILE_FOR_TOOL: Record<Tool, string> = {
  'egress-block': 'egress.yaml',
  'cred-proxy-block': 'routes.yaml',
  'capability-block': 'Dockerfile',
};

export const COMPONENT_FOR_TOOL: Record<Tool, Component> = {
  'egress-block': 'egress',
  'cred-proxy-block': 'routes',
  'capability-block': 'capability',
};

export const FILE_FOR_COMPONENT: Record<Component, string> = {
  egress: 'egress.yaml',
  routes: 'routes.yaml',
  capability: 'Dockerfile',
};

/** A proposal or an edit that does not parse; the message says where. */
export class ProposalError extends ConfigError {}

function check<T>(schema: z.ZodType<T>, data: unknown, file: string): T {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new ProposalError(
    { file, field: i?.path.join('.') ?? '' },
    i?.message ?? 'does not match the expected shape',
  );
}

function yamlOf(text: string, file: string): unknown {
  try {
    return parseYaml(text, { file });
  } catch (e) {
    if (e instanceof ConfigError) throw new ProposalError({ file }, e.detail);
    throw e;
  }
}

// --- egress.yaml -------------------------------------------------------------

export const egressFileSchema = z.strictObject({
  allow: z.array(hostPattern).default([]),
  deny: z.array(hostPattern).default([]),
  passthrough: z.array(hostPattern).default([]),
  rules: z.array(requestRule).default([]),
});
export type EgressFile = z.infer<typeof egressFileSchema>;

export function renderEgressFile(p: EgressPolicyConfig): string {
  const body: EgressFile = {
    allow: p.allow,
    deny: p.deny,
    passthrough: p.passthrough,
    rules: p.rules,
  };
  return [
    `# Egress rules in force for bottle ${p.slug}.`,
    '# Ask for a change with the supervise tool egress-block: send this whole file, edited.',
    '# allow: hosts the bottle may reach (*.example.com covers subdomains); deny wins over allow;',
    '# passthrough: allowed hosts tunnelled without inspection; rules: method/path limits per host.',
    stringify(body, { indent: 2 }).trimEnd(),
    '',
  ].join('\n');
}

export function parseEgressFile(text: string, file = 'egress.yaml'): EgressFile {
  const data = yamlOf(text, file) ?? {};
  return check(egressFileSchema, data, file);
}

// --- routes.yaml -------------------------------------------------------------

const routeHeaderEntry = z.union([
  headerName,
  z.strictObject({
    name: headerName,
    prefix: headerPrefix.optional(),
    basicUser: basicUserName.optional(),
  }),
]);

export const routesFileSchema = z.strictObject({
  routes: z
    .array(
      z.strictObject({
        host: exactHost,
        headers: z.array(routeHeaderEntry).min(1, 'a route needs at least one header'),
      }),
    )
    .default([]),
});

export interface RouteHeaderSpec {
  name: string;
  prefix: string | undefined;
  basicUser: string | undefined;
}
export interface RouteSpec {
  host: string;
  headers: RouteHeaderSpec[];
}

export function renderRoutesFile(p: EgressPolicyConfig): string {
  const routes = p.routes.map((r) => ({ host: r.host, headers: r.headers.map((h) => h.name) }));
  return [
    `# Credential routes in force for bottle ${p.slug}: the egress proxy adds these`,
    '# headers to requests for the host. Values are chosen by the operator and never',
    '# enter the bottle. Ask for a change with the supervise tool cred-proxy-block:',
    '# send this whole file, edited (name hosts and header names only; a header may be',
    '# written as {name: authorization, prefix: "Bearer "}).',
    stringify({ routes }, { indent: 2 }).trimEnd(),
    '',
  ].join('\n');
}

export function parseRoutesFile(text: string, file = 'routes.yaml'): RouteSpec[] {
  const data = check(routesFileSchema, yamlOf(text, file) ?? {}, file);
  const seen = new Set<string>();
  return data.routes.map((r, i) => {
    if (seen.has(r.host)) {
      throw new ProposalError({ file, field: `routes.${i}.host` }, `${r.host} is listed twice`);
    }
    seen.add(r.host);
    const names = new Set<string>();
    return {
      host: r.host,
      headers: r.headers.map((h, j) => {
        const spec =
          typeof h === 'string'
            ? { name: h.toLowerCase(), prefix: undefined, basicUser: undefined }
            : { name: h.name.toLowerCase(), prefix: h.prefix, basicUser: h.basicUser };
        if (names.has(spec.name)) {
          throw new ProposalError(
            { file, field: `routes.${i}.headers.${j}` },
            `header ${spec.name} is listed twice for ${r.host}`,
          );
        }
        names.add(spec.name);
        return spec;
      }),
    };
  });
}

// --- Dockerfile additions ----------------------------------------------------

/**
 * Instructions an addition may use. FROM would replace the base, USER /
 * ENTRYPOINT / CMD would change how bot-bottle runs the agent, and COPY /
 * ADD have no build context to read from.
 */
const ALLOWED_INSTRUCTIONS = ['RUN', 'ENV', 'ARG', 'LABEL', 'WORKDIR'] as const;

export function renderDockerfile(lines: readonly string[], apt: readonly string[]): string {
  return [
    '# Dockerfile lines this bottle image has beyond its recipe.',
    '# Ask for more with the supervise tool capability-block: send only the lines to add',
    `# (${ALLOWED_INSTRUCTIONS.join(', ')}); they run as root after these.`,
    ...(apt.length === 0 ? [] : [`# apt packages: ${apt.join(' ')}`]),
    ...lines,
    '',
  ].join('\n');
}

/** Logical instructions of a Dockerfile fragment (continuations joined), checked. */
export function parseDockerfileAdditions(text: string, file = 'Dockerfile'): string[] {
  const out: string[] = [];
  let pending = '';
  let startLine = 0;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (pending === '') startLine = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      return;
    }
    const instr = `${pending}${line.trim()}`.trim();
    pending = '';
    const kw = /^([A-Za-z]+)\s/.exec(`${instr} `)?.[1]?.toUpperCase() ?? '';
    if (!(ALLOWED_INSTRUCTIONS as readonly string[]).includes(kw)) {
      throw new ProposalError(
        { file, field: `line ${startLine}` },
        kw === ''
          ? `'${instr.slice(0, 60)}' is not a Dockerfile instruction`
          : `${kw} is not allowed in an addition (allowed: ${ALLOWED_INSTRUCTIONS.join(', ')})`,
      );
    }
    if (/[\0]/.test(instr)) {
      throw new ProposalError({ file, field: `line ${startLine}` }, 'holds a NUL byte');
    }
    out.push(instr);
  });
  if (pending !== '') {
    throw new ProposalError({ file }, 'ends inside a continued line (a trailing backslash)');
  }
  if (out.length === 0) throw new ProposalError({ file }, 'adds no instruction');
  return out;
}

/** Check a proposed file for its tool; the error names the line or field. */
export function validateProposal(tool: Tool, text: string): void {
  switch (tool) {
    case 'egress-block':
      parseEgressFile(text);
      return;
    case 'cred-proxy-block':
      parseRoutesFile(text);
      return;
    case 'capability-block':
      parseDockerfileAdditions(text);
      return;
  }
}
