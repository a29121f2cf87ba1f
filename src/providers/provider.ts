import type { MeteredApi } from '../egress/meter.js';

/**
 * What bot-bottle knows about one agent CLI. Each CLI is one object in its
 * own file (claude.ts, codex.ts, pi.ts) and one line in registry.ts; the
 * planner, the image recipe, the guest setup and the launch ask the object
 * and never switch on the CLI's name. docs/providers.md explains each field
 * and how to add a CLI.
 */

/** The agent's home directory inside every bottle image. */
export const GUEST_HOME = '/home/agent';
export const GUEST_USER = 'agent';
export const GUEST_WORKSPACE = '/workspace';

/** The system bundle in every agent image; it includes the extra CAs baked in at build. */
export const GUEST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * Stands in for the API key so each CLI starts without a login flow. The
 * real key never enters the bottle; the egress proxy holds it.
 */
export const PLACEHOLDER_KEY = 'bot-bottle-placeholder-key-not-a-secret';

/** A bottle's `api` key: which vendor API family the CLI speaks. */
export type ApiWire = 'anthropic' | 'openai';

export interface AgentCommandRequest {
  /** Non-interactive run of one prompt; the CLI exits when done. */
  headless?: { prompt: string } | undefined;
  model?: string | undefined;
  /** Continue the most recent conversation (after `resume`). */
  resume?: boolean | undefined;
  /** The supervise MCP server is registered: its tool calls may wait this long for the operator. */
  superviseTimeoutMs?: number | undefined;
}

export interface AgentInvocation {
  argv: string[];
  /** Text for the CLI's standard input (then closed); undefined: no input. */
  stdin: string | undefined;
}

export interface GuestFile {
  /** Relative to the agent's home directory. */
  path: string;
  content: string;
  mode: number;
}

export interface GuestSetup {
  env: Record<string, string>;
  files: GuestFile[];
}

/** What a provider needs to write its own configuration inside the bottle. */
export interface GuestRequest {
  /** The API base URL the CLI must use (no trailing slash, no `/v1`). */
  baseUrl: string;
  model: string | null;
  /** Set when the supervise MCP server is registered: how long its tool calls may wait. */
  superviseTimeoutMs: number | undefined;
}

/** Commands (argv, run as the agent's user) that add and remove the supervise MCP server. */
export interface McpRegistration {
  remove: string[];
  add: string[];
}

export interface Provider {
  /** The `provider:` value of an agent file; also the registry key. */
  name: string;
  /** Human name of the CLI, for messages. */
  title: string;

  // --- image recipe part ---
  /** npm package that ships the CLI. */
  npmPackage: string;
  /**
   * Pinned version installed in the image: part of the image recipe, so a
   * version bump is a new image tag, and a bottle never changes CLI silently.
   */
  npmVersion: string;
  /** The executable the package puts on PATH. */
  bin: string;
  /** Dockerfile lines run as root after the CLI is installed (usually none). */
  installSteps: readonly string[];

  // --- where the agent file's parts go ---
  /** Where the agent's prompt (the agent file's Markdown body) is placed. */
  promptPath: string;
  /** Directory that receives one sub-directory per skill. */
  skillsDir: string;

  // --- API and metering ---
  /** The API family the CLI speaks: picks the bottle's `api.<wire>` base URL and the default. */
  wire: ApiWire;
  /** The wire formats the egress meter reads this CLI's token usage from. */
  meteredApis: readonly MeteredApi[];
  /** Variable the CLI reads its API key from (a placeholder inside the bottle). */
  keyEnv: string;
  /**
   * The placeholder credential variables. `bearer`: the bottle's route for
   * the API host injects `Authorization` (a subscription token) rather than
   * an API key header.
   */
  credentialEnv(bearer: boolean): Record<string, string>;

  // --- running it ---
  /**
   * The CLI's argv inside the bottle (interactive, headless, resume,
   * model). The bottle is the sandbox, so the CLI's own permission prompts
   * and sandbox are off. The prompt is user text, never an option.
   */
  command(req: AgentCommandRequest): AgentInvocation;
  /**
   * The CLI's own configuration (base URL, CA variables, onboarding state)
   * beyond the proxy and CA variables every bottle sets.
   */
  guest(req: GuestRequest): GuestSetup;
  /**
   * Environment that switches off the CLI's background traffic (update
   * checks, telemetry, downloads) that the bottle's egress refuses anyway.
   * Settings that live in config files are written by `guest`.
   */
  backgroundOff: Readonly<Record<string, string>>;
  /**
   * How the supervise MCP server (at `url`) is registered in the CLI's own
   * config; undefined: the CLI has no MCP client, so supervise is off.
   */
  mcpRegistration(url: string): McpRegistration | undefined;
}

/** The `--model` option every CLI here understands. */
export const modelArgs = (model: string | undefined): string[] =>
  model === undefined ? [] : ['--model', model];

/** TOML basic strings accept JSON's escapes for everything a URL or model name holds. */
export const tomlString = (s: string): string => JSON.stringify(s);

/** A JSON file in the agent's home, 0600, pretty-printed. */
export const jsonFile = (path: string, value: unknown): GuestFile => ({
  path,
  mode: 0o600,
  content: `${JSON.stringify(value, null, 2)}\n`,
});
