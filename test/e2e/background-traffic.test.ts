import { spawn, type ChildProcess } from 'node:child_process';
import { expect, it } from 'vitest';
import { BIN, bottleRepo, leftovers, runBin, useFakeUpstream } from '../helpers/bottle-repo.js';
import { describeDocker } from '../helpers/docker.js';

/**
 * Each real CLI started interactively (on a pseudo-terminal, through the
 * product's own tty path) in a bottle that allows only the LLM APIs, left
 * idle: its update checks, telemetry and marketplace downloads are switched
 * off, so the egress log shows no refused background request.
 */

/** Requests no setting of the pinned CLI turns off (see docs/providers.md). */
const NO_SWITCH: Record<string, readonly string[]> = {
  // Codex CLI 0.169.0 fetches its announcement tip at every interactive start.
  codex: ['raw.githubusercontent.com'],
};

const IDLE_MS = 15_000;
/** Terminal control sequences, stripped from the screen for messages. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[a-zA-Z]`, 'g');

interface LogLine {
  kind: string;
  host?: string;
  verdict?: string;
}

/** `bot-bottle start AGENT` on a pseudo-terminal (util-linux `script`), as a user at a terminal runs it. */
function startOnTty(fx: ReturnType<typeof bottleRepo>, agent: string, label: string) {
  const argv = [
    process.execPath,
    BIN,
    'start',
    agent,
    '--bottle',
    'fake',
    '--label',
    label,
    '--yes',
  ];
  const child: ChildProcess = spawn(
    'script',
    ['-qfec', argv.map((a) => `'${a}'`).join(' '), '/dev/null'],
    { cwd: fx.repo, env: { ...fx.env, TERM: 'xterm-256color' }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let screen = '';
  child.stdout?.on('data', (c: Buffer) => (screen += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (screen += c.toString('utf8')));
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => {
      resolve();
    });
  });
  let ended = false;
  void exited.then(() => (ended = true));
  return { child, exited, screen: () => screen, ended: () => ended };
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => {
      setTimeout(r, 500);
    });
  }
}

describeDocker('interactive CLIs make no background requests the bottle refuses', () => {
  const upstream = useFakeUpstream();

  it.each(['claude', 'codex', 'pi'])('%s idles without a refused request', async (agent) => {
    const fx = bottleRepo(upstream().port);
    const label = `quiet-${agent}`;
    const run = startOnTty(fx, agent, label);
    const plain = (): string => run.screen().replace(ANSI, '');
    try {
      await until(
        'the agent to start',
        () => plain().includes('is running in bottle') || run.ended(),
        300_000,
      );
      expect(run.ended(), plain().slice(-2000)).toBe(false);
      await new Promise((r) => setTimeout(r, IDLE_MS));
      // Still running: the CLI sits at its prompt, it did not exit or crash.
      expect(run.ended(), plain().slice(-2000)).toBe(false);
      const log = await runBin(fx, ['egress', 'log', label, '--json']);
      expect(log.code, log.stderr).toBe(0);
      // The running bottle's own log: the proxy's policy is in it.
      expect(log.stdout).toContain('"kind":"policy"');
      const refused = log.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LogLine)
        .filter((e) => e.verdict === 'refused')
        .map((e) => e.host ?? '');
      const unexpected = refused.filter((h) => !(NO_SWITCH[agent] ?? []).includes(h));
      expect(unexpected, `refused background requests of ${agent}`).toEqual([]);
    } finally {
      await runBin(fx, ['kill', label]);
      await Promise.race([run.exited, new Promise((r) => setTimeout(r, 60_000))]);
      run.child.kill('SIGKILL');
      expect(leftovers(label)).toBe('');
      fx.cleanup();
    }
  });
});
