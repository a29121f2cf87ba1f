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

export interface AgentInvocation {
  argv: string[];
  /** Text for the CLI's standard input (then closed); undefined: no input. */
  stdin: string | undefined;
}

/**
 * How the agent CLI runs inside the bottle. The bottle is the sandbox, so
 * each CLI's own permission prompts and sandbox are switched off. The
 * prompt is user text, never an option: claude and codex take it after
 * `--` (a prompt such as `--help me` or `-p x` stays the prompt); pi's
 * parser has no `--` and reads a leading `-` or `@` as a flag or a file, so
 * pi gets the prompt on standard input, which it reads whole in print mode
 * (trimmed). Nothing is ever spliced into a shell string.
 */
export function agentCommand(provider: ProviderName, req: AgentCommandRequest): AgentInvocation {
  const bin = PROVIDER_INFO[provider].bin;
  const model = req.model === undefined ? [] : ['--model', req.model];
  const prompt = req.headless?.prompt;
  switch (provider) {
    case 'claude': {
      const argv = [bin, '--dangerously-skip-permissions', ...model];
      if (req.resume === true) argv.push('--continue');
      if (prompt !== undefined) argv.push('-p', '--', prompt);
      return { argv, stdin: undefined };
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
      if (prompt !== undefined) {
        // `codex exec` has its own flags; `resume --last` continues headless too.
        const resume = req.resume === true ? ['resume', '--last'] : [];
        return {
          argv: [
            bin,
            ...mcp,
            'exec',
            ...resume,
            bypass,
            '--skip-git-repo-check',
            ...model,
            '--',
            prompt,
          ],
          stdin: undefined,
        };
      }
      const argv =
        req.resume === true
          ? [bin, ...mcp, 'resume', '--last', bypass, ...model]
          : [bin, ...mcp, bypass, ...model];
      return { argv, stdin: undefined };
    }
    case 'pi': {
      // pi has no permission prompts to bypass.
      const argv = [bin, ...model];
      if (req.resume === true) argv.push('--continue');
      if (prompt !== undefined) argv.push('-p');
      return { argv, stdin: prompt };
    }
  }
}
