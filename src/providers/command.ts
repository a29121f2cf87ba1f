import type { ProviderName } from '../manifest/schema.js';
import { PROVIDER_INFO } from './registry.js';

export interface AgentCommandRequest {
  /** Non-interactive run of one prompt; the CLI exits when done. */
  headless?: { prompt: string } | undefined;
  model?: string | undefined;
  /** Continue the most recent conversation (after `resume`). */
  resume?: boolean | undefined;
  /** The supervise MCP server is registered: its tool calls may wait this long for the operator. */
  superviseTimeoutMs?: number | undefined;
}

/**
 * The agent CLI's argv inside the bottle. The bottle is the sandbox, so each
 * CLI's own permission prompts and sandbox are switched off; the prompt is
 * always one argv element, never spliced into a shell string.
 */
export function agentCommand(provider: ProviderName, req: AgentCommandRequest): string[] {
  const bin = PROVIDER_INFO[provider].bin;
  const model = req.model === undefined ? [] : ['--model', req.model];
  switch (provider) {
    case 'claude': {
      const argv = [bin, '--dangerously-skip-permissions', ...model];
      if (req.resume === true) argv.push('--continue');
      if (req.headless !== undefined) argv.push('-p', req.headless.prompt);
      return argv;
    }
    case 'codex': {
      const bypass = '--dangerously-bypass-approvals-and-sandbox';
      // codex gives MCP tool calls 60 s by default; an operator may take longer.
      const mcp =
        req.superviseTimeoutMs === undefined
          ? []
          : [
              '-c',
              `mcp_servers.supervise.tool_timeout_sec=${Math.ceil(req.superviseTimeoutMs / 1000) + 60}`,
            ];
      if (req.headless !== undefined) {
        // `codex exec` has its own flags; `resume --last` continues headless too.
        const resume = req.resume === true ? ['resume', '--last'] : [];
        return [
          bin,
          ...mcp,
          'exec',
          ...resume,
          bypass,
          '--skip-git-repo-check',
          ...model,
          req.headless.prompt,
        ];
      }
      return req.resume === true
        ? [bin, ...mcp, 'resume', '--last', bypass, ...model]
        : [bin, ...mcp, bypass, ...model];
    }
    case 'pi': {
      // pi has no permission prompts to bypass.
      const argv = [bin, ...model];
      if (req.resume === true) argv.push('--continue');
      if (req.headless !== undefined) argv.push('-p', req.headless.prompt);
      return argv;
    }
  }
}
