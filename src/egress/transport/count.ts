import { request as httpRequest, type IncomingMessage } from 'node:http';
import { countBody, countPath, COUNT_TIMEOUT_MS, parseCount } from '../count.js';
import type { MeteredApi } from '../meter.js';
import { decideRequest } from '../policy.js';
import type { ProxyState, Target } from '../types.js';
import { upstreamHeaders } from './headers.js';

/** Where a call's input tokens I came from; `why`: the count was asked and not used. */
export type InputSource =
  { source: 'count'; tokens: number } | { source: 'estimate'; tokens: number; why?: string };

/** Longest count answer read; a real one is a few dozen bytes. */
const ANSWER_LIMIT = 64 * 1024;

/**
 * Asks the provider's count endpoint for a call's input tokens: the same
 * host, the same upstream agent (the same address checks), the headers the
 * call itself gets (the route's credentials, `anthropic-version`), and a
 * body of the already-redacted request's input fields. Any failure, a slow
 * answer or an unbelievable one gives the local estimate, which never
 * counts less.
 */
export function askCount(
  state: ProxyState,
  req: IncomingMessage,
  t: Target,
  o: { api: MeteredApi; path: string; json: Record<string, unknown>; estimate: number },
): Promise<InputSource> {
  const fallback = (why: string): InputSource => ({ source: 'estimate', tokens: o.estimate, why });
  const path = countPath(o.api, o.path);
  const body = countBody(o.api, o.json);
  if (path === undefined || body === undefined) {
    return Promise.resolve({ source: 'estimate', tokens: o.estimate });
  }
  const rule = decideRequest(state.policy, t.host, t.port, 'POST', path.split('?')[0] ?? path);
  if (rule !== undefined && !rule.allowed) {
    return Promise.resolve(
      fallback(`the count endpoint is outside this host's rules: ${rule.why}`),
    );
  }
  // The call's own headers (credentials, API version), with this body's framing: uncompressed.
  const headers = upstreamHeaders(state, req, t);
  delete headers['content-encoding'];
  delete headers['transfer-encoding'];
  headers['content-type'] = 'application/json';
  headers['content-length'] = body.length;
  headers['accept-encoding'] = 'identity';
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: InputSource): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      up.destroy();
      resolve(r);
    };
    const up = httpRequest({
      agent: state.upstream.agent(t.host, t.port, t.scheme === 'https'),
      host: t.host,
      port: t.port,
      method: 'POST',
      path,
      headers,
      setHost: false,
    });
    const timer = setTimeout(() => {
      finish(fallback(`the count endpoint did not answer within ${COUNT_TIMEOUT_MS} ms`));
    }, COUNT_TIMEOUT_MS);
    up.on('error', (e: Error) => {
      finish(
        fallback(`the count request failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`),
      );
    });
    up.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > ANSWER_LIMIT) {
          finish(fallback('the count endpoint answered too much'));
          return;
        }
        chunks.push(c);
      });
      res.on('error', () => {
        finish(fallback('the count answer was cut off'));
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const p = parseCount(o.api, res.statusCode ?? 0, text, o.estimate);
        finish(p.ok ? { source: 'count', tokens: p.tokens } : fallback(p.why));
      });
    });
    up.end(body);
  });
}
