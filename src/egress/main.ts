import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import {
  configureSchema,
  describeIssues,
  policySchema,
  secretsSchema,
  updateSchema,
  type EgressPolicyConfig,
  type EgressSecrets,
} from './config.js';
import { listenController, type ControllerLink } from './controller-link.js';
import { relayStdio } from './link-relay.js';
import { createEgressProxy, type ProxyState } from './proxy.js';
import { buildState } from './state.js';

/**
 * Entry point of the egress sidecar. `serve` (the container's command)
 * opens a control socket and waits; `ctl <op>` (run through `docker exec`)
 * writes the policy and secrets to the container's tmpfs and asks the
 * server to load them. The first load starts the proxy; later ones replace
 * rules and routes in place, without dropping open connections.
 */

const RUN_DIR = process.env.BOT_BOTTLE_RUN_DIR ?? '/run/bot-bottle';
const SOCKET = join(RUN_DIR, 'control.sock');
/**
 * In a cluster the policy and secrets are mounted files (a ConfigMap and
 * a Secret, read-only) and loaded at start; elsewhere `ctl configure`
 * writes them to the tmpfs.
 */
const POLICY_FILE = process.env.BOT_BOTTLE_EGRESS_POLICY_FILE ?? join(RUN_DIR, 'policy.json');
const SECRETS_FILE = process.env.BOT_BOTTLE_EGRESS_SECRETS_FILE ?? join(RUN_DIR, 'secrets.json');
const LOAD_AT_START = process.env.BOT_BOTTLE_EGRESS_LOAD_AT_START === '1';
const PORT = Number(process.env.BOT_BOTTLE_EGRESS_PORT ?? 3128);
/**
 * Set when the bottle has a controller: metered calls then need its
 * admission (and fail closed without). The controller reaches this socket
 * through `exec ... link`, never through a host path.
 */
const CONTROLLER_LINK = process.env.BOT_BOTTLE_CONTROLLER_LINK === '1';
/**
 * In a cluster the controller is a container of the proxy's own pod and
 * connects to this socket directly, in a volume the two share (not the
 * run directory: that holds the control socket, which it must not reach).
 */
const LINK_SOCKET = process.env.BOT_BOTTLE_CONTROLLER_SOCKET ?? join(RUN_DIR, 'controller.sock');
/**
 * When set (the proxy pod's readiness probe checks it), this file exists
 * only while the proxy listens and, with a controller link, the link is up.
 */
const READY_FILE = process.env.BOT_BOTTLE_EGRESS_READY_FILE;

type Reply =
  { ok: true; revision: number; policy?: EgressPolicyConfig } | { ok: false; error: string };

function stamp(kind: string, extra: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), kind, ...extra })}\n`);
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function serve(): void {
  let state: (ProxyState & { secrets: EgressSecrets }) | undefined;
  let proxy: Server | undefined;
  // The pod's volume outlives a restart of this container: an old marker is stale.
  if (READY_FILE !== undefined) rmSync(READY_FILE, { force: true });
  const markReady = (): void => {
    if (READY_FILE === undefined) return;
    if (proxy !== undefined && (link === undefined || link.connected())) {
      writeFileSync(READY_FILE, '', { mode: 0o600 });
    } else {
      rmSync(READY_FILE, { force: true });
    }
  };
  // Listening from the start, so the controller can link before the policy arrives.
  const link: ControllerLink | undefined = CONTROLLER_LINK
    ? listenController({
        socketPath: LINK_SOCKET,
        slug: process.env.BOT_BOTTLE_SLUG ?? '',
        onEvent: (kind, detail) => {
          stamp('controller', { event: kind, detail });
          markReady();
        },
      })
    : undefined;

  const load = async (): Promise<Reply> => {
    const p = policySchema.safeParse(readJson(POLICY_FILE));
    if (!p.success) return { ok: false, error: `policy: ${describeIssues(p.error)}` };
    const s = secretsSchema.safeParse(readJson(SECRETS_FILE));
    if (!s.success) return { ok: false, error: `secrets: ${describeIssues(s.error)}` };
    state = buildState(p.data, s.data, state);
    if (proxy === undefined) {
      const admit = link?.admit;
      const l = link;
      proxy = createEgressProxy({
        ...(admit === undefined ? {} : { admit }),
        ...(l === undefined
          ? {}
          : {
              redacted: (c: Readonly<Record<string, number>>) => {
                l.redacted(c);
              },
            }),
        state: () => {
          if (state === undefined) throw new Error('not configured');
          return state;
        },
        log: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
        usage: (u) => process.stdout.write(`${JSON.stringify({ kind: 'usage', ...u })}\n`),
      });
      const server = proxy;
      await new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(PORT, '0.0.0.0', () => {
          res();
        });
      });
      stamp('ready', { port: PORT, revision: p.data.revision });
      markReady();
    }
    stamp('policy', {
      revision: p.data.revision,
      mode: p.data.mode,
      llm: p.data.llm,
      count: p.data.count ?? 'estimate',
      allow: p.data.allow,
      deny: p.data.deny,
      passthrough: p.data.passthrough,
      routes: p.data.routes.map((r) => ({ host: r.host, headers: r.headers.map((h) => h.name) })),
    });
    return { ok: true, revision: p.data.revision };
  };

  const control = createServer((sock) => {
    let buf = '';
    sock.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      let op: string;
      try {
        op = (JSON.parse(line) as { op: string }).op;
      } catch {
        op = '';
      }
      const reply = (r: Reply): void => {
        sock.end(`${JSON.stringify(r)}\n`);
      };
      if (op === 'load') {
        load().then(reply, (e: unknown) => {
          reply({ ok: false, error: e instanceof Error ? e.message : String(e) });
        });
      } else if (op === 'show') {
        if (state === undefined) reply({ ok: false, error: 'not configured yet' });
        else reply({ ok: true, revision: state.policy.revision, policy: state.policy });
      } else {
        reply({ ok: false, error: `unknown control operation '${op}'` });
      }
    });
  });
  control.listen(SOCKET, () => {
    chmodSync(SOCKET, 0o600);
    stamp('control', { socket: SOCKET });
  });
  if (LOAD_AT_START) {
    load().then(
      (r) => {
        if (!r.ok) {
          stamp('error', { error: r.error });
          process.exit(1);
        }
      },
      (e: unknown) => {
        stamp('error', { error: e instanceof Error ? e.message : String(e) });
        process.exit(1);
      },
    );
  }
  const stop = (): void => {
    control.close();
    link?.close();
    proxy?.close();
    proxy?.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function ask(op: string): Promise<Reply> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await new Promise<Reply>((resolve, reject) => {
        const c = createConnection(SOCKET);
        let out = '';
        c.on('connect', () => c.write(`${JSON.stringify({ op })}\n`));
        c.on('data', (d: Buffer) => (out += d.toString('utf8')));
        c.on('end', () => {
          try {
            resolve(JSON.parse(out) as Reply);
          } catch {
            reject(new Error(`bad control reply: ${out.slice(0, 200)}`));
          }
        });
        c.on('error', reject);
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function writePrivate(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function ctl(op: string | undefined): Promise<number> {
  let reply: Reply;
  if (op === 'configure') {
    const parsed = configureSchema.safeParse(JSON.parse(await readStdin()));
    if (!parsed.success) {
      reply = { ok: false, error: describeIssues(parsed.error) };
    } else {
      writePrivate(SECRETS_FILE, parsed.data.secrets);
      writePrivate(POLICY_FILE, parsed.data.policy);
      reply = await ask('load');
    }
  } else if (op === 'set-policy') {
    const parsed = updateSchema.safeParse(JSON.parse(await readStdin()));
    if (!parsed.success) {
      reply = { ok: false, error: describeIssues(parsed.error) };
    } else {
      const previousPolicy = readFileSync(POLICY_FILE, 'utf8');
      const previousSecrets = readFileSync(SECRETS_FILE, 'utf8');
      if (parsed.data.values !== undefined) {
        // New credential values join the old ones; the CA stays.
        const secrets = secretsSchema.parse(JSON.parse(previousSecrets));
        writePrivate(SECRETS_FILE, {
          ...secrets,
          values: { ...secrets.values, ...parsed.data.values },
        });
      }
      writePrivate(POLICY_FILE, parsed.data.policy);
      reply = await ask('load');
      if (!reply.ok) {
        writeFileSync(POLICY_FILE, previousPolicy, { mode: 0o600 });
        writeFileSync(SECRETS_FILE, previousSecrets, { mode: 0o600 });
      }
    }
  } else if (op === 'show') {
    reply = await ask('show');
  } else {
    reply = { ok: false, error: `usage: ctl configure|set-policy|show (got '${op ?? ''}')` };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
  return reply.ok ? 0 : 1;
}

const [mode, op] = process.argv.slice(2);
if (mode === 'link') {
  void relayStdio(LINK_SOCKET).then((code) => process.exit(code));
} else if (mode === 'ctl') {
  ctl(op).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stdout.write(
        `${JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) })}\n`,
      );
      process.exit(1);
    },
  );
} else {
  serve();
}
