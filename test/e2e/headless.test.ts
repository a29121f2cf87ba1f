import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../fixtures/fake-llm.js';
import { bottleRepo, runBin } from '../helpers/bottle-repo.js';
import { describeDocker, dockerOut, requireImage } from '../helpers/docker.js';

describeDocker('start --headless with the real CLIs against the fake upstream', () => {
  let fake: FakeLlm | undefined;
  beforeAll(async () => {
    requireImage();
    fake = await startFakeLlm({ reply: 'hello from the fake upstream' });
  });
  afterAll(async () => {
    await fake?.close();
  });

  it('claude answers with the upstream text, through the egress sidecar', async () => {
    const fx = bottleRepo(fake!.port);
    try {
      const r = await runBin(fx, ['start', 'claude', '--headless', '--prompt', 'say hi']);
      expect(r.stderr).toContain('ended (agent exit 0)');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('hello from the fake upstream');
      const msgs = fake!.requests.filter((q) => q.path.startsWith('/v1/messages'));
      expect(msgs.length).toBeGreaterThan(0);
      expect(dockerOut(['ps', '-a', '--filter', 'label=dev.bot-bottle.slug=claude', '-q'])).toBe('');
    } finally {
      fx.cleanup();
    }
  });
});
