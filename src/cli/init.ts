import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BotBottleError, ExitCode } from '../errors.js';
import { displayPath } from '../manifest/load.js';
import { REPO_CONFIG_DIR } from '../paths.js';
import { gitToplevel } from '../util/exec.js';
import { exit, type OptionsOf, type Program } from './command.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';
import { trustAfterInit } from '../trust/own-write.js';

const AGENT = `---
provider: claude
bottle: anthropic
---
You are working in /workspace, a copy of this repository inside a sandbox.
Commit your work to git as you go: when the session ends, your commits come
home to the host repository as the branch bot-bottle/<slug>.

You can reach only the hosts your bottle allows. If a request is refused
with 403, ask the operator for access instead of working around it.
`;

const BOTTLE = `---
egress:
  allow:
    - api.anthropic.com
  routes:
    # The egress proxy adds the real key on the way out; the agent itself
    # only ever sees a placeholder.
    - host: api.anthropic.com
      headers:
        x-api-key: env:ANTHROPIC_API_KEY
cutoff: cutoff
---
Lets the agent reach the Anthropic API and nothing else. The API key is read
from ANTHROPIC_API_KEY on the host at launch.
`;

export const INIT_FILES: Record<string, string> = {
  'agents/claude.md': AGENT,
  'bottles/anthropic.md': BOTTLE,
};

function define(program: Program) {
  return program
    .command('init')
    .description(
      'write an example .bot-bottle/ (one claude agent, one bottle for the Anthropic API)',
    )
    .option('--force', 'overwrite files that already exist')
    .option('--json', 'print what was written as JSON');
}

export function register(program: Program, ctx: CliContext): void {
  define(program).action((opts) => exit(runInit(ctx, opts)));
}

function runInit(ctx: CliContext, opts: OptionsOf<typeof define>): number {
  const root = gitToplevel(ctx.cwd) ?? ctx.cwd;
  const dir = join(root, REPO_CONFIG_DIR);
  const targets = Object.entries(INIT_FILES).map(([rel, text]) => ({ path: join(dir, rel), text }));
  const existing = targets
    .filter((t) => existsSync(t.path))
    .map((t) => displayPath(t.path, ctx.cwd));
  if (existing.length > 0 && opts.force !== true) {
    throw new BotBottleError(`not overwriting existing ${existing.join(', ')}`, {
      exitCode: ExitCode.config,
      hint: 'pass --force to overwrite them',
      data: { existing },
    });
  }
  const trust = trustAfterInit(ctx.env, root, Object.keys(INIT_FILES), () => {
    for (const t of targets) {
      mkdirSync(dirname(t.path), { recursive: true });
      writeFileSync(t.path, t.text);
    }
  });
  const written = targets.map((t) => t.path);
  if (opts.json === true) {
    printJson(ctx.io, { outcome: 'ok', dir, written, trust, next: 'bot-bottle start claude' });
  } else {
    ctx.io.out(`wrote ${written.map((p) => displayPath(p, ctx.cwd)).join(', ')}`);
    ctx.io.out(
      trust.trusted
        ? 'trusted what it wrote: this repository layer may act on the host (bot-bottle trust --show)'
        : `not trusted: ${trust.why}; review the layer, then run \`bot-bottle trust\``,
    );
    ctx.io.out(
      'next: export ANTHROPIC_API_KEY=..., then `bot-bottle start claude --dry-run` to see the plan',
    );
  }
  return 0;
}
