import { describe, expect, it } from 'vitest';
import { containerEnv } from '../../src/backend/cli-engine/container-env.js';

describe('a container environment handed to the docker CLI', () => {
  it('keeps secret values out of argv: they travel in the CLI environment by name', () => {
    const r = containerEnv({ ANTHROPIC_API_KEY: 'sk-placeholder', GITHUB_TOKEN: 'ghp_secret' });
    expect(r.args).toEqual(['--env', 'ANTHROPIC_API_KEY', '--env', 'GITHUB_TOKEN']);
    expect(r.env).toEqual({ ANTHROPIC_API_KEY: 'sk-placeholder', GITHUB_TOKEN: 'ghp_secret' });
    expect(r.args.join(' ')).not.toContain('ghp_secret');
  });

  it("does not let the bottle's proxy or engine settings redirect the CLI's own connection to a remote engine", () => {
    const r = containerEnv({
      HTTPS_PROXY: 'http://egress:3128',
      http_proxy: 'http://egress:3128',
      NO_PROXY: 'localhost,supervise',
      DOCKER_HOST: 'tcp://elsewhere:2375',
      NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt',
    });
    expect(r.args).toEqual([
      '--env',
      'HTTPS_PROXY=http://egress:3128',
      '--env',
      'http_proxy=http://egress:3128',
      '--env',
      'NO_PROXY=localhost,supervise',
      '--env',
      'DOCKER_HOST=tcp://elsewhere:2375',
      '--env',
      'NODE_EXTRA_CA_CERTS',
    ]);
    expect(r.env).toEqual({ NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' });
  });
});
