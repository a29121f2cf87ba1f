import {
  GUEST_HOME,
  GUEST_WORKSPACE,
  jsonFile,
  modelArgs,
  PLACEHOLDER_KEY,
  type Provider,
} from './provider.js';

/**
 * Claude Code. It reads its base URL from the environment and trusts
 * NODE_EXTRA_CA_CERTS / SSL_CERT_FILE (set for every bottle). The prompt
 * goes after `--`, so a prompt such as `--help me` stays the prompt.
 */
export const claude: Provider = {
  name: 'claude',
  title: 'Claude Code',
  npmPackage: '@anthropic-ai/claude-code',
  npmVersion: '2.1.197',
  bin: 'claude',
  installSteps: [],
  promptPath: `${GUEST_HOME}/.claude/CLAUDE.md`,
  skillsDir: `${GUEST_HOME}/.claude/skills`,
  wire: 'anthropic',
  meteredApis: ['anthropic-messages'],
  keyEnv: 'ANTHROPIC_API_KEY',
  // A subscription token travels as `Authorization: Bearer`; the CLI sends
  // the matching headers only when it believes it holds such a token.
  credentialEnv: (bearer) =>
    bearer ? { CLAUDE_CODE_OAUTH_TOKEN: PLACEHOLDER_KEY } : { ANTHROPIC_API_KEY: PLACEHOLDER_KEY },
  command(req) {
    const argv = ['claude', '--dangerously-skip-permissions', ...modelArgs(req.model)];
    if (req.resume === true) argv.push('--continue');
    if (req.headless !== undefined) argv.push('-p', '--', req.headless.prompt);
    return { argv, stdin: undefined };
  },
  backgroundOff: {
    // Telemetry, error reporting, the feedback command and the auto-updater.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    // An interactive start otherwise installs the official plugin
    // marketplace: downloads.claude.ai, then a git clone from github.com.
    CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL: '1',
  },
  guest(req) {
    const env: Record<string, string> = { ANTHROPIC_BASE_URL: req.baseUrl };
    // Claude Code's MCP tool calls time out on their own; an operator may take a while.
    if (req.superviseTimeoutMs !== undefined) {
      env.MCP_TOOL_TIMEOUT = String(req.superviseTimeoutMs + 60_000);
    }
    // Without these the first interactive run stops at onboarding, the
    // folder-trust dialog and the "use this API key?" question.
    const state = jsonFile('.claude.json', {
      hasCompletedOnboarding: true,
      bypassPermissionsModeAccepted: true,
      customApiKeyResponses: { approved: [PLACEHOLDER_KEY.slice(-20)], rejected: [] },
      projects: { [GUEST_WORKSPACE]: { hasTrustDialogAccepted: true } },
    });
    return { env, files: [state] };
  },
  mcpRegistration: (url) => ({
    remove: ['claude', 'mcp', 'remove', '--scope', 'user', 'supervise'],
    add: ['claude', 'mcp', 'add', '--scope', 'user', '--transport', 'http', 'supervise', url],
  }),
};
