import { describe, expect, it } from 'vitest';
import { mergeBottleSpecs } from '../../src/manifest/resolve.js';

describe('bottle merge rules (extends and composition)', () => {
  it('later scalars and map entries win', () => {
    const m = mergeBottleSpecs(
      {
        runtime: 'runsc',
        cutoff: 'kill',
        env: { A: '1', B: '2' },
        budget: { claude: 10, codex: 5 },
        git: { name: 'a', email: 'a@x.y' },
      },
      {
        runtime: 'runc',
        env: { B: 'two', C: '3' },
        budget: { claude: 20 },
        git: { email: 'b@x.y' },
      },
    );
    expect(m).toMatchObject({
      runtime: 'runc',
      cutoff: 'kill',
      env: { A: '1', B: 'two', C: '3' },
      budget: { claude: 20, codex: 5 },
      git: { name: 'a', email: 'b@x.y' },
    });
  });

  it('lists append without duplicates; Dockerfile lines keep every line in order', () => {
    const m = mergeBottleSpecs(
      {
        egress: { allow: ['a.com', 'b.com'], deny: ['x.a.com'] },
        image: { apt: ['git'], dockerfile: ['RUN a'] },
      },
      {
        egress: { allow: ['b.com', 'c.com'], deny: ['y.a.com'] },
        image: { apt: ['git', 'jq'], dockerfile: ['RUN a', 'RUN b'] },
      },
    );
    expect(m.egress?.allow).toEqual(['a.com', 'b.com', 'c.com']);
    expect(m.egress?.deny).toEqual(['x.a.com', 'y.a.com']);
    expect(m.image).toEqual({ apt: ['git', 'jq'], dockerfile: ['RUN a', 'RUN a', 'RUN b'] });
  });

  it('egress.llm: the later bottle wins, an unset one keeps the earlier', () => {
    const m = mergeBottleSpecs({ egress: { llm: 'refuse' } }, { egress: { llm: 'audit' } });
    expect(m.egress?.llm).toBe('audit');
    expect(mergeBottleSpecs({ egress: { llm: 'refuse' } }, { egress: {} }).egress?.llm).toBe(
      'refuse',
    );
    expect(mergeBottleSpecs({}, { egress: { allow: ['a.com'] } }).egress?.llm).toBeUndefined();
  });

  it('a later bottle cannot remove an earlier deny', () => {
    const m = mergeBottleSpecs(
      { egress: { deny: ['evil.com'] } },
      { egress: { allow: ['evil.com'] } },
    );
    expect(m.egress?.deny).toEqual(['evil.com']);
  });

  it('ssh entries are keyed by Host; the later one replaces the earlier whole', () => {
    const m = mergeBottleSpecs(
      {
        ssh: [
          { Host: 'gh', IdentityFile: 'old', User: 'git' },
          { Host: 'gl', IdentityFile: 'k' },
        ],
      },
      { ssh: [{ Host: 'gh', IdentityFile: 'new' }] },
    );
    expect(m.ssh).toEqual([
      { Host: 'gh', IdentityFile: 'new' },
      { Host: 'gl', IdentityFile: 'k' },
    ]);
  });

  it('routes merge by host; headers by case-insensitive name, later wins', () => {
    const m = mergeBottleSpecs(
      {
        egress: {
          routes: [{ host: 'api.x.com', headers: { 'X-Api-Key': 'env:OLD', 'x-org': 'o' } }],
        },
      },
      {
        egress: {
          routes: [
            { host: 'api.x.com', headers: { 'x-api-key': 'env:NEW' } },
            { host: 'b.com', headers: { a: 'b' } },
          ],
        },
      },
    );
    expect(m.egress?.routes).toEqual([
      { host: 'api.x.com', headers: { 'x-org': 'o', 'x-api-key': 'env:NEW' } },
      { host: 'b.com', headers: { a: 'b' } },
    ]);
  });
});
