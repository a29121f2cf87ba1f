import { afterEach, describe, expect, it } from 'vitest';
import { FIX } from '../../src/backend/docker/fixes.js';
import { makeFixture } from '../helpers/fixture.js';

/**
 * `doctor` and the launch's machine checks tell a user what to install or
 * run. They are read by people who installed bot-bottle from npm, whose
 * package holds no scripts/, so every hint must stand on its own.
 */

const saved = { PATH: process.env.PATH, DOCKER_HOST: process.env.DOCKER_HOST };
afterEach(() => {
  process.env.PATH = saved.PATH;
  if (saved.DOCKER_HOST === undefined) delete process.env.DOCKER_HOST;
  else process.env.DOCKER_HOST = saved.DOCKER_HOST;
});

interface Doctor {
  checks: { id: string; status: string; fix?: string }[];
}

async function doctor(): Promise<{ code: number; json: Doctor; text: string }> {
  const fx = makeFixture();
  try {
    const j = await fx.run(['doctor', '--json']);
    const t = await fx.run(['doctor']);
    return { code: j.code, json: JSON.parse(j.stdout) as Doctor, text: t.stdout };
  } finally {
    fx.cleanup();
  }
}

/** A hint that sends the user to a file the npm package does not ship. */
const OUTSIDE_PACKAGE = /testbed|scripts\/|\.sh\b/;

describe('doctor fix hints', () => {
  it('says how to install the docker client when there is none', async () => {
    process.env.PATH = '/nonexistent-bin';
    const r = await doctor();
    expect(r.code).toBe(3);
    const fix = r.json.checks.find((c) => c.id === 'docker-client')?.fix ?? '';
    expect(fix).toContain('apt-get install docker.io');
    expect(fix).toContain('https://docs.docker.com/engine/install/');
    expect(fix).not.toMatch(OUTSIDE_PACKAGE);
    expect(r.text).toContain(`fix: ${fix}`);
  });

  it('says how to start the engine when it does not answer', async () => {
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    const r = await doctor();
    expect(r.code).toBe(3);
    const check = r.json.checks.find((c) => c.id === 'docker-engine');
    expect(check?.status).toBe('fail');
    expect(check?.fix).toContain('systemctl start docker');
    expect(check?.fix).toContain('dockerd');
    expect(check?.fix).not.toMatch(OUTSIDE_PACKAGE);
    expect(r.text).not.toMatch(OUTSIDE_PACKAGE);
  });

  it('spells out gVisor registration and how to get a base image without a registry', () => {
    expect(FIX.registerRunsc).toContain('apt-get install runsc');
    expect(FIX.registerRunsc).toContain('"runsc":{"path":"/usr/bin/runsc"}');
    expect(FIX.registerRunsc).toContain('/etc/docker/daemon.json');
    expect(FIX.registerRunsc).toMatch(/restart|reload/);
    const base = FIX.baseImage('bot-bottle-base:bookworm');
    expect(base).toContain('docker pull bot-bottle-base:bookworm');
    expect(base).toContain('docker save');
    expect(base).toContain('debootstrap');
    expect(base).toContain('docker import - bot-bottle-base:bookworm');
    expect(base).toContain('Node.js');
  });

  it('names no file outside the npm package in any hint', () => {
    const texts = [
      FIX.installDocker,
      FIX.startEngine,
      FIX.registerRunsc,
      FIX.baseImage('node:22-bookworm-slim'),
    ];
    for (const t of texts) expect(t).not.toMatch(OUTSIDE_PACKAGE);
  });
});
