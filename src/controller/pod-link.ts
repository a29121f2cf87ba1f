import { connect } from 'node:net';
import type { EngineStream } from '../backend/backend.js';

/**
 * The in-cluster controller's link: a connection to the egress
 * container's unix socket in the volume the two containers of the proxy
 * pod share. It has the shape of an engine stream, so the same
 * reconnecting loop (keepLinked) serves it: a socket not there yet, or a
 * proxy that restarted, ends the stream and it is opened again.
 */
export function unixSocketStream(path: string): EngineStream {
  const s = connect(path);
  let failed = false;
  s.on('error', () => {
    failed = true;
  });
  return {
    stdin: s,
    stdout: s,
    done: new Promise((resolve) => {
      s.on('close', () => {
        resolve(failed ? 1 : 0);
      });
    }),
    close: () => s.destroy(),
  };
}
