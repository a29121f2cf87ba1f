// The floor for the egress benchmark: the least a TLS-intercepting forward
// proxy on Node's http/https does (CONNECT, terminate TLS, forward over a
// kept-alive TLS pool, pipe back) with no checks, no scanning and no log.
// Reads {cert, key, ca, upPort, port} as JSON on stdin; prints "ready".
import { createServer, request, Agent } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const { cert, key, ca, upPort, port } = JSON.parse(input);
  const agent = new Agent({ keepAlive: true });
  agent.createConnection = (o, cb) => {
    const s = tlsConnect({ host: '127.0.0.1', port: upPort, servername: 'bench.test', ca }, () =>
      cb(null, s),
    );
    s.on('error', cb);
  };
  const inner = createHttps({ cert, key }, (req, res) => {
    const up = request(
      {
        agent,
        host: 'bench.test',
        port: upPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      },
    );
    req.pipe(up);
  });
  const outer = createServer();
  outer.on('connect', (req, sock) => {
    sock.write('HTTP/1.1 200 OK\r\n\r\n');
    inner.emit('connection', sock);
  });
  outer.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
});
