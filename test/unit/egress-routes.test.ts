import { describe, expect, it } from 'vitest';
import { configurePayload, policyFromPlan } from '../../src/controller/egress.js';
import { resolveRoutes } from '../../src/controller/values.js';
import { createCa } from '../../src/egress/ca.js';
import { configureSchema } from '../../src/egress/config.js';
import { PLACEHOLDER_KEY, providerGuestSetup } from '../../src/providers/guest-config.js';
import type { BottlePlan } from '../../src/plan/schema.js';
import { makeFixture, md } from '../helpers/fixture.js';

async function planOf(bottle: string, provider = 'claude'): Promise<BottlePlan> {
  const fx = makeFixture({
    repo: {
      '.bot-bottle/agents/a.md': md(`provider: ${provider}\nbottle: b`, 'Prompt.'),
      '.bot-bottle/bottles/b.md': md(bottle),
    },
  });
  try {
    // The user trusts the repository layer, so its routes may carry host values.
    expect((await fx.run(['trust'])).code).toBe(0);
    const r = await fx.run(['start', 'a', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as BottlePlan;
  } finally {
    fx.cleanup();
  }
}

const ROUTES = `
egress:
  allow: [api.anthropic.com, github.com, api.example.com]
  passthrough: [api.example.com]
  mode: audit
  rules:
    - { host: github.com, methods: [get, post], paths: [/acme/] }
  hosts:
    api.anthropic.com: host-gateway:8443
  routes:
    - host: api.anthropic.com
      headers: { authorization: { secret: env:SUB_TOKEN, prefix: 'Bearer ' } }
    - host: github.com
      headers: { Authorization: { secret: env:GH, prefix: 'Basic ', basicUser: x-access-token } }
`;

describe('credential routes', () => {
  it('resolves values on the host: prefix, Basic encoding, lower-cased header names', async () => {
    const plan = await planOf(ROUTES);
    const values = await resolveRoutes(
      plan,
      new Map(),
      { SUB_TOKEN: 'sk-ant-oat01-real', GH: 'ghp_real' },
      undefined,
    );
    expect(values.get('api.anthropic.com')?.get('authorization')).toBe('Bearer sk-ant-oat01-real');
    expect(values.get('github.com')?.get('authorization')).toBe(
      `Basic ${Buffer.from('x-access-token:ghp_real').toString('base64')}`,
    );
  });

  it('refuses a value that cannot be a header', async () => {
    const plan = await planOf(ROUTES);
    await expect(
      resolveRoutes(plan, new Map(), { SUB_TOKEN: 'a\nb', GH: 'x' }, undefined),
    ).rejects.toThrow(/route api\.anthropic\.com header authorization.*line break/s);
  });

  it('hands the sidecar a policy without values and the values separately', async () => {
    const plan = await planOf(ROUTES);
    const policy = policyFromPlan(plan);
    expect(policy).toMatchObject({
      mode: 'audit',
      passthrough: ['api.example.com'],
      rules: [{ host: 'github.com', methods: ['GET', 'POST'], paths: ['/acme/'] }],
      hosts: { 'api.anthropic.com': 'host-gateway:8443' },
    });
    const values = await resolveRoutes(
      plan,
      new Map(),
      { SUB_TOKEN: 'tok-123456789', GH: 'ghp_real' },
      undefined,
    );
    const payload = configurePayload(plan, await createCa(plan.slug), values);
    expect(configureSchema.safeParse(payload).success).toBe(true);
    expect(JSON.stringify(payload.policy)).not.toContain('tok-123456789');
    expect(Object.values(payload.secrets.values)).toContain('Bearer tok-123456789');
  });

  it('gives Claude a subscription-token placeholder when the route is a Bearer token', async () => {
    const g = providerGuestSetup(await planOf(ROUTES), 'http://egress:3128');
    expect(g.env.CLAUDE_CODE_OAUTH_TOKEN).toBe(PLACEHOLDER_KEY);
    expect(g.env.ANTHROPIC_API_KEY).toBeUndefined();
    const keyed = providerGuestSetup(
      await planOf(
        'egress:\n  allow: [api.anthropic.com]\n  routes:\n    - { host: api.anthropic.com, headers: { x-api-key: env:K } }',
      ),
      'http://egress:3128',
    );
    expect(keyed.env.ANTHROPIC_API_KEY).toBe(PLACEHOLDER_KEY);
    expect(keyed.env.CLAUDE_CODE_OAUTH_TOKEN).toBeUndefined();
  });
});
