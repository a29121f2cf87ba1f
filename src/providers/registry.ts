import type { ProviderName } from '../manifest/schema.js';

/** The agent's home directory inside every bottle image. */
export const GUEST_HOME = '/home/agent';
export const GUEST_WORKSPACE = '/workspace';

/** What the planner needs to know about each agent CLI. */
export interface ProviderInfo {
  name: ProviderName;
  /** Human name of the CLI. */
  title: string;
  /** npm package that ships the CLI. */
  npmPackage: string;
  /** Where the agent's prompt (the agent file's Markdown body) is placed. */
  promptPath: string;
  /** Directory that receives one sub-directory per skill. */
  skillsDir: string;
}

export const PROVIDER_INFO: Record<ProviderName, ProviderInfo> = {
  claude: {
    name: 'claude',
    title: 'Claude Code',
    npmPackage: '@anthropic-ai/claude-code',
    promptPath: `${GUEST_HOME}/.claude/CLAUDE.md`,
    skillsDir: `${GUEST_HOME}/.claude/skills`,
  },
  codex: {
    name: 'codex',
    title: 'Codex CLI',
    npmPackage: '@openai/codex',
    promptPath: `${GUEST_HOME}/.codex/AGENTS.md`,
    skillsDir: `${GUEST_HOME}/.codex/skills`,
  },
  pi: {
    name: 'pi',
    title: 'pi',
    npmPackage: '@mariozechner/pi-coding-agent',
    promptPath: `${GUEST_HOME}/.pi/agent/AGENTS.md`,
    skillsDir: `${GUEST_HOME}/.pi/agent/skills`,
  },
};
