import type { ProviderName } from '../manifest/schema.js';

/** The agent's home directory inside every bottle image. */
export const GUEST_HOME = '/home/agent';
export const GUEST_USER = 'agent';
export const GUEST_WORKSPACE = '/workspace';

/** What the planner needs to know about each agent CLI. */
export interface ProviderInfo {
  name: ProviderName;
  /** Human name of the CLI. */
  title: string;
  /** npm package that ships the CLI. */
  npmPackage: string;
  /**
   * Pinned version installed in the image: part of the image recipe, so a
   * version bump is a new image tag, and a bottle never changes CLI silently.
   */
  npmVersion: string;
  /** The executable the package puts on PATH. */
  bin: string;
  /** Where the agent's prompt (the agent file's Markdown body) is placed. */
  promptPath: string;
  /** Directory that receives one sub-directory per skill. */
  skillsDir: string;
  /** The LLM API wire format the CLI speaks. */
  wire: ApiWire;
  /** Variable the CLI reads its API key from (a placeholder inside the bottle). */
  keyEnv: string;
}

export type ApiWire = 'anthropic' | 'openai';

/** The vendors' public APIs, used when no bottle sets `api`. */
export const DEFAULT_API: Record<ApiWire, string> = {
  anthropic: 'https://api.anthropic.com',
  openai: 'https://api.openai.com',
};

export const PROVIDER_INFO: Record<ProviderName, ProviderInfo> = {
  claude: {
    name: 'claude',
    title: 'Claude Code',
    npmPackage: '@anthropic-ai/claude-code',
    npmVersion: '2.1.197',
    bin: 'claude',
    promptPath: `${GUEST_HOME}/.claude/CLAUDE.md`,
    skillsDir: `${GUEST_HOME}/.claude/skills`,
    wire: 'anthropic',
    keyEnv: 'ANTHROPIC_API_KEY',
  },
  codex: {
    name: 'codex',
    title: 'Codex CLI',
    npmPackage: '@openai/codex',
    npmVersion: '0.169.0',
    bin: 'codex',
    promptPath: `${GUEST_HOME}/.codex/AGENTS.md`,
    skillsDir: `${GUEST_HOME}/.codex/skills`,
    wire: 'openai',
    keyEnv: 'OPENAI_API_KEY',
  },
  pi: {
    name: 'pi',
    title: 'pi',
    npmPackage: '@mariozechner/pi-coding-agent',
    npmVersion: '0.73.1',
    bin: 'pi',
    promptPath: `${GUEST_HOME}/.pi/agent/AGENTS.md`,
    skillsDir: `${GUEST_HOME}/.pi/agent/skills`,
    wire: 'anthropic',
    keyEnv: 'ANTHROPIC_API_KEY',
  },
};
