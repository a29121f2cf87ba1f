import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { chooseLedger, ledgerChoice } from '../../src/ledger/open.js';
import { redactedUrl } from '../../src/ledger/url.js';
import { makeFixture, type Fixture } from '../helpers/fixture.js';

/** Which ledger store a host uses: settings.yml `ledger.url`, BOT_BOTTLE_LEDGER_URL, or SQLite. */

let fx: Fixture | undefined;
afterEach(() => {
  fx?.cleanup();
  fx = undefined;
});

function withSettings(yaml: string, env: NodeJS.ProcessEnv = {}): Fixture {
  fx = makeFixture({ home: { 'settings.yml': yaml } }, env);
  return fx;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('ledger store choice', () => {
  it('is the host SQLite file when nothing names a store', () => {
    const f = withSettings('cutoff: freeze\n');
    expect(ledgerChoice(f.env)).toEqual({ store: 'sqlite', path: join(f.home, 'bot-bottle.db') });
  });

  it('is Postgres when settings.yml names a URL, shown without its password', () => {
    const f = withSettings('ledger:\n  url: postgres://bb:s3cret@db.example:6543/ledger\n');
    expect(ledgerChoice(f.env)).toEqual({
      store: 'postgres',
      url: 'postgres://bb:s3cret@db.example:6543/ledger',
      shown: 'postgres://bb:***@db.example:6543/ledger',
      from: 'settings.yml ledger.url',
    });
  });

  it('takes BOT_BOTTLE_LEDGER_URL over settings.yml', () => {
    const f = withSettings('ledger:\n  url: postgres://a@one/ledger\n', {
      BOT_BOTTLE_LEDGER_URL: 'postgresql://b@two:5433/ledger',
    });
    expect(ledgerChoice(f.env)).toMatchObject({
      url: 'postgresql://b@two:5433/ledger',
      from: 'BOT_BOTTLE_LEDGER_URL',
    });
  });

  it('refuses a URL of another kind in settings.yml, without repeating it', () => {
    const f = withSettings('ledger:\n  url: mysql://bb:s3cret@db.example/ledger\n');
    const e = configError(() => ledgerChoice(f.env));
    expect(e.message).toContain("field 'ledger.url'");
    expect(e.message).toContain('must be a postgres:// or postgresql:// URL (got a mysql:// URL');
    expect(e.message).not.toContain('s3cret');
  });

  it('refuses a URL of another kind in BOT_BOTTLE_LEDGER_URL, without repeating it', () => {
    const f = withSettings('', { BOT_BOTTLE_LEDGER_URL: 'sqlite:///home/me/s3cret.db' });
    const e = configError(() => ledgerChoice(f.env));
    expect(e.message).toMatch(/environment: field 'BOT_BOTTLE_LEDGER_URL': must be a postgres/);
    expect(e.message).not.toContain('s3cret');
    const g = withSettings('', { BOT_BOTTLE_LEDGER_URL: 'not a url' });
    expect(configError(() => ledgerChoice(g.env)).message).toContain(
      'must be a URL such as postgres://',
    );
  });

  it('refuses unknown keys in the ledger section', () => {
    const f = withSettings('ledger:\n  uri: postgres://h/db\n');
    expect(configError(() => ledgerChoice(f.env)).message).toMatch(
      /field 'ledger.uri': unknown key 'uri'.*did you mean 'url'/,
    );
  });

  it('is decided by a pure function of the settings', () => {
    expect(chooseLedger({ BOT_BOTTLE_HOME: '/h' }, { ledgerUrl: undefined })).toEqual({
      store: 'sqlite',
      path: '/h/bot-bottle.db',
    });
    expect(redactedUrl('postgres://u:p%40ss@h/db')).toBe('postgres://u:***@h/db');
    expect(redactedUrl('postgres://u@h/db')).toBe('postgres://u@h/db');
  });
});

describe('doctor and the ledger', () => {
  it('names the SQLite file by default', async () => {
    const f = withSettings('');
    const r = await f.run(['doctor', '--json']);
    const check = (
      JSON.parse(r.stdout) as { checks: { id: string; status: string; summary: string }[] }
    ).checks.find((c) => c.id === 'ledger');
    expect(check).toMatchObject({ status: 'ok' });
    expect(check?.summary).toContain(`SQLite ${join(f.home, 'bot-bottle.db')}`);
  });

  it('fails promptly when the Postgres store does not answer, naming it without the password', async () => {
    const f = withSettings('ledger:\n  url: postgres://bb:s3cret-pw@127.0.0.1:9/ledger\n');
    const t0 = Date.now();
    const r = await f.run(['doctor']);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(r.code).toBe(3);
    const line = r.stdout.split('\n').find((l) => l.includes(' ledger '));
    expect(line).toMatch(
      /FAIL\s+ledger\s+Postgres postgres:\/\/bb:\*\*\*@127\.0\.0\.1:9\/ledger \(settings\.yml ledger\.url\): ledger store \(Postgres at 127\.0\.0\.1:9\): cannot be reached/,
    );
    expect(r.stdout).toContain('fix: check that the Postgres server at 127.0.0.1:9 is running');
    expect(r.stdout + r.stderr).not.toContain('s3cret-pw');
    // The settings file holds that password and is readable by others.
    chmodSync(join(f.home, 'settings.yml'), 0o644);
    const warned = await f.run(['doctor']);
    expect(warned.stdout).toMatch(
      /warn\s+ledger password\s+\S+settings\.yml holds the ledger's Postgres password and other users can read it/,
    );
    expect(warned.stdout).toContain('fix: chmod 600');
    chmodSync(join(f.home, 'settings.yml'), 0o600);
    expect((await f.run(['doctor'])).stdout).not.toContain('ledger password');
  }, 60_000);
});
