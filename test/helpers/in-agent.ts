import { execFile } from 'node:child_process';

/** Runs a command in a bottle's agent container without blocking the event loop (an in-process fake upstream must answer meanwhile). */
export function inAgentAsync(slug: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'docker',
      ['exec', `bot-bottle-${slug}`, ...argv],
      { encoding: 'utf8', timeout: 120_000 },
      (e, out) => {
        if (e !== null) reject(new Error(e.message));
        else resolve(out);
      },
    );
  });
}

/**
 * A Node script for the agent container: CONNECT `host` through the egress
 * proxy, TLS, write the request (`request`: a JS expression; `input` holds
 * stdin), print the whole response.
 */
export function viaProxyScript(host: string, request: string): string {
  return `
    const net = require('node:net'), tls = require('node:tls');
    const input = require('node:fs').readFileSync(0, 'utf8').trim();
    const s = net.connect(3128, 'egress', () => s.write('CONNECT ${host}:443 HTTP/1.1\\r\\nHost: ${host}:443\\r\\n\\r\\n'));
    s.once('data', () => {
      const t = tls.connect({ socket: s, servername: '${host}' }, () => t.write(${request}));
      let got = ''; t.on('data', (d) => (got += d)); t.on('end', () => console.log(got));
    });`;
}

/**
 * A Node script for the agent's workspace: GET https://HOST/hello through
 * the egress proxy; prints one line, `STATUS <code> <body>`, or
 * `STATUS <code> refused` when the proxy refuses the CONNECT.
 */
export function probeScript(host: string): string {
  return `
const net = require('node:net'), tls = require('node:tls');
const host = '${host}';
const s = net.connect(3128, 'egress', () => s.write('CONNECT ' + host + ':443 HTTP/1.1\\r\\nHost: ' + host + ':443\\r\\n\\r\\n'));
s.once('data', (d) => {
  const status = String(d).split(' ')[1];
  if (status !== '200') { console.log('STATUS ' + status + ' refused'); process.exit(0); }
  const t = tls.connect({ socket: s, servername: host }, () => t.write('GET /hello HTTP/1.1\\r\\nHost: ' + host + '\\r\\nConnection: close\\r\\n\\r\\n'));
  let got = ''; t.on('data', (c) => (got += c));
  t.on('end', () => console.log('STATUS ' + got.split(' ')[1] + ' ' + (got.split('\\r\\n\\r\\n')[1] || '').trim()));
});`;
}
