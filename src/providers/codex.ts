import {
  GUEST_CA_BUNDLE,
  GUEST_HOME,
  GUEST_WORKSPACE,
  modelArgs,
  PLACEHOLDER_KEY,
  tomlString,
  type Provider,
} from './provider.js';

const KEY_ENV = 'OPENAI_API_KEY';
const BYPASS = '--dangerously-bypass-approvals-and-sandbox';

/**
 * OpenAI's Codex CLI. It ignores OPENAI_BASE_URL, so the API is a custom
 * model provider in ~/.codex/config.toml; it trusts CODEX_CA_CERTIFICATE
 * (not NODE_EXTRA_CA_CERTS). `codex exec` runs one prompt, after `--`.
 */
export const codex: Provider = {
  name: 'codex',
  title: 'Codex CLI',
  npmPackage: '@openai/codex',
  npmVersion: '0.169.0',
  bin: 'codex',
  installSteps: [],
  promptPath: `${GUEST_HOME}/.codex/AGENTS.md`,
  skillsDir: `${GUEST_HOME}/.codex/skills`,
  wire: 'openai',
  meteredApis: ['openai-responses'],
  keyEnv: KEY_ENV,
  credentialEnv: () => ({ [KEY_ENV]: PLACEHOLDER_KEY }),
  command(req) {
    const model = modelArgs(req.model);
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
      return {
        argv: [
          'codex',
          ...mcp,
          'exec',
          ...resume,
          BYPASS,
          '--skip-git-repo-check',
          ...model,
          '--',
          req.headless.prompt,
        ],
        stdin: undefined,
      };
    }
    const resume = req.resume === true ? ['resume', '--last'] : [];
    return { argv: ['codex', ...mcp, ...resume, BYPASS, ...model], stdin: undefined };
  },
  // Its background switches are config settings, written by `guest`.
  backgroundOff: {},
  guest(req) {
    const toml = [
      'model_provider = "bot-bottle"',
      ...(req.model === null ? [] : [`model = ${tomlString(req.model)}`]),
      // The interactive start's release check (api.github.com).
      'check_for_update_on_startup = false',
      '',
      '[model_providers.bot-bottle]',
      'name = "bot-bottle egress"',
      `base_url = ${tomlString(`${req.baseUrl}/v1`)}`,
      `env_key = ${tomlString(KEY_ENV)}`,
      'wire_api = "responses"',
      'supports_websockets = true',
      '',
      `[projects.${tomlString(GUEST_WORKSPACE)}]`,
      'trust_level = "trusted"',
      '',
      // The curated plugin marketplace sync (github.com, chatgpt.com). The
      // announcement tip (raw.githubusercontent.com) has no switch.
      '[features]',
      'plugins = false',
      '',
    ].join('\n');
    return {
      env: { CODEX_CA_CERTIFICATE: GUEST_CA_BUNDLE },
      files: [{ path: '.codex/config.toml', mode: 0o600, content: toml }],
    };
  },
  mcpRegistration: (url) => ({
    remove: ['codex', 'mcp', 'remove', 'supervise'],
    add: ['codex', 'mcp', 'add', 'supervise', '--url', url],
  }),
};
