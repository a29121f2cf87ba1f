// Runs inside a bottle's agent container (node --input-type=module -e):
// N metered and N unmetered calls to one API host through the bottle's
// egress proxy, alternating, each kind on its own kept-alive tunnel, and
// prints the time of each call (request written to response ended, ms) as
// JSON. Both kinds cross the same proxy, TLS interception, scanning and
// upstream; only the metered one waits for the controller's admission
// before it is sent, so the difference between them is that round trip.
//
// argv: host calls meteredPath plainPath
import { request } from 'node:http';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';

const [
  host = 'api.anthropic.com',
  callsArg = '30',
  meteredPath = '/v1/messages',
  plainPath = '/v1/messages/count_tokens',
] = process.argv.slice(1);
const calls = Number(callsArg);
const proxy = new URL(process.env.HTTPS_PROXY ?? process.env.https_proxy ?? 'http://egress:3128');
const body = JSON.stringify({
  model: 'claude-sonnet-4-5',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'hi' }],
});

function tunnel() {
  return new Promise((resolve, reject) => {
    const s = connect(Number(proxy.port || 3128), proxy.hostname, () => {
      s.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`);
    });
    let head = '';
    const onData = (c) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 200')) return reject(new Error(`CONNECT refused: ${head}`));
      const t = tlsConnect({ socket: s, servername: host, ALPNProtocols: ['http/1.1'] }, () =>
        resolve(t),
      );
      t.on('error', reject);
    };
    s.on('data', onData);
    s.on('error', reject);
  });
}

function call(socket, path) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({
      createConnection: () => socket,
      method: 'POST',
      path,
      headers: {
        host,
        connection: 'keep-alive',
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'anthropic-version': '2023-06-01',
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const metered = await tunnel();
const plain = await tunnel();
const out = { metered: [], plain: [], statuses: { metered: [], plain: [] } };
// Untimed first calls: leaf certificates, upstream connections and JIT warm up.
for (let i = 0; i < 3; i++) {
  await call(metered, meteredPath);
  await call(plain, plainPath);
}
for (let i = 0; i < calls; i++) {
  // Alternate which kind goes first, so drift in load falls on both.
  const order = i % 2 === 0 ? ['metered', 'plain'] : ['plain', 'metered'];
  for (const kind of order) {
    const r = await call(
      kind === 'metered' ? metered : plain,
      kind === 'metered' ? meteredPath : plainPath,
    );
    out[kind].push(r.ms);
    out.statuses[kind].push(r.status);
  }
}
metered.destroy();
plain.destroy();
process.stdout.write(`${JSON.stringify(out)}\n`);
