import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { redactPath, type AuditEntry } from './audit.js';
import type { LeafMinter } from './ca.js';
import type { EgressPolicyConfig } from './config.js';
import type { Finding, Scanner } from './dlp.js';
import { hostnameFinding } from './dlp.js';
import { decideHost, decideRequest, refusalText, type Verdict } from './policy.js';
import { forbiddenRange, ipLiteral } from './ssrf.js';
import { PrivateAddressError, type Upstream } from './upstream.js';
import { relayWebSocket, type RelayOptions } from './websocket.js';
import { createMeter, meteredApi, type Meter, type MeteredApi, type Usage } from './meter.js';
import {
  estimateTokens,
  NO_TICKET,
  shapedRefusal,
  type Admit,
  type Refusal,
  type Ticket,
} from './admission.js';

/**
 * The bottle's egress proxy: the agent's only way out. Plain `http://`
 * requests arrive in absolute form; `https://` arrives as CONNECT, which is
 * answered and then terminated here with a leaf certificate from the
 * bottle's CA, so every request inside can be judged, scanned and given its
 * credentials. Request bodies are held until scanned (up to BODY_HOLD_LIMIT,
 * beyond it scanned chunk by chunk as they stream); responses stream
 * through untouched, chunk by chunk.
 */

export interface ProxyState {
  policy: EgressPolicyConfig;
  scanner: Scanner;
  minter: LeafMinter;
  upstream: Upstream;
  /** route host -> header name -> value (prefix included). */
  routeValues: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

export interface ProxyOptions {
  state: () => ProxyState;
  log: (entry: AuditEntry) => void;
  /** Token usage read from a metered LLM response (after the agent got its bytes). */
  usage?: (record: UsageRecord) => void;
  /**
   * Asks whether a metered call may leave (the controller's budget check).
   * Absent: metered calls are only measured, never refused.
   */
  admit?: Admit;
}

export interface UsageRecord extends Usage {
  at: string;
  slug: string;
  host: string;
  transport: 'http' | 'websocket';
}

export const HEALTH_PATH = '/__bot-bottle/health';
export const BODY_HOLD_LIMIT = 8 * 1024 * 1024;
/** Text carried from one streamed chunk into the next scan (longer than any secret format). */
const STREAM_OVERLAP = 4096;

/** Headers meant for one hop only (RFC 9110 7.6.1) and the proxy's own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
/** Credential headers an agent may send with a placeholder; dropped where a route injects. */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key'];

export interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

/** Split `host:port` (IPv6 in brackets) from a CONNECT target or Host header. */
export function splitAuthority(
  authority: string,
  defaultPort: number,
): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/@]+))(?::(\d{1,5}))?$/.exec(authority);
  if (m === null) return undefined;
  const host = (m[1] ?? m[2] ?? '').toLowerCase().replace(/\.$/, '');
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (host === '' || port < 1 || port > 65535) return undefined;
  return { host, port };
}

function rawRefusal(sock: Socket, status: number, reason: string, body: string): void {
  if (!sock.writable) return;
  sock.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n` +
      `x-bot-bottle-egress: refused\r\n\r\n${body}`,
  );
}

/** Host-level verdict, with literal private addresses named as such. */
function judgeHost(policy: EgressPolicyConfig, host: string, port: number): Verdict {
  const literal = ipLiteral(host);
  if (literal !== undefined && policy.hosts[host] === undefined) {
    const range = forbiddenRange(literal);
    if (range !== undefined) {
      return {
        allowed: false,
        rule: `private-address ${range}`,
        why: `${host} is a ${range} address`,
      };
    }
  }
  const v = decideHost(policy, host, port);
  if (!v.allowed) return v;
  // An exact allow entry is the operator naming the host; a wildcard lets the agent pick sub-domains.
  if (!v.rule.startsWith('allow *.') || policy.hosts[host] !== undefined) return v;
  const odd = hostnameFinding(host);
  if (odd === undefined) return v;
  return {
    allowed: false,
    rule: 'dlp hostname-encoding',
    why: `the host name looks like a data channel (${odd})`,
  };
}

function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  const opts = { maxOutputLength: 4 * BODY_HOLD_LIMIT };
  try {
    switch ((encoding ?? '').trim().toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(body, opts);
      case 'deflate':
        return inflateSync(body, opts);
      case 'br':
        return brotliDecompressSync(body, opts);
      default:
        return body;
    }
  } catch {
    return body;
  }
}

export function createEgressProxy(opts: ProxyOptions): Server {
  const tlsServers = new Map<string, { server: HttpsServer; notAfter: number }>();
  const sniMismatch = new WeakMap<Socket, string>();

  const entry = (
    kind: AuditEntry['kind'],
    t: { host: string; port: number },
    extra: Partial<AuditEntry> & Pick<AuditEntry, 'rule' | 'verdict' | 'status'>,
    started: number,
  ): void => {
    opts.log({
      at: new Date().toISOString(),
      slug: opts.state().policy.slug,
      kind,
      method: 'CONNECT',
      host: t.host,
      port: t.port,
      path: '',
      bytesUp: 0,
      bytesDown: 0,
      ...extra,
      ms: Date.now() - started,
    });
  };

  /**
   * A meter for a metered API call, stamped with its bottle: what it reads
   * goes to the usage log and to the call's ticket (the controller).
   */
  const meterFor = (
    api: MeteredApi,
    host: string,
    format: 'sse' | 'json' | 'ws',
    encoding: string | undefined,
    ticket: Ticket,
  ): Meter =>
    createMeter(api, format, encoding, (u) => {
      opts.usage?.({
        ...u,
        at: new Date().toISOString(),
        slug: opts.state().policy.slug,
        host,
        transport: format === 'ws' ? 'websocket' : 'http',
      });
      ticket.usage(u);
    });

  /** Metered calls (and only those) are measured when anyone listens, and admitted first. */
  const meteredCall = (method: string, path: string): MeteredApi | undefined =>
    opts.usage === undefined && opts.admit === undefined ? undefined : meteredApi(method, path);

  /** A WebSocket's meter (one per socket, several calls) and its admission, when metered. */
  const wsMetering = (
    path: string,
    host: string,
  ): Pick<RelayOptions, 'meterFor' | 'admit' | 'api'> => {
    const api = meteredCall('GET', path);
    if (api === undefined) return { meterFor: undefined, admit: undefined, api: undefined };
    return {
      api,
      admit: opts.admit,
      meterFor: (ticket: Ticket) => meterFor(api, host, 'ws', undefined, ticket),
    };
  };

  const refuseResponse = (res: ServerResponse, status: number, body: string): void => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      'x-bot-bottle-egress': 'refused',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };

  /** Checks that apply to every request and WebSocket upgrade inside a target. */
  const preflight = (
    req: IncomingMessage,
    t: Target,
    path: string,
  ):
    | { refused: { rule: string; why: string; findings?: Finding[] } }
    | { ok: Verdict; findings: Finding[] } => {
    const state = opts.state();
    const mismatch = sniMismatch.get(req.socket);
    if (mismatch !== undefined) {
      return {
        refused: {
          rule: 'sni-mismatch',
          why: `TLS server name '${mismatch}' differs from the CONNECT host`,
        },
      };
    }
    const hv = judgeHost(state.policy, t.host, t.port);
    if (!hv.allowed) return { refused: hv };
    const hostHeader = splitAuthority(req.headers.host ?? '', t.scheme === 'https' ? 443 : 80);
    if (hostHeader?.host !== t.host || hostHeader.port !== t.port) {
      return {
        refused: {
          rule: 'host-mismatch',
          why: `Host header '${req.headers.host ?? ''}' differs from the connection's host ${t.host}:${t.port}`,
        },
      };
    }
    const rv = decideRequest(
      state.policy,
      t.host,
      t.port,
      req.method ?? 'GET',
      path.split('?')[0] ?? '/',
    );
    if (rv !== undefined && !rv.allowed) return { refused: rv };
    const routed = state.routeValues.get(t.host);
    const skip = new Set<string>([
      'host',
      ...(routed === undefined ? [] : [...CREDENTIAL_HEADERS, ...routed.keys()]),
    ]);
    const findings = [
      ...state.scanner.scanUrl(t.host, path),
      ...state.scanner.scanHeaders(req.headers, skip),
    ];
    return { ok: rv ?? hv, findings };
  };

  const dlpVerdict = (
    findings: Finding[],
  ): { block: boolean; rule: string; why: string } | undefined => {
    if (findings.length === 0) return undefined;
    const kinds = [...new Set(findings.map((f) => `${f.kind} in ${f.where}`))];
    return {
      block: opts.state().policy.mode === 'enforce',
      rule: `dlp ${[...new Set(findings.map((f) => f.kind))].join(',')}`,
      why: `the request carries what looks like a secret (${kinds.join('; ')})`,
    };
  };

  /** Outgoing headers: hop-by-hop removed, the route's credentials in place of the agent's. */
  const upstreamHeaders = (req: IncomingMessage, t: Target): OutgoingHttpHeaders => {
    const out: OutgoingHttpHeaders = {};
    const drop = new Set(
      (req.headers.connection ?? '').split(',').map((s) => s.trim().toLowerCase()),
    );
    const routed = opts.state().routeValues.get(t.host);
    if (routed !== undefined) for (const h of CREDENTIAL_HEADERS) drop.add(h);
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || drop.has(k)) continue;
      out[k] = v;
    }
    if (routed !== undefined) {
      for (const [name, value] of routed) out[name.toLowerCase()] = value;
    }
    return out;
  };

  const responseHeaders = (h: IncomingHttpHeaders): OutgoingHttpHeaders => {
    const out: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(h)) {
      if (v === undefined || HOP_BY_HOP.has(k)) continue;
      out[k] = v;
    }
    return out;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, t: Target, path: string): void => {
    const started = Date.now();
    const method = req.method ?? 'GET';
    let bytesUp = 0;
    let bytesDown = 0;
    const log = (
      extra: Pick<AuditEntry, 'rule' | 'verdict' | 'status'> & Partial<AuditEntry>,
    ): void => {
      entry(t.scheme, t, { method, path: redactPath(path), bytesUp, bytesDown, ...extra }, started);
    };
    const refuse = (rule: string, why: string, findings?: Finding[], status = 403): void => {
      log({
        rule,
        verdict: 'refused',
        status,
        reason: why,
        ...(findings === undefined
          ? {}
          : { findings: findings.map((f) => `${f.kind}@${f.where}`) }),
      });
      req.resume();
      refuseResponse(
        res,
        status,
        refusalText(
          opts.state().policy.slug,
          `${method} ${t.scheme}://${t.host}:${t.port}${redactPath(path)}`,
          rule,
          why,
        ),
      );
    };

    const pre = preflight(req, t, path);
    if ('refused' in pre) {
      refuse(pre.refused.rule, pre.refused.why);
      return;
    }
    const findings = pre.findings;

    /**
     * `body`: the whole body, already scanned. `held`: the first part of a
     * body too large to hold; the rest is scanned chunk by chunk as it
     * streams (with an overlap, so a secret across two chunks is seen) and
     * the upload is cut at the first finding.
     */
    const forward = (body: Buffer | undefined, held?: Buffer): void => {
      const dv = dlpVerdict(findings);
      if (dv?.block === true) {
        refuse(dv.rule, dv.why, findings);
        return;
      }
      const api = meteredCall(method, path);
      if (api === undefined || opts.admit === undefined) {
        send(body, held, dv, api, NO_TICKET);
        return;
      }
      const size = body?.length ?? Number(req.headers['content-length'] ?? held?.length ?? 0);
      opts.admit({ api, host: t.host, estimate: estimateTokens(size) }).then(
        (r) => {
          if (r.ok) send(body, held, dv, api, r.ticket);
          else refuseBudget(api, r.refusal);
        },
        (e: unknown) => {
          refuseBudget(api, {
            kind: 'unavailable',
            message: `admission failed: ${e instanceof Error ? e.message : String(e)}`,
          });
        },
      );
    };

    /** A metered call the budget does not admit: the API's own error shape. */
    const refuseBudget = (api: MeteredApi, r: Refusal): void => {
      const e = shapedRefusal(api, r);
      log({ rule: `budget-${r.kind}`, verdict: 'refused', status: e.status, reason: r.message });
      req.resume();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(e.status, { ...e.headers, 'content-length': Buffer.byteLength(e.body) });
      res.end(e.body);
    };

    const send = (
      body: Buffer | undefined,
      held: Buffer | undefined,
      dv: ReturnType<typeof dlpVerdict>,
      api: MeteredApi | undefined,
      ticket: Ticket,
    ): void => {
      const state = opts.state();
      const headers = upstreamHeaders(req, t);
      if (body !== undefined) {
        headers['content-length'] = body.length;
        delete headers['transfer-encoding'];
      }
      let cut = false;
      const up = httpRequest({
        agent: state.upstream.agent(t.host, t.port, t.scheme === 'https'),
        host: t.host,
        port: t.port,
        method,
        path,
        headers,
        setHost: false,
      });
      up.on('response', (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, responseHeaders(upRes.headers));
        const meter =
          api === undefined
            ? undefined
            : meterFor(
                api,
                t.host,
                /text\/event-stream/i.test(upRes.headers['content-type'] ?? '') ? 'sse' : 'json',
                upRes.headers['content-encoding'],
                ticket,
              );
        if (meter === undefined)
          res.once('close', () => {
            ticket.done();
          });
        upRes.on('data', (c: Buffer) => {
          bytesDown += c.length;
        });
        if (meter !== undefined) {
          // Once: a stream can both end and close; its usage is read one time.
          let ending: Promise<void> | undefined;
          const end = (): void => {
            ending ??= meter.end().then(() => {
              ticket.done();
            });
          };
          upRes.once('end', () => setImmediate(end));
          upRes.once('close', () => {
            if (!upRes.complete) setImmediate(end);
          });
        }
        upRes.pipe(res);
        // Registered after pipe's listener, so each chunk is on its way to the agent
        // before the meter reads it.
        if (meter !== undefined) {
          upRes.on('data', (c: Buffer) => {
            // After this I/O turn, so the write to the agent reaches the socket first.
            setImmediate(() => {
              meter.write(c);
            });
          });
        }
        res.once('close', () => {
          log({
            rule: pre.ok.rule,
            verdict: dv === undefined ? 'allowed' : 'flagged',
            status: upRes.statusCode ?? 0,
            ...(dv === undefined ? {} : { reason: dv.why }),
          });
          if (!upRes.complete) upRes.destroy();
        });
      });
      up.on('error', (e: Error) => {
        ticket.done();
        // Cut off by the streaming scan: the refusal is already logged and sent.
        if (cut) return;
        if (e instanceof PrivateAddressError) {
          refuse(`private-address ${e.range}`, e.message);
          return;
        }
        const code = (e as NodeJS.ErrnoException).code ?? e.message;
        log({ rule: pre.ok.rule, verdict: 'allowed', status: 502, reason: `upstream: ${code}` });
        refuseResponse(
          res,
          502,
          `bot-bottle egress proxy: cannot reach ${t.host}:${t.port}: ${code}\n`,
        );
      });
      res.once('close', () => {
        if (!res.writableFinished) up.destroy();
      });
      if (body !== undefined) {
        bytesUp = body.length;
        up.end(body);
      } else if (held !== undefined) {
        bytesUp = held.length;
        up.write(held);
        let tail = held.subarray(-STREAM_OVERLAP).toString('latin1');
        req.on('data', (c: Buffer) => {
          if (cut) return;
          const text = tail + c.toString('latin1');
          tail = text.slice(-STREAM_OVERLAP);
          const more = opts.state().scanner.scanText(text, 'body (streamed)');
          if (more.length > 0 && opts.state().policy.mode === 'enforce') {
            cut = true;
            up.destroy();
            findings.push(...more);
            const v = dlpVerdict(findings);
            refuse(
              v?.rule ?? 'dlp',
              `${v?.why ?? 'secret in the body'}; the upload was cut off`,
              findings,
            );
            return;
          }
          findings.push(...more);
          bytesUp += c.length;
          if (!up.write(c)) {
            req.pause();
            up.once('drain', () => req.resume());
          }
        });
        req.on('end', () => {
          if (!cut) up.end();
        });
        req.resume();
      } else {
        up.end();
      }
    };

    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    if (!hasBody) {
      forward(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      chunks.push(c);
      if (size <= BODY_HOLD_LIMIT) return;
      // Too large to hold: scan what is held, then stream the rest through the scanner.
      req.off('data', onData);
      req.off('end', onEnd);
      req.pause();
      const held = Buffer.concat(chunks);
      findings.push(...opts.state().scanner.scanText(held.toString('latin1'), 'body'));
      forward(undefined, held);
    };
    const onEnd = (): void => {
      const body = Buffer.concat(chunks);
      const text = decodeBody(body, req.headers['content-encoding']).toString('latin1');
      findings.push(...opts.state().scanner.scanText(text, 'body'));
      forward(body);
    };
    req.on('data', onData);
    req.on('end', onEnd);
  };

  const upgrade = (req: IncomingMessage, sock: Socket, head: Buffer, t: Target): void => {
    const started = Date.now();
    const path = req.url ?? '/';
    const pre = preflight(req, t, path);
    const refuse = (rule: string, why: string, findings?: Finding[]): void => {
      entry(
        'websocket',
        t,
        {
          method: 'GET',
          path: redactPath(path),
          rule,
          verdict: 'refused',
          status: 403,
          reason: why,
          ...(findings === undefined
            ? {}
            : { findings: findings.map((f) => `${f.kind}@${f.where}`) }),
        },
        started,
      );
      rawRefusal(
        sock,
        403,
        'Forbidden',
        refusalText(opts.state().policy.slug, `websocket ${t.host}${redactPath(path)}`, rule, why),
      );
    };
    if ('refused' in pre) {
      refuse(pre.refused.rule, pre.refused.why);
      return;
    }
    const dv = dlpVerdict(pre.findings);
    if (dv?.block === true) {
      refuse(dv.rule, dv.why, pre.findings);
      return;
    }
    relayWebSocket({
      ...wsMetering(path, t.host),
      req,
      socket: sock,
      head,
      target: t,
      path,
      headers: upstreamHeaders(req, t),
      state: opts.state,
      log: (e) => {
        entry(
          'websocket',
          t,
          { method: 'GET', path: redactPath(path), rule: pre.ok.rule, ...e },
          started,
        );
      },
      refuse: (rule, why) => {
        refuse(rule, why);
      },
    });
  };

  const tlsServerFor = async (host: string, port: number): Promise<HttpsServer> => {
    const key = `${host}:${port}`;
    const minter = opts.state().minter;
    const leaf = await minter.leaf(host);
    const cached = tlsServers.get(key);
    if (cached?.notAfter === leaf.notAfter.getTime()) return cached.server;
    const t: Target = { scheme: 'https', host, port };
    const server = createHttpsServer({
      key: leaf.keyPem,
      cert: leaf.certPem,
      ALPNProtocols: ['http/1.1'],
      keepAliveTimeout: 65_000,
    });
    server.on('secureConnection', (s: TLSSocket) => {
      const sni = typeof s.servername === 'string' ? s.servername.toLowerCase() : '';
      if (sni !== '' && sni !== host) sniMismatch.set(s, sni);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      handle(req, res, t, req.url ?? '/');
    });
    server.on('upgrade', (req: IncomingMessage, s: Socket, head: Buffer) => {
      upgrade(req, s, head, t);
    });
    server.on('tlsClientError', (e: Error) => {
      entry(
        'connect',
        t,
        {
          rule: 'tls',
          verdict: 'refused',
          status: 0,
          reason: `TLS handshake with the agent failed: ${e.message}`,
        },
        Date.now(),
      );
    });
    tlsServers.set(key, { server, notAfter: leaf.notAfter.getTime() });
    return server;
  };

  const server = createServer({ keepAliveTimeout: 65_000 });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const started = Date.now();
    client.on('error', () => undefined);
    const target = splitAuthority(req.url ?? '', 443);
    if (target === undefined) {
      entry(
        'connect',
        { host: (req.url ?? '').slice(0, 200), port: 0 },
        { rule: 'malformed', verdict: 'refused', status: 400 },
        started,
      );
      rawRefusal(client, 400, 'Bad Request', 'bot-bottle egress proxy: CONNECT needs host:port\n');
      return;
    }
    const state = opts.state();
    const v = judgeHost(state.policy, target.host, target.port);
    if (!v.allowed) {
      entry(
        'connect',
        target,
        { rule: v.rule, verdict: 'refused', status: 403, reason: v.why },
        started,
      );
      rawRefusal(
        client,
        403,
        'Forbidden',
        refusalText(state.policy.slug, `${target.host}:${target.port}`, v.rule, v.why),
      );
      return;
    }
    if (v.passthrough) {
      state.upstream.dial(target.host, target.port, false).then(
        (up) => {
          let up0 = 0;
          let down0 = 0;
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length > 0) up.write(head);
          client.on('data', (c: Buffer) => (up0 += c.length));
          up.on('data', (c: Buffer) => (down0 += c.length));
          up.pipe(client);
          client.pipe(up);
          up.on('error', () => client.destroy());
          client.once('close', () => {
            up.destroy();
            entry(
              'tunnel',
              target,
              { rule: v.rule, verdict: 'allowed', status: 200, bytesUp: up0, bytesDown: down0 },
              started,
            );
          });
        },
        (e: unknown) => {
          const priv = e instanceof PrivateAddressError;
          const why = e instanceof Error ? e.message : String(e);
          entry(
            'tunnel',
            target,
            {
              rule: priv ? `private-address ${e.range}` : v.rule,
              verdict: 'refused',
              status: priv ? 403 : 502,
              reason: why,
            },
            started,
          );
          if (priv)
            rawRefusal(
              client,
              403,
              'Forbidden',
              refusalText(
                state.policy.slug,
                `${target.host}:${target.port}`,
                `private-address ${e.range}`,
                why,
              ),
            );
          else
            rawRefusal(
              client,
              502,
              'Bad Gateway',
              `bot-bottle egress proxy: cannot reach ${target.host}:${target.port}: ${why}\n`,
            );
        },
      );
      return;
    }
    client.pause();
    client.setNoDelay(true);
    // Resolve and check now, so a name leading to a private address is refused
    // before the tunnel opens; the dial for each request checks again.
    Promise.all([
      state.upstream.destination(target.host, target.port),
      tlsServerFor(target.host, target.port),
    ]).then(
      ([, tlsServer]) => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) client.unshift(head);
        tlsServer.emit('connection', client);
        client.resume();
      },
      (e: unknown) => {
        const why = e instanceof Error ? e.message : String(e);
        if (e instanceof PrivateAddressError) {
          const rule = `private-address ${e.range}`;
          entry('connect', target, { rule, verdict: 'refused', status: 403, reason: why }, started);
          rawRefusal(
            client,
            403,
            'Forbidden',
            refusalText(state.policy.slug, `${target.host}:${target.port}`, rule, why),
          );
          return;
        }
        entry(
          'connect',
          target,
          { rule: v.rule, verdict: 'refused', status: 502, reason: `cannot reach: ${why}` },
          started,
        );
        rawRefusal(
          client,
          502,
          'Bad Gateway',
          `bot-bottle egress proxy: cannot reach ${target.host}:${target.port}: ${why}\n`,
        );
      },
    );
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (url === HEALTH_PATH) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    const t = absoluteTarget(url);
    if (t === undefined) {
      entry(
        'http',
        { host: '', port: 0 },
        {
          method: req.method ?? '',
          path: redactPath(url.slice(0, 200)),
          rule: 'not-a-proxy-request',
          verdict: 'refused',
          status: 403,
        },
        Date.now(),
      );
      refuseResponse(
        res,
        403,
        'bot-bottle egress proxy: only CONNECT and absolute http:// requests are forwarded; ' +
          'configure this address as HTTP(S)_PROXY\n',
      );
      return;
    }
    handle(req, res, t.target, t.path);
  });

  server.on('upgrade', (req: IncomingMessage, sock: Socket, head: Buffer) => {
    sock.on('error', () => undefined);
    const t = absoluteTarget(req.url ?? '');
    if (t === undefined) {
      rawRefusal(
        sock,
        400,
        'Bad Request',
        'bot-bottle egress proxy: a WebSocket through the proxy needs an absolute ws:// URL or CONNECT\n',
      );
      return;
    }
    upgrade(req, sock, head, t.target);
  });

  // A malformed request line must not crash the proxy or hang the client.
  server.on('clientError', (_e, sock: Socket) => {
    rawRefusal(sock, 400, 'Bad Request', 'bot-bottle egress proxy: malformed request\n');
  });
  return server;
}

/** An absolute-form `http://` (or `ws://`) request target. */
function absoluteTarget(url: string): { target: Target; path: string } | undefined {
  if (!/^(?:http|ws):\/\//i.test(url)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  // The WHATWG parser already canonicalises IPv4 in any notation (0x7f.1 -> 127.0.0.1).
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return {
    target: { scheme: 'http', host, port: parsed.port === '' ? 80 : Number(parsed.port) },
    path: `${parsed.pathname}${parsed.search}`,
  };
}
