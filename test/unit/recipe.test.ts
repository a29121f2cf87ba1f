import { describe, expect, it } from 'vitest';
import { agentImageRecipe, recipeHash, recipeTag } from '../../src/providers/recipe.js';

const input = {
  provider: 'claude' as const,
  base: 'node:22-bookworm-slim',
  apt: [],
  dockerfile: [],
  extraCaPems: [],
};

describe('agent image recipe', () => {
  it('installs the pinned CLI, git, ssh and CA certificates, and runs as a non-root user', () => {
    const r = agentImageRecipe(input);
    expect(r.dockerfile.split('\n')[0]).toBe('FROM node:22-bookworm-slim');
    expect(r.dockerfile).toContain(
      'install -y --no-install-recommends ca-certificates git openssh-client',
    );
    expect(r.dockerfile).toContain(
      'npm install -g --no-audit --no-fund @anthropic-ai/claude-code@2.1.197',
    );
    expect(r.dockerfile).toMatch(/\nUSER agent\n/);
    expect(r.dockerfile.trimEnd().split('\n').slice(-3)).toEqual([
      'USER agent',
      'ENV HOME=/home/agent',
      'WORKDIR /workspace',
    ]);
  });

  it('adds the bottle apt packages and Dockerfile lines after the base layers', () => {
    const r = agentImageRecipe({ ...input, apt: ['jq', 'git'], dockerfile: ['RUN echo extra'] });
    expect(r.dockerfile).toContain('openssh-client jq \\');
    const lines = r.dockerfile.split('\n');
    expect(lines.indexOf('RUN echo extra')).toBeGreaterThan(
      lines.findIndex((l) => l.includes('useradd')),
    );
    expect(lines.indexOf('RUN echo extra')).toBeLessThan(lines.indexOf('USER agent'));
  });

  it('ships extra CA files in the context and trusts them in the build', () => {
    const r = agentImageRecipe({
      ...input,
      extraCaPems: ['-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----'],
    });
    expect(Object.keys(r.files)).toEqual(['ca/extra-0.crt']);
    expect(r.dockerfile).toContain('COPY ca/ /usr/local/share/ca-certificates/bot-bottle/');
    expect(r.dockerfile).toContain('update-ca-certificates');
  });

  it('the tag is a content hash: same recipe same tag, any change a new one', () => {
    const a = agentImageRecipe(input);
    const h = recipeHash(a, 'sha256:base1');
    expect(recipeHash(agentImageRecipe(input), 'sha256:base1')).toBe(h);
    expect(recipeTag(a, h)).toMatch(/^bot-bottle-claude:[0-9a-f]{16}$/);
    const changed = [
      recipeHash(a, 'sha256:base2'),
      recipeHash(agentImageRecipe({ ...input, apt: ['jq'] }), 'sha256:base1'),
      recipeHash(agentImageRecipe({ ...input, dockerfile: ['RUN true'] }), 'sha256:base1'),
      recipeHash(agentImageRecipe({ ...input, extraCaPems: ['x'] }), 'sha256:base1'),
      recipeHash(agentImageRecipe({ ...input, provider: 'codex' }), 'sha256:base1'),
    ];
    expect(new Set([h, ...changed]).size).toBe(changed.length + 1);
  });

  it('installs each provider package', () => {
    expect(agentImageRecipe({ ...input, provider: 'codex' }).dockerfile).toContain(
      '@openai/codex@0.169.0',
    );
    expect(agentImageRecipe({ ...input, provider: 'pi' }).dockerfile).toContain(
      '@mariozechner/pi-coding-agent@0.73.1',
    );
  });
});
