import { GUEST_HOME, jsonFile, modelArgs, PLACEHOLDER_KEY, type Provider } from './provider.js';

const KEY_ENV = 'ANTHROPIC_API_KEY';

/**
 * pi (Mario Zechner's coding agent). It ignores ANTHROPIC_BASE_URL, so its
 * `anthropic` provider is re-pointed in ~/.pi/agent/models.json; it trusts
 * NODE_EXTRA_CA_CERTS. Its parser has no `--` and reads a leading `-` or
 * `@` as a flag or a file, so a headless prompt goes on standard input,
 * which pi reads whole in print mode. It has no permission prompts to
 * bypass and no MCP client.
 */
export const pi: Provider = {
  name: 'pi',
  title: 'pi',
  npmPackage: '@mariozechner/pi-coding-agent',
  npmVersion: '0.73.1',
  bin: 'pi',
  installSteps: [],
  promptPath: `${GUEST_HOME}/.pi/agent/AGENTS.md`,
  skillsDir: `${GUEST_HOME}/.pi/agent/skills`,
  wire: 'anthropic',
  meteredApis: ['anthropic-messages'],
  keyEnv: KEY_ENV,
  credentialEnv: () => ({ [KEY_ENV]: PLACEHOLDER_KEY }),
  command(req) {
    const argv = ['pi', ...modelArgs(req.model)];
    if (req.resume === true) argv.push('--continue');
    if (req.headless !== undefined) argv.push('-p');
    return { argv, stdin: req.headless?.prompt };
  },
  backgroundOff: {
    // Startup network operations: the version check and install report
    // (pi.dev), extension update checks and fd/rg downloads (api.github.com).
    PI_OFFLINE: '1',
    PI_TELEMETRY: '0',
  },
  guest: (req) => ({
    env: {},
    files: [
      jsonFile('.pi/agent/models.json', { providers: { anthropic: { baseUrl: req.baseUrl } } }),
    ],
  }),
  mcpRegistration: () => undefined,
};
