import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineStream } from '../../src/backend/backend.js';
import type { ControlServer } from '../../src/controller/control-server.js';
import { keepLinked, type KeptLink, type LinkServer } from '../../src/controller/engine-link.js';
import { listenController, type ControllerLink } from '../../src/egress/controller-link.js';

/**
 * The controller link as the product runs it, with a unix socket connection
 * in place of the engine's `exec` stream: the sidecar end listens, the
 * controller end (keepLinked) opens and reopens it.
 */

export function socketStream(path: string): EngineStream {
  const s = connect(path);
  s.on('error', () => undefined);
  return {
    stdin: s,
    stdout: s,
    done: new Promise((resolve) => {
      s.on('close', () => {
        resolve(0);
      });
    }),
    close: () => s.destroy(),
  };
}

export interface SidecarEnd {
  link: ControllerLink;
  path: string;
  /** Link a controller to this sidecar (reconnecting as the product does); resolves when linked. */
  linkTo(server: LinkServer): Promise<KeptLink>;
  close(): Promise<void>;
}

async function until(ok: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

export function sidecarEnd(slug = 'demo'): SidecarEnd {
  const dir = mkdtempSync(join(tmpdir(), 'bb-link-'));
  const path = join(dir, 'controller.sock');
  const link = listenController({ socketPath: path, slug });
  const kept: KeptLink[] = [];
  return {
    link,
    path,
    async linkTo(server) {
      const k = keepLinked({
        open: () => socketStream(path),
        server,
        what: 'test',
        log: () => undefined,
        retryMs: 20,
      });
      kept.push(k);
      await until(() => link.connected());
      return k;
    },
    async close() {
      await Promise.all(kept.splice(0).map((k) => k.stop()));
      link.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A unix socket whose every connection the controller serves, for talking to it by hand. */
export async function controllerSocket(
  control: ControlServer,
): Promise<{ path: string; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'bb-ctl-'));
  const path = join(dir, 'c.sock');
  const server: Server = createServer((s) => {
    s.on('error', () => undefined);
    void control.attach({ input: s, output: s, destroy: () => s.destroy() });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    path,
    close() {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
