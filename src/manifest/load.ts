import { readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ConfigError, type ConfigLocation } from '../errors.js';
import { botBottleHome, JSON_MANIFEST, REPO_CONFIG_DIR, SETTINGS_FILE } from '../paths.js';
import { parseFrontMatter } from './frontmatter.js';
import { parseWith } from './issues.js';
import { checkReferences } from './resolve.js';
import { entityNameProblem } from './names.js';
import {
  agentSchema,
  bottleSchema,
  jsonAgentSchema,
  jsonManifestSchema,
  type AgentSpec,
  type BottleSpec,
} from './schema.js';

export type Origin = 'repo' | 'home';

interface Located {
  name: string;
  /** The file (or skill directory) that defines it. */
  file: string;
  origin: Origin;
  /** Directory that anchors relative paths in this entity (`file:` values). */
  baseDir: string;
}

export interface LoadedBottle extends Located {
  spec: BottleSpec;
}

export interface LoadedAgent extends Located {
  spec: AgentSpec;
  prompt: string;
}

export type LoadedSkill = Located;

export interface ConfigIndex {
  bottles: ReadonlyMap<string, LoadedBottle>;
  agents: ReadonlyMap<string, LoadedAgent>;
  skills: ReadonlyMap<string, LoadedSkill>;
  /** The repository root that holds `.bot-bottle/` or `bot-bottle.json`, if any. */
  repoRoot: string | undefined;
  home: string;
  /** Every config file read, in load order. */
  files: string[];
}

export interface LoadOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

/** Paths in messages are shown relative to the cwd when that is shorter. */
export function displayPath(p: string, cwd: string): string {
  const rel = relative(cwd, p);
  return rel !== '' && !rel.startsWith('..') && rel.length < p.length ? rel : p;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The nearest directory at or above `cwd` that holds `.bot-bottle/` or
 * `bot-bottle.json`. The per-user home directory does not count: it is
 * loaded as the home layer, not as a repository.
 */
export function findRepoRoot(cwd: string, home: string): string | undefined {
  let dir = resolve(cwd);
  for (;;) {
    const cfgDir = join(dir, REPO_CONFIG_DIR);
    const hasDir = isDir(cfgDir) && resolve(cfgDir) !== resolve(home);
    if (hasDir || isFile(join(dir, JSON_MANIFEST))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Read a config file; every failure is a ConfigError naming the file. */
export function readConfigText(path: string, loc: ConfigLocation): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'EISDIR'
        ? 'is a directory, expected a file'
        : code === 'ENOENT'
          ? 'does not exist (a dangling symlink?)'
          : code === 'EACCES'
            ? 'is not readable (permission denied)'
            : `cannot be read (${code})`;
    throw new ConfigError(loc, why);
  }
}

function listDir(path: string, loc: ConfigLocation): Dirent[] {
  try {
    return readdirSync(path, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(loc, `cannot list directory (${code})`);
  }
}

interface Layer {
  bottles: Map<string, LoadedBottle>;
  agents: Map<string, LoadedAgent>;
  skills: Map<string, LoadedSkill>;
  files: string[];
}

function emptyLayer(): Layer {
  return { bottles: new Map(), agents: new Map(), skills: new Map(), files: [] };
}

type Kind = 'bottle' | 'agent';

function entityFiles(dir: string, kind: Kind, show: (p: string) => string): [string, string][] {
  if (!isDir(dir)) return [];
  const out: [string, string][] = [];
  for (const ent of listDir(dir, { file: show(dir) })) {
    if (ent.name.startsWith('.')) continue;
    const path = join(dir, ent.name);
    if (!ent.name.endsWith('.md')) {
      throw new ConfigError(
        { file: show(path) },
        `unexpected entry in ${kind}s/: each ${kind} is a file named <name>.md`,
      );
    }
    const name = ent.name.slice(0, -3);
    const problem = entityNameProblem(name);
    if (problem !== undefined) {
      throw new ConfigError({ file: show(path), entity: `${kind} '${name}'` }, `file ${problem}`);
    }
    out.push([name, path]);
  }
  return out;
}

function loadDirLayer(
  cfgDir: string,
  origin: Origin,
  layer: Layer,
  show: (p: string) => string,
): void {
  if (origin === 'repo' && isFile(join(cfgDir, SETTINGS_FILE))) {
    throw new ConfigError(
      { file: show(join(cfgDir, SETTINGS_FILE)) },
      'host settings are per user, not per repository: move this file to ~/.bot-bottle/settings.yml',
    );
  }
  for (const [name, path] of entityFiles(join(cfgDir, 'bottles'), 'bottle', show)) {
    const loc = { file: show(path), entity: `bottle '${name}'` };
    // A bottle's Markdown body is documentation for humans; only its settings matter.
    const { data } = parseFrontMatter(readConfigText(path, loc), loc);
    const spec = parseWith(bottleSchema, data ?? {}, loc);
    layer.bottles.set(name, { name, file: path, origin, baseDir: dirname(path), spec });
    layer.files.push(path);
  }
  for (const [name, path] of entityFiles(join(cfgDir, 'agents'), 'agent', show)) {
    const loc = { file: show(path), entity: `agent '${name}'` };
    const { data, body } = parseFrontMatter(readConfigText(path, loc), loc);
    const spec = parseWith(agentSchema, data ?? {}, loc);
    layer.agents.set(name, {
      name,
      file: path,
      origin,
      baseDir: dirname(path),
      spec,
      prompt: body.trim(),
    });
    layer.files.push(path);
  }
  const skillsDir = join(cfgDir, 'skills');
  if (isDir(skillsDir)) {
    for (const ent of listDir(skillsDir, { file: show(skillsDir) })) {
      if (ent.name.startsWith('.')) continue;
      const path = join(skillsDir, ent.name);
      const loc = { file: show(path), entity: `skill '${ent.name}'` };
      const problem = entityNameProblem(ent.name);
      if (problem !== undefined) throw new ConfigError(loc, `directory ${problem}`);
      if (!isDir(path)) throw new ConfigError(loc, 'a skill is a directory holding SKILL.md');
      if (!isFile(join(path, 'SKILL.md'))) {
        throw new ConfigError(loc, 'skill directory has no SKILL.md');
      }
      layer.skills.set(ent.name, { name: ent.name, file: path, origin, baseDir: path });
    }
  }
}

function loadJsonLayer(
  path: string,
  origin: Origin,
  layer: Layer,
  show: (p: string) => string,
): void {
  const file = show(path);
  const text = readConfigText(path, { file });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError({ file }, `invalid JSON: ${(e as Error).message}`);
  }
  const doc = parseWith(jsonManifestSchema, raw, { file });
  const baseDir = dirname(path);
  // One name, one definition per location: a name in both .bot-bottle/ and
  // bot-bottle.json would make which one applies a matter of load order.
  const entityLoc = (kind: Kind, name: string, existing: Located | undefined): ConfigLocation => {
    const loc = { file, entity: `${kind} '${name}'` };
    const problem = entityNameProblem(name);
    if (problem !== undefined) throw new ConfigError(loc, `${kind} ${problem}`);
    if (existing !== undefined) {
      throw new ConfigError(
        loc,
        `${kind} '${name}' is also defined in ${show(existing.file)}; define it once per location`,
      );
    }
    return loc;
  };
  for (const [name, spec] of Object.entries(doc.bottles ?? {})) {
    const loc = entityLoc('bottle', name, layer.bottles.get(name));
    layer.bottles.set(name, {
      name,
      file: path,
      origin,
      baseDir,
      spec: parseWith(bottleSchema, spec, loc),
    });
  }
  for (const [name, rawAgent] of Object.entries(doc.agents ?? {})) {
    const loc = entityLoc('agent', name, layer.agents.get(name));
    const { prompt, ...spec } = parseWith(jsonAgentSchema, rawAgent, loc);
    layer.agents.set(name, {
      name,
      file: path,
      origin,
      baseDir,
      spec,
      prompt: (prompt ?? '').trim(),
    });
  }
  layer.files.push(path);
}

function loadLayer(
  root: string,
  cfgDir: string,
  origin: Origin,
  show: (p: string) => string,
): Layer {
  const layer = emptyLayer();
  if (isDir(cfgDir)) loadDirLayer(cfgDir, origin, layer, show);
  const json = join(root, JSON_MANIFEST);
  if (isFile(json)) loadJsonLayer(json, origin, layer, show);
  return layer;
}

/**
 * Load the home layer, then the repository layer over it (by name: a repo
 * entity replaces a home entity of the same name whole), then check every
 * cross-reference so that a dangling name fails here, before anything runs.
 */
export function loadConfig(opts: LoadOptions): ConfigIndex {
  const env = opts.env ?? process.env;
  const home = botBottleHome(env);
  const show = (p: string): string => displayPath(p, opts.cwd);
  const homeLayer = loadLayer(home, home, 'home', show);
  const repoRoot = findRepoRoot(opts.cwd, home);
  const repoLayer =
    repoRoot === undefined
      ? emptyLayer()
      : loadLayer(repoRoot, join(repoRoot, REPO_CONFIG_DIR), 'repo', show);

  const index: ConfigIndex = {
    bottles: new Map([...homeLayer.bottles, ...repoLayer.bottles]),
    agents: new Map([...homeLayer.agents, ...repoLayer.agents]),
    skills: new Map([...homeLayer.skills, ...repoLayer.skills]),
    repoRoot,
    home,
    files: [...homeLayer.files, ...repoLayer.files],
  };
  checkReferences(index, show);
  return index;
}
