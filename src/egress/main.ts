import { createForwardProxy } from './forward-proxy.js';

/**
 * Entry point of the egress sidecar container. Its whole configuration
 * arrives in one environment variable set by the launcher; it logs one JSON
 * line per decision on stdout (`bot-bottle logs <slug>` shows them).
 */

interface SidecarConfig {
  slug: string;
  port: number;
  allow: string[];
  deny: string[];
}

function readConfig(raw: string | undefined): SidecarConfig {
  if (raw === undefined || raw === '') {
    throw new Error('BOT_BOTTLE_EGRESS is not set');
  }
  const c = JSON.parse(raw) as Partial<SidecarConfig>;
  const strings = (v: unknown): v is string[] =>
    Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (
    typeof c.slug !== 'string' ||
    typeof c.port !== 'number' ||
    !strings(c.allow) ||
    !strings(c.deny)
  ) {
    throw new Error('BOT_BOTTLE_EGRESS: expected {slug, port, allow[], deny[]}');
  }
  return { slug: c.slug, port: c.port, allow: c.allow, deny: c.deny };
}

const config = readConfig(process.env.BOT_BOTTLE_EGRESS);
const server = createForwardProxy({
  policy: { allow: config.allow, deny: config.deny },
  slug: config.slug,
  log: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
});
server.listen(config.port, '0.0.0.0', () => {
  process.stdout.write(
    `${JSON.stringify({ at: new Date().toISOString(), kind: 'ready', port: config.port, allow: config.allow, deny: config.deny })}\n`,
  );
});
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
