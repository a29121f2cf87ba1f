import {
  chmodSync,
  cpSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { create } from 'tar';
import { ConfigError, EnvironmentError } from '../errors.js';
import type { BottlePlan } from '../plan/schema.js';
import type { GuestFile } from '../providers/guest-config.js';
import { GUEST_HOME } from '../providers/registry.js';
import { run } from '../util/exec.js';

/**
 * What goes into a fresh bottle besides the image: the agent's home
 * (CLI config, prompt, skills, ssh, git identity) and the workspace.
 * Everything travels as a tar stream unpacked by the agent's own user,
 * so ownership is right without root and no path is spliced into a shell.
 */

const SSH_CONNECT_HELPER = `// ssh ProxyCommand: tunnel through the bottle's egress proxy (HTTP CONNECT).
import { connect } from 'node:net';
const [host, port] = process.argv.slice(2);
const proxy = new URL(process.env.HTTPS_PROXY ?? process.env.HTTP_PROXY ?? '');
const s = connect(Number(proxy.port || 80), proxy.hostname, () => {
  s.write(\`CONNECT \${host}:\${port} HTTP/1.1\\r\\nHost: \${host}:\${port}\\r\\n\\r\\n\`);
});
let head = Buffer.alloc(0);
const onData = (c) => {
  head = Buffer.concat([head, c]);
  const end = head.indexOf('\\r\\n\\r\\n');
  if (end < 0) return;
  s.off('data', onData);
  const status = head.subarray(0, head.indexOf('\\r\\n')).toString();
  if (!/^HTTP\\/1\\.[01] 200/.test(status)) {
    process.stderr.write(head.toString());
    process.exit(1);
  }
  const rest = head.subarray(end + 4);
  if (rest.length > 0) process.stdout.write(rest);
  s.pipe(process.stdout);
  process.stdin.pipe(s);
};
s.on('data', onData);
s.on('error', (e) => { process.stderr.write(\`egress proxy: \${e.message}\\n\`); process.exit(1); });
s.on('close', () => process.exit(0));
`;

/** A git config value in double quotes: the schema already refused control bytes. */
const gitValue = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export interface HomeInput {
  plan: BottlePlan;
  /** The agent file's Markdown body. */
  prompt: string;
  providerFiles: readonly GuestFile[];
}

function put(root: string, rel: string, content: string | Buffer, mode: number): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(p, content, { mode });
  chmodSync(p, mode);
}

/** Build the agent's home overlay in a private temporary directory. */
export function stageHome(input: HomeInput): string {
  const { plan } = input;
  const root = mkdtempSync(join(tmpdir(), 'bot-bottle-home-'));
  const inHome = (guestPath: string): string => relative(GUEST_HOME, guestPath);
  for (const f of input.providerFiles) put(root, f.path, f.content, f.mode);
  if (input.prompt !== '') put(root, inHome(plan.agent.prompt.guestPath), input.prompt, 0o644);
  for (const s of plan.agent.skills) {
    // A skill is a directory; links are copied as links, so nothing outside
    // the skill's own directory is read.
    const target = join(root, inHome(s.guestPath));
    mkdirSync(dirname(target), { recursive: true });
    cpSync(s.source, target, { recursive: true, dereference: false, verbatimSymlinks: true });
  }

  const name = plan.git.name ?? `${plan.agent.name} (bot-bottle)`;
  const email = plan.git.email ?? `${plan.agent.name}@bot-bottle.invalid`;
  put(
    root,
    '.gitconfig',
    `[user]\n\tname = ${gitValue(name)}\n\temail = ${gitValue(email)}\n[init]\n\tdefaultBranch = main\n`,
    0o644,
  );

  if (plan.ssh.length > 0) {
    put(root, '.bot-bottle/ssh-connect.mjs', SSH_CONNECT_HELPER, 0o755);
    const config: string[] = [];
    const knownHosts: string[] = [];
    plan.ssh.forEach((e, i) => {
      let key: Buffer;
      try {
        key = readFileSync(e.identityFile);
      } catch (err) {
        throw new ConfigError(
          { entity: `ssh ${e.host}`, field: 'IdentityFile' },
          `cannot read ${e.identityFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        );
      }
      const keyFile = `.ssh/bot-bottle-key-${i}`;
      put(root, keyFile, key, 0o600);
      const hostName = e.hostname ?? e.host;
      config.push(
        `Host ${e.host}`,
        `  HostName ${hostName}`,
        ...(e.user === null ? [] : [`  User ${e.user}`]),
        ...(e.port === null ? [] : [`  Port ${e.port}`]),
        `  IdentityFile ~/${keyFile}`,
        '  IdentitiesOnly yes',
        `  ProxyCommand node ~/.bot-bottle/ssh-connect.mjs %h %p`,
        `  StrictHostKeyChecking ${e.hostKey === null ? 'accept-new' : 'yes'}`,
        '',
      );
      if (e.hostKey !== null) {
        const h = e.port === null || e.port === 22 ? hostName : `[${hostName}]:${e.port}`;
        knownHosts.push(`${h} ${e.hostKey}`);
      }
    });
    put(root, '.ssh/config', `${config.join('\n')}\n`, 0o600);
    put(root, '.ssh/known_hosts', knownHosts.map((l) => `${l}\n`).join(''), 0o600);
    chmodSync(join(root, '.ssh'), 0o700);
  }
  return root;
}

export interface TarStream {
  stream: NodeJS.ReadableStream;
  done: Promise<void>;
}

/**
 * Archives are made here, not by the host's `tar` (macOS ships bsdtar,
 * which lacks GNU tar's position-dependent options): the same bytes on
 * every host. Links are archived as links, never followed.
 */
function pack(cwd: string, entries: string[], filter?: (path: string) => boolean): TarStream {
  const stream = create(
    {
      cwd,
      portable: true,
      ...(filter === undefined ? {} : { filter: (path: string) => filter(path) }),
    },
    entries,
  );
  // A Node stream for the engine's stdin (node-tar streams are minipass ones).
  const readable = Readable.from(stream, { objectMode: false });
  const done = new Promise<void>((resolve, reject) => {
    readable.on('end', resolve);
    readable.on('error', (e: unknown) => {
      reject(
        new EnvironmentError(
          `archiving ${cwd} failed: ${e instanceof Error ? e.message : String(e)}`,
        ),
      );
    });
  });
  return { stream: readable, done };
}

export function tarDirectory(dir: string): TarStream {
  return pack(dir, ['.']);
}

/** node-tar names entries as given, `./`-less; strip a trailing slash of a directory. */
const entryName = (p: string): string => p.replace(/^\.\//, '').replace(/\/$/, '');

/**
 * The workspace as a tar stream: in a git repository, every tracked and
 * untracked file that git does not ignore, plus `.git` itself (so history,
 * branches and the agent's commits work); elsewhere, the whole directory.
 */
export async function tarWorkspace(workspace: string): Promise<TarStream> {
  const ls = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: workspace,
  });
  if (ls.code !== 0) return tarDirectory(workspace);
  const files = ls.stdout.split('\0').filter((f) => {
    if (f === '') return false;
    try {
      lstatSync(join(workspace, f)); // tracked but deleted in the work tree
      return true;
    } catch {
      return false;
    }
  });
  const listed = new Set(files);
  // The listed files as they are (a listed directory, a submodule, adds
  // nothing of its own), and .git whole.
  return pack(workspace, [...files, '.git'], (p) => {
    const name = entryName(p);
    return listed.has(name) || name === '.git' || name.startsWith('.git/');
  });
}
