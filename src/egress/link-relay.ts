import { createConnection, type Socket } from 'node:net';

/**
 * The in-container half of a link: `node <sidecar> link`, started by the
 * controller through the engine's `exec` with stdin and stdout piped,
 * copies bytes between its stdio and the sidecar's unix socket. It moves
 * bytes only; both ends validate what they read.
 */

const CONNECT_DEADLINE_MS = 15_000;

function connectOnce(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socketPath);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Connect, retrying while the sidecar is still starting (no socket yet). */
async function connectSoon(socketPath: string): Promise<Socket> {
  const deadline = Date.now() + CONNECT_DEADLINE_MS;
  for (;;) {
    try {
      return await connectOnce(socketPath);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Relay stdio to `socketPath` until either side ends; resolves with the exit code. */
export async function relayStdio(
  socketPath: string,
  stdin: NodeJS.ReadableStream = process.stdin,
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  let sock: Socket;
  try {
    sock = await connectSoon(socketPath);
  } catch (e) {
    process.stderr.write(`link: cannot reach ${socketPath}: ${(e as Error).message}\n`);
    return 1;
  }
  return new Promise((resolve) => {
    stdin.pipe(sock);
    sock.pipe(stdout);
    // The controller hung up (stdin ended): the link is over.
    stdin.on('end', () => sock.end());
    sock.on('error', () => undefined);
    sock.on('close', () => {
      resolve(0);
    });
  });
}
