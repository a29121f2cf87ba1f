// The benchmark's upstream, in its own process as a real API would be: a TLS
// server with /small (17 bytes), /download (100 MB) and /sse (first event at
// once). Reads {cert, key} as JSON on stdin; prints its port.
import { createServer } from 'node:https';

const DOWNLOAD = 100 * 1024 * 1024;
const chunk = Buffer.alloc(64 * 1024, 120);
/** Write `block` until `size` bytes went out, respecting backpressure, then `done`. */
function pump(res, block, size, done) {
  let sent = 0;
  const more = () => {
    while (sent < size) {
      sent += block.length;
      if (!res.write(block)) {
        res.once('drain', more);
        return;
      }
    }
    done();
  };
  more();
}

let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const { cert, key } = JSON.parse(input);
  const server = createServer({ cert, key, keepAliveTimeout: 60_000 }, (req, res) => {
    if (req.url === '/small') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 17 });
      res.end('{"ok":true,"n":1}');
    } else if (req.url === '/download') {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': DOWNLOAD,
      });
      pump(res, chunk, DOWNLOAD, () => res.end());
    } else if (req.url === '/v1/messages' || req.url === '/v1/messages?short=1') {
      const size = req.url.endsWith('short=1') ? 0 : 50 * 1024 * 1024;
      // An Anthropic-shaped stream of ~50 MB: what the meter has to read.
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const ev = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
      res.write(
        ev('message_start', {
          type: 'message_start',
          message: { id: 'msg_b', model: 'bench', usage: { input_tokens: 10, output_tokens: 1 } },
        }),
      );
      const delta = ev('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: 'x'.repeat(900) },
      });
      const block = Buffer.from(delta.repeat(64));
      pump(res, block, size, () => {
        res.write(ev('message_delta', { type: 'message_delta', usage: { output_tokens: 12345 } }));
        res.end(ev('message_stop', { type: 'message_stop' }));
      });
    } else if (req.url === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: message_start\ndata: {}\n\n');
      setTimeout(() => res.end('event: message_stop\ndata: {}\n\n'), 5);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
});
