import { describe, expect, it } from 'vitest';
import type { ActiveBottle, Backend, EngineImage } from '../../src/backend/backend.js';
import { parseDfImages, parseDockerSize } from '../../src/backend/docker/images.js';
import { main } from '../../src/cli/main.js';
import type { Services } from '../../src/cli/services.js';
import { planRecipe } from '../../src/controller/recipe-tags.js';
import { expiredSaved, unusedImages, type SavedFact } from '../../src/controller/retention.js';
import type { LaunchRecord, SessionRequest } from '../../src/controller/session.js';
import { listSaved, saveBottle } from '../../src/controller/state.js';
import { bottlePlanSchema } from '../../src/plan/schema.js';
import { recipeHash, recipeTag } from '../../src/providers/recipe.js';
import { makeFixture, md } from '../helpers/fixture.js';

const DAY = 86_400_000;
const NOW = new Date('2026-12-01T12:00:00Z');
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();

function fact(
  identity: string,
  agent: string,
  savedAt: string,
  reason: SavedFact['reason'] = 'ended',
) {
  return { identity, agent, savedAt, reason };
}

describe('which saved bottles the keep rules expire', () => {
  const saved = [
    fact('a-1', 'a', ago(4 * DAY)),
    fact('a-2', 'a', ago(3 * DAY)),
    fact('a-3', 'a', ago(2 * DAY)),
    fact('b-1', 'b', ago(10 * DAY)),
    fact('a-frozen', 'a', ago(20 * DAY), 'frozen'),
    fact('a-running', 'a', ago(30 * DAY), 'running'),
  ];
  const ids = (xs: { bottle: SavedFact }[]): string[] => xs.map((x) => x.bottle.identity);

  it('last N counts per agent, newest first, and removes the older ones oldest first', () => {
    expect(ids(expiredSaved(saved, { last: 1, frozen: 'keep' }, NOW))).toEqual(['a-1', 'a-2']);
  });

  it('a maximum age removes what was saved longer ago, of any agent', () => {
    const r = expiredSaved(saved, { maxAgeMs: 3.5 * DAY, frozen: 'keep' }, NOW);
    expect(r.map((x) => [x.bottle.identity, x.why])).toEqual([
      ['b-1', 'too-old'],
      ['a-1', 'too-old'],
    ]);
  });

  it('both rules together: a bottle goes when either says so', () => {
    const r = expiredSaved(saved, { last: 2, maxAgeMs: 5 * DAY, frozen: 'keep' }, NOW);
    expect(ids(r)).toEqual(['b-1', 'a-1']);
  });

  it('never the protected one (just saved, still running) but it keeps its place among the last N', () => {
    const r = expiredSaved(saved, { last: 1, frozen: 'keep' }, NOW, new Set(['a-3', 'a-2']));
    expect(ids(r)).toEqual(['a-1']);
  });

  it('frozen bottles stay unless frozen: expire; running records always stay', () => {
    expect(ids(expiredSaved(saved, { maxAgeMs: DAY, frozen: 'keep' }, NOW))).not.toContain(
      'a-frozen',
    );
    const r = ids(expiredSaved(saved, { maxAgeMs: DAY, frozen: 'expire' }, NOW));
    expect(r).toContain('a-frozen');
    expect(r).not.toContain('a-running');
  });
});

describe('which images prune --images removes', () => {
  const img = (ref: string, containers = 0) => ({ ref, containers });
  it('only built repositories, not produced, not referenced, not used', () => {
    const r = unusedImages(
      [
        img('bot-bottle-claude:old'),
        img('bot-bottle-claude:current'),
        img('bot-bottle-claude:running', 1),
        img('bot-bottle-egress:old'),
        img('bot-bottle-saved:x-1'),
        img('bot-bottle-base:bookworm'),
      ],
      {
        repositories: new Set(['bot-bottle-claude', 'bot-bottle-egress']),
        produced: new Set(['bot-bottle-claude:current']),
        referenced: new Set(['bot-bottle-saved:x-1']),
      },
    );
    expect(r.map((i) => i.ref)).toEqual(['bot-bottle-claude:old', 'bot-bottle-egress:old']);
  });
});

describe("docker's image listing", () => {
  it('reads human sizes in decimal units', () => {
    expect(parseDockerSize('954.4kB')).toBe(954_400);
    expect(parseDockerSize('1.04GB')).toBe(1_040_000_000);
    expect(parseDockerSize('0B')).toBe(0);
    expect(parseDockerSize('N/A')).toBe(0);
  });
  it('keeps bot-bottle images only, with sizes, time and users', () => {
    const rows = parseDfImages(
      JSON.stringify([
        {
          Repository: 'bot-bottle-saved',
          Tag: 'x-1',
          ID: 'sha256:1',
          CreatedAt: '2026-12-01 11:46:50 +0000 UTC',
          Size: '769MB',
          UniqueSize: '488.4kB',
          Containers: '0',
        },
        { Repository: 'node', Tag: '22', Size: '1GB', UniqueSize: '1GB', Containers: '2' },
        { Repository: 'bot-bottle-claude', Tag: '<none>', Size: '1GB', Containers: '0' },
      ]),
    );
    expect(rows).toEqual([
      {
        ref: 'bot-bottle-saved:x-1',
        id: 'sha256:1',
        size: 769_000_000,
        uniqueSize: 488_400,
        created: '2026-12-01T11:46:50.000Z',
        containers: 0,
      },
    ]);
  });
});

/** An engine in memory: images by reference, saved images made by the fake sessions. */
function fakeEngine(initial: EngineImage[] = []) {
  const images = new Map(initial.map((i) => [i.ref, i]));
  const removed: string[] = [];
  const running: ActiveBottle[] = [];
  const image = (ref: string, extra: Partial<EngineImage> = {}): EngineImage => ({
    ref,
    id: `sha256:${ref}`,
    size: 700_000_000,
    uniqueSize: 2_000_000,
    created: NOW.toISOString(),
    containers: 0,
    ...extra,
  });
  const drop = (ref: string): Promise<void> => {
    removed.push(ref);
    images.delete(ref);
    return Promise.resolve();
  };
  const backend = {
    name: 'docker',
    enumerateActive: () => Promise.resolve(running),
    listImages: () => Promise.resolve([...images.values()]),
    removeSaved: drop,
    removeImage: drop,
    imageId: (ref: string) =>
      Promise.resolve(ref.startsWith('bot-bottle-base') ? 'sha256:base' : undefined),
  } as unknown as Backend;
  return { backend, images, removed, image };
}

const repo = {
  '.bot-bottle/bottles/plain.md': md('egress:\n  allow: [api.anthropic.com]'),
  '.bot-bottle/agents/worker.md': md('provider: claude\nbottle: plain', 'Work.'),
};

function harness(settings?: string, initial: EngineImage[] = []) {
  const fx = makeFixture(
    { repo, home: settings === undefined ? {} : { 'settings.yml': settings } },
    { BOT_BOTTLE_BASE_IMAGE: 'bot-bottle-base:bookworm' },
  );
  const engine = fakeEngine(initial);
  const sessions: SessionRequest[] = [];
  let n = 0;
  const services: Partial<Services> = {
    backend: () => engine.backend,
    interactive: false,
    // What the launch core leaves behind: a saved image and its record (none with discard).
    runSession: (req) => {
      sessions.push(req);
      n++;
      const identity = `${req.plan.slug}-20261201-0000${String(n).padStart(2, '0')}`;
      const savedImage = req.discard === true ? null : `bot-bottle-saved:${identity}`;
      if (savedImage !== null) {
        engine.images.set(savedImage, engine.image(savedImage));
        saveBottle(fx.env, {
          identity,
          slug: req.plan.slug,
          label: req.plan.label,
          agent: req.plan.agent.name,
          provider: req.plan.agent.provider,
          bottles: [],
          color: null,
          image: savedImage,
          reason: 'ended',
          savedAt: new Date(NOW.getTime() + n * 1000).toISOString(),
          startedAt: NOW.toISOString(),
          repo: null,
          baseCommit: null,
          branch: null,
          exitCode: 0,
          plan: req.plan,
        });
      }
      const record: LaunchRecord = {
        outcome: 'ended',
        slug: req.plan.slug,
        label: req.plan.label,
        identity,
        agent: req.plan.agent.name,
        provider: req.plan.agent.provider,
        bottles: [],
        runtime: req.plan.runtime.name,
        exitCode: 0,
        branch: `bot-bottle/${req.plan.slug}`,
        commits: 1,
        committedLeftovers: false,
        workNote: '1 commit',
        savedImage,
        resumeCommand: savedImage === null ? null : `bot-bottle resume ${identity}`,
        startedAt: NOW.toISOString(),
        endedAt: NOW.toISOString(),
        timings: {},
        redactions: {},
      };
      return Promise.resolve(record);
    },
  };
  const run = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, {
      cwd: fx.repo,
      env: fx.env,
      io: { out: (t) => (stdout += `${t}\n`), err: (t) => (stderr += `${t}\n`) },
      services,
    });
    return { code, stdout, stderr };
  };
  const headless = (...extra: string[]) =>
    run(['start', 'worker', '--headless', '--prompt', 'Work', ...extra]);
  return { fx, engine, sessions, run, headless };
}

describe('keep: after each session', () => {
  it('after N+2 sessions with keep: last N, exactly the newest N saved bottles remain', async () => {
    const h = harness('keep:\n  last: 2\n');
    try {
      const records: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await h.headless('--json');
        expect(r.code, r.stderr).toBe(0);
        records.push((JSON.parse(r.stdout) as LaunchRecord).identity);
      }
      const left = listSaved(h.fx.env).map((s) => s.identity);
      expect(left).toEqual(records.slice(2));
      expect(h.engine.removed).toEqual(records.slice(0, 2).map((id) => `bot-bottle-saved:${id}`));
      const ps = await h.run(['ps', '--all', '--json']);
      expect((JSON.parse(ps.stdout) as { saved: unknown[] }).saved).toHaveLength(2);
    } finally {
      h.fx.cleanup();
    }
  });

  it('says what it removed and why', async () => {
    const h = harness('keep:\n  last: 1\n');
    try {
      await h.headless();
      const r = await h.headless();
      expect(r.stderr).toMatch(
        /keep: removed saved bottle worker-\S+ \(not among the last 1 of its agent\)/,
      );
    } finally {
      h.fx.cleanup();
    }
  });

  it('without keep: every saved bottle stays', async () => {
    const h = harness();
    try {
      for (let i = 0; i < 3; i++) await h.headless();
      expect(listSaved(h.fx.env)).toHaveLength(3);
      expect(h.engine.removed).toEqual([]);
    } finally {
      h.fx.cleanup();
    }
  });
});

describe('start --rm', () => {
  it('asks the launch core to keep nothing, and the record says nothing was saved', async () => {
    const h = harness('keep:\n  last: 1\n');
    try {
      await h.headless();
      const r = await h.headless('--rm', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(h.sessions.map((s) => s.discard)).toEqual([false, true]);
      const rec = JSON.parse(r.stdout) as LaunchRecord;
      expect(rec.savedImage).toBeNull();
      expect(rec.resumeCommand).toBeNull();
      expect(rec.branch).toBe('bot-bottle/worker');
      expect(r.stderr).toContain('not saved (--rm)');
      // An --rm session does not thin out what other sessions saved.
      expect(listSaved(h.fx.env)).toHaveLength(1);
    } finally {
      h.fx.cleanup();
    }
  });

  it('resume --rm is offered too', async () => {
    const h = harness();
    try {
      const r = await h.run(['resume', '--help']);
      expect(r.stdout).toContain('--rm');
    } finally {
      h.fx.cleanup();
    }
  });
});

describe('prune --saved', () => {
  it('--older-than removes the old ended bottles, keeps frozen ones, and counts the bytes', async () => {
    const h = harness();
    try {
      await h.headless();
      const [s] = listSaved(h.fx.env);
      if (s === undefined) throw new Error('no saved bottle');
      saveBottle(h.fx.env, {
        ...s,
        identity: 'old-1',
        image: 'bot-bottle-saved:old-1',
        savedAt: ago(30 * DAY),
      });
      saveBottle(h.fx.env, {
        ...s,
        identity: 'frozen-1',
        image: 'bot-bottle-saved:frozen-1',
        reason: 'frozen',
        savedAt: ago(30 * DAY),
      });
      h.engine.images.set('bot-bottle-saved:old-1', h.engine.image('bot-bottle-saved:old-1'));
      const dry = await h.run(['prune', '--saved', '--older-than', '7d', '--dry-run']);
      expect(dry.stdout).toContain('would remove saved bottle old-1 (older than 7d): 2.0 MB');
      expect(dry.stdout).toContain('would free 2.0 MB');
      expect(h.engine.removed).toEqual([]);
      const r = await h.run(['prune', '--saved', '--older-than', '7d', '--json']);
      const out = JSON.parse(r.stdout) as { saved: { identity: string }[]; bytes: number };
      expect(out.saved.map((x) => x.identity)).toEqual(['old-1']);
      expect(out.bytes).toBe(2_000_000);
      expect(
        listSaved(h.fx.env)
          .map((x) => x.identity)
          .sort(),
      ).toEqual(['frozen-1', s.identity].sort());
    } finally {
      h.fx.cleanup();
    }
  });

  it('needs a rule, and a span it can read', async () => {
    const h = harness();
    try {
      const none = await h.run(['prune', '--saved']);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain(
        'prune --saved needs a rule: --older-than SPAN, or keep: in settings.yml',
      );
      const bad = await h.run(['prune', '--saved', '--older-than', 'a week', '--json']);
      expect(bad.code).toBe(2);
      expect((JSON.parse(bad.stdout) as { message: string }).message).toContain(
        '--older-than: expected a span',
      );
      const alone = await h.run(['prune', '--older-than', '7d']);
      expect(alone.stderr).toContain('--older-than is for --saved');
    } finally {
      h.fx.cleanup();
    }
  });
});

describe('prune --images', () => {
  it('removes an image no recipe produces and keeps the current, the used and the saved ones', async () => {
    const h = harness();
    try {
      const dry = await h.run(['start', 'worker', '--dry-run', '--json']);
      const plan = bottlePlanSchema.parse(JSON.parse(dry.stdout));
      const recipe = planRecipe(plan);
      const current = recipeTag(recipe, recipeHash(recipe, 'sha256:base'));
      for (const [ref, containers] of [
        [current, 0],
        ['bot-bottle-claude:0123456789abcdef', 0],
        ['bot-bottle-codex:fedcba9876543210', 2],
        ['bot-bottle-egress:0000000000000000', 0],
        ['bot-bottle-base:bookworm', 0],
      ] as const) {
        h.engine.images.set(ref, h.engine.image(ref, { containers }));
      }
      await h.headless(); // a saved bottle: its image stays
      const r = await h.run(['prune', '--images', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as {
        images: { ref: string; bytes: number }[];
        bytes: number;
      };
      expect(out.images.map((i) => i.ref).sort()).toEqual([
        'bot-bottle-claude:0123456789abcdef',
        'bot-bottle-egress:0000000000000000',
      ]);
      expect(out.bytes).toBe(4_000_000);
      expect([...h.engine.images.keys()].sort()).toEqual(
        [
          current,
          'bot-bottle-codex:fedcba9876543210',
          'bot-bottle-base:bookworm',
          ...listSaved(h.fx.env).map((s) => s.image),
        ].sort(),
      );
      const again = await h.run(['prune', '--images']);
      expect(again.stdout).toContain('nothing to prune');
    } finally {
      h.fx.cleanup();
    }
  });
});

describe('ps --all', () => {
  it("shows each saved bottle's size", async () => {
    const h = harness();
    try {
      await h.headless();
      const r = await h.run(['ps', '--all']);
      expect(r.stdout).toMatch(/IDENTITY\s+AGENT\s+STATE\s+SAVED\s+SIZE\s+BRANCH/);
      expect(r.stdout).toContain('2.0 MB');
      const j = JSON.parse((await h.run(['ps', '--all', '--json'])).stdout) as {
        saved: { size: number }[];
      };
      expect(j.saved[0]?.size).toBe(2_000_000);
    } finally {
      h.fx.cleanup();
    }
  });
});
