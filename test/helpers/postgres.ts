import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { describeNeeding } from './needs.js';

/**
 * Postgres for the ledger's tests. scripts/testbed-postgres.sh runs a
 * server on 127.0.0.1 and writes its URL (a role that may create
 * databases) to $BOT_BOTTLE_PG_DIR/url; BOT_BOTTLE_TEST_PG_URL names
 * another server instead. Each test file makes its own database
 * (freshDatabase) and drops it after. Tests that stop the server get a
 * private cluster of their own (startPrivatePostgres).
 */

export const PG_DIR = process.env.BOT_BOTTLE_PG_DIR ?? '/var/tmp/bot-bottle-pg';
const PG_USER = process.env.BOT_BOTTLE_PG_USER ?? 'bbpg';

/** The test bed's URL (with its password), or undefined when there is none. */
export function testbedUrl(): string | undefined {
  const fromEnv = process.env.BOT_BOTTLE_TEST_PG_URL;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const file = join(PG_DIR, 'url');
  if (!existsSync(file)) return undefined;
  const url = readFileSync(file, 'utf8').trim();
  return url === '' ? undefined : url;
}

async function probe(): Promise<string | undefined> {
  const url = testbedUrl();
  if (url === undefined) return `no URL in ${join(PG_DIR, 'url')} or BOT_BOTTLE_TEST_PG_URL`;
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    await c.end().catch(() => undefined);
  }
}

const problem = await probe();

/**
 * A describe block that needs the test bed's Postgres. Skipped on a
 * developer machine without it; under CI it fails.
 */
export function describePostgres(name: string, fn: () => void): void {
  describeNeeding(
    name,
    { what: 'the Postgres test bed', problem, fix: 'scripts/testbed-postgres.sh' },
    fn,
  );
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  drop: () => Promise<void>;
}

/** A new, empty database on the test bed's server (or `server`), for one test file or test. */
export async function freshDatabase(prefix = 'bbt', server = testbedUrl()): Promise<TestDatabase> {
  if (server === undefined)
    throw new Error('no Postgres test bed (run scripts/testbed-postgres.sh)');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin(server, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    url: withDatabase(server, name),
    name,
    drop: () =>
      admin(server, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

function pgBinDir(): string {
  const fromEnv = process.env.BOT_BOTTLE_PG_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] === undefined) throw new Error('PostgreSQL is not installed (postgresql-15)');
  return join(root, versions[0], 'bin');
}

/** Runs a server program as the unprivileged user (initdb and postgres refuse root). */
function asPgUser(file: string, args: string[], timeout = 90_000): string {
  const root = process.getuid?.() === 0;
  const [cmd, argv] = root ? ['runuser', ['-u', PG_USER, '--', file, ...args]] : [file, args];
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => {
        if (addr !== null && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export interface PrivatePostgres {
  /** postgres://botbottle:PASSWORD@127.0.0.1:PORT/postgres (a superuser of this cluster only). */
  url: string;
  port: number;
  /** Stops the server (`fast`: clients are disconnected; `immediate`: as if it crashed). */
  stop(mode?: 'fast' | 'immediate'): void;
  /** Starts it again on the same port and data. */
  start(): void;
  /** Stops it and removes its files. */
  dispose(): void;
}

/**
 * A cluster of the test's own on a free port, run as the Postgres test
 * user: for tests that stop and start the store. Takes a few seconds.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = pgBinDir();
  const dir = mkdtempSync('/tmp/bb-pg-private-');
  const root = process.getuid?.() === 0;
  if (root) {
    let ids: [number, number];
    try {
      const id = (flag: string): number =>
        Number(execFileSync('id', [flag, PG_USER], { encoding: 'utf8', stdio: 'pipe' }).trim());
      ids = [id('-u'), id('-g')];
    } catch {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`no user ${PG_USER} to run Postgres as; run scripts/testbed-postgres.sh`);
    }
    chownSync(dir, ...ids);
  }
  const data = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o644 });
  asPgUser(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'botbottle',
    `--pwfile=${pwfile}`,
    '--auth-local=peer',
    '--auth-host=scram-sha-256',
    '--locale=C.UTF-8',
    '--no-sync',
  ]);
  rmSync(pwfile, { force: true });
  const port = await freePort();
  let running = false;
  const start = (): void => {
    asPgUser(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-k ${dir} -h 127.0.0.1 -p ${String(port)} -c fsync=off`,
      'start',
    ]);
    running = true;
  };
  const stop = (mode: 'fast' | 'immediate' = 'fast'): void => {
    asPgUser(join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', 'stop']);
    running = false;
  };
  start();
  return {
    url: `postgres://botbottle:${password}@127.0.0.1:${String(port)}/postgres`,
    port,
    stop,
    start,
    dispose: () => {
      if (running) {
        try {
          stop('immediate');
        } catch {
          // Already gone; the files go anyway.
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
