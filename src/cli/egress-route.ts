import type { z } from 'zod';
import { removeRoute, setRoute } from '../controller/egress-live.js';
import { resolveSource, routeHeaderValue } from '../controller/values.js';
import { UsageError } from '../errors.js';
import { basicUserName, exactHost, headerName, headerPrefix } from '../manifest/schema.js';
import { classifyValue, SentinelError } from '../manifest/sentinel.js';
import { bottleCommand, onBottle, type OptionsOf, type Program, type Target } from './command.js';
import type { CliContext } from './context.js';

function define(egress: Program) {
  return bottleCommand(
    egress,
    'route',
    'give the running bottle a credential route: the proxy sets this header for the host (the agent never sees the value)',
  )
    .argument('<host>', 'an exact host the bottle may already reach')
    .argument('[header]', 'the header to set, e.g. authorization or x-api-key')
    .argument(
      '[value]',
      'a value source: env:NAME, file:PATH, cmd:COMMAND, ? (ask), or literal text',
    )
    .option('--prefix <text>', "text before the value, e.g. 'Bearer ' or 'Basic '")
    .option(
      '--basic-user <name>',
      'HTTP Basic: the value becomes base64(<name>:<secret>) (git over HTTPS: x-access-token)',
    )
    .option('--remove', "remove the host's credential route instead")
    .option('--json', 'print the routes after the change as JSON')
    .addHelpText(
      'after',
      `
Examples:
  bot-bottle egress route fix-ci api.github.com authorization 'cmd:gh auth token' --prefix 'Bearer '
  bot-bottle egress route fix-ci github.com authorization 'cmd:gh auth token' --prefix 'Basic ' --basic-user x-access-token
  bot-bottle egress route fix-ci api.github.com --remove`,
    );
}

/**
 * `egress route <slug> <host> <header> <value>`: a credential route for a
 * running bottle. The value is a value source (`env:NAME`, `file:PATH`,
 * `cmd:COMMAND`, `?`, or literal text), resolved here on the host; only
 * the egress proxy receives it.
 */
export function registerRoute(egress: Program, ctx: CliContext): void {
  define(egress).action((slug, host, header, value, opts) => {
    const h = exactHost.safeParse(host);
    if (!h.success)
      throw new UsageError(`'${host}' ${h.error.issues[0]?.message ?? 'is not a host'}`);
    return onBottle(ctx, slug, opts, async (t) => {
      const { before, after } =
        opts.remove === true
          ? await removeRoute(t.backend, slug, h.data)
          : await setRouteFrom(ctx, t, h.data, header, value, opts);
      return {
        json: {
          slug,
          host: h.data,
          removed: opts.remove === true,
          revision: after.revision,
          routes: after.routes,
        },
        text: `${slug}: ${opts.remove === true ? 'removed the credential route for' : 'credential route set for'} ${h.data} (policy revision ${before.revision} -> ${after.revision})`,
      };
    });
  });
}

async function setRouteFrom(
  ctx: CliContext,
  { backend, slug, svc }: Target,
  host: string,
  header: string | undefined,
  value: string | undefined,
  opts: OptionsOf<typeof define>,
): ReturnType<typeof setRoute> {
  if (header === undefined || value === undefined) {
    throw new UsageError(
      'give a header and a value source, e.g. authorization "cmd:gh auth token" --prefix "Bearer "',
    );
  }
  const checks: [string, string | undefined, z.ZodString][] = [
    ['header', header, headerName],
    ['--prefix', opts.prefix, headerPrefix],
    ['--basic-user', opts.basicUser, basicUserName],
  ];
  for (const [what, v, schema] of checks) {
    const r = v === undefined ? undefined : schema.safeParse(v);
    if (r?.success === false) throw new UsageError(`${what} ${r.error.issues[0]?.message ?? ''}`);
  }
  let classified;
  try {
    classified = classifyValue(value, ctx.cwd);
  } catch (e) {
    if (e instanceof SentinelError) throw new UsageError(e.message);
    throw e;
  }
  const what = `route ${host} header ${header}`;
  const secret = await resolveSource(
    what,
    classified.source,
    classified.literal,
    ctx.env,
    svc.interactive ? (q) => svc.ui.secret(q) : undefined,
  );
  return setRoute(
    backend,
    slug,
    host,
    new Map([[header.toLowerCase(), routeHeaderValue(what, secret, opts.prefix, opts.basicUser)]]),
  );
}
