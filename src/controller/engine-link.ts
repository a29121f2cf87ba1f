import type { EngineStream } from '../backend/backend.js';

/**
 * Keeps one link open to a sidecar through the engine: an `exec` stream
 * (see Backend.openStream) whose stdio the controller serves. When it ends
 * (the engine connection dropped, the relay died) it is opened again after
 * a pause, until stopped. Only moves bytes; what they mean is the server's.
 */

export interface LinkServer {
  attach(stream: {
    input: NodeJS.ReadableStream;
    output: NodeJS.WritableStream;
    destroy(): void;
  }): Promise<void>;
}

export interface KeptLink {
  stop(): Promise<void>;
}

export function keepLinked(opts: {
  open: () => EngineStream;
  server: LinkServer;
  what: string;
  log: (line: string) => void;
  retryMs?: number;
}): KeptLink {
  let stopped = false;
  // A call, so the loop reads what stop() set while it awaited.
  const isStopped = (): boolean => stopped;
  let current: EngineStream | undefined;
  let wake: () => void = () => undefined;
  const loop = (async () => {
    let drops = 0;
    while (!isStopped()) {
      const stream = opts.open();
      current = stream;
      const served = opts.server.attach({
        input: stream.stdout,
        output: stream.stdin,
        destroy: () => {
          stream.close();
        },
      });
      const code = await stream.done;
      await served;
      current = undefined;
      if (isStopped()) break;
      drops += 1;
      // Once per drop, not per retry: a long outage is one line, then quiet.
      if (drops === 1 || drops % 20 === 0) {
        opts.log(`the link to ${opts.what} ended (exit ${code}); reconnecting`);
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, opts.retryMs ?? 500).unref();
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      current?.close();
      wake();
      await loop;
    },
  };
}
