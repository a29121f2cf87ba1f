// Builds benign.json: ordinary traffic of a coding agent's bottle (package
// registries, git smart-HTTP, LLM API calls, docs, DNS-over-HTTPS,
// telemetry). Values that are random in real traffic (ids, digests, image
// bytes, signatures) are random here too. Run: node bench/scanner-cases/make-benign.mjs
import { Buffer } from 'node:buffer';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const hex = (n) => randomBytes(n).toString('hex');
const b64 = (n) => randomBytes(n).toString('base64');
const sri = () => `sha512-${b64(64)}`;
const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const alnum = (n) => [...randomBytes(n)].map((x) => A[x % 62]).join('');
const C = [];
const add = (id, cls, req) => C.push({ id, class: cls, ...req });
const GET = (url, headers = {}) => ({ method: 'GET', url, headers });
const POST = (url, body, headers = {}) => ({
  method: 'POST',
  url,
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

// --- npm
const npmPkgs = [
  'react',
  'typescript',
  '@types/node',
  'vitest',
  'esbuild',
  'lodash',
  '@babel/core',
  'zod',
  'express',
  'ws',
  'undici',
  'eslint',
];
for (const p of npmPkgs) {
  add(
    `npm-meta-${p}`,
    'npm',
    GET(`https://registry.npmjs.org/${p.replace('/', '%2f')}`, {
      accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*',
      'npm-command': 'install',
      'user-agent': 'npm/10.8.2 node/v20.20.2 linux x64 workspaces/false',
    }),
  );
}
for (const p of ['react', 'zod', 'esbuild', '@types/node']) {
  const base = p.split('/').pop();
  add(
    `npm-tarball-${p}`,
    'npm',
    GET(`https://registry.npmjs.org/${p}/-/${base}-1.2.3.tgz`, {
      'npm-session': hex(8),
      'user-agent': 'npm/10.8.2 node/v20.20.2 linux x64',
    }),
  );
}
const advisories = Object.fromEntries(npmPkgs.map((p) => [p, ['1.0.0', '2.3.1']]));
add(
  'npm-audit-bulk',
  'npm',
  POST('https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', advisories, {
    'npm-session': hex(8),
  }),
);
const lock = {
  name: 'app',
  lockfileVersion: 3,
  packages: Object.fromEntries(
    npmPkgs.map((p) => [
      `node_modules/${p}`,
      {
        version: '1.2.3',
        resolved: `https://registry.npmjs.org/${p}/-/${p.split('/').pop()}-1.2.3.tgz`,
        integrity: sri(),
        license: 'MIT',
      },
    ]),
  ),
};
add(
  'npm-publish-like-lock-upload',
  'npm',
  POST('https://registry.npmjs.org/-/npm/v1/security/audits/quick', {
    name: 'app',
    version: '1.0.0',
    requires: {},
    dependencies: lock.packages,
  }),
);
add(
  'yarn-berry-meta',
  'npm',
  GET('https://registry.yarnpkg.com/@babel%2fcore', {
    accept: 'application/vnd.npm.install-v1+json',
  }),
);

// --- PyPI
for (const p of [
  'requests',
  'numpy',
  'pydantic',
  'fastapi',
  'pytest',
  'black',
  'torch',
  'urllib3',
]) {
  add(
    `pypi-simple-${p}`,
    'pypi',
    GET(`https://pypi.org/simple/${p}/`, {
      accept:
        'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01',
      'user-agent':
        'pip/24.0 {"ci":null,"cpu":"x86_64","implementation":{"name":"CPython","version":"3.12.3"}}',
    }),
  );
}
for (const p of ['requests', 'numpy', 'pydantic']) {
  add(`pypi-json-${p}`, 'pypi', GET(`https://pypi.org/pypi/${p}/json`));
  add(
    `pypi-file-${p}`,
    'pypi',
    GET(
      `https://files.pythonhosted.org/packages/${hex(1)}/${hex(1)}/${hex(30)}/${p}-2.31.0-py3-none-any.whl`,
    ),
  );
}
add('pypi-upload-metadata', 'pypi', {
  method: 'POST',
  url: 'https://upload.pypi.org/legacy/',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: `:action=file_upload&name=mypkg&version=0.1.0&filetype=bdist_wheel&sha256_digest=${hex(32)}&blake2_256_digest=${hex(32)}&md5_digest=${hex(16)}`,
});

// --- crates
for (const c of ['serde', 'tokio', 'clap', 'anyhow', 'regex', 'rand']) {
  add(
    `crates-index-${c}`,
    'crates',
    GET(
      `https://index.crates.io/${c.length <= 3 ? c.length : `${c.slice(0, 2)}/${c.slice(2, 4)}`}/${c}`,
      { 'user-agent': 'cargo/1.82.0 (8f40fc59f 2024-08-21)' },
    ),
  );
  add(`crates-dl-${c}`, 'crates', GET(`https://static.crates.io/crates/${c}/${c}-1.0.200.crate`));
}
add('crates-config', 'crates', GET('https://index.crates.io/config.json'));

// --- Go, Docker
add(
  'go-proxy-info',
  'go',
  GET('https://proxy.golang.org/github.com/stretchr/testify/@v/v1.9.0.info'),
);
add('go-proxy-mod', 'go', GET('https://proxy.golang.org/golang.org/x/net/@v/v0.26.0.mod'));
add('go-sumdb-lookup', 'go', GET('https://sum.golang.org/lookup/github.com/google/uuid@v1.6.0'));
add(
  'docker-manifest',
  'docker',
  GET(`https://registry-1.docker.io/v2/library/node/manifests/sha256:${hex(32)}`, {
    accept: 'application/vnd.oci.image.manifest.v1+json',
  }),
);
add(
  'docker-blob',
  'docker',
  GET(`https://registry-1.docker.io/v2/library/node/blobs/sha256:${hex(32)}`),
);
add(
  'docker-token',
  'docker',
  GET(
    'https://auth.docker.io/token?scope=repository%3Alibrary%2Fnode%3Apull&service=registry.docker.io',
  ),
);

// --- git smart HTTP
const pkt = (s) => (s.length + 4).toString(16).padStart(4, '0') + s;
for (const repo of ['torvalds/linux', 'nodejs/node', 'rust-lang/rust', 'acme/app']) {
  add(
    `git-info-refs-${repo}`,
    'git',
    GET(`https://github.com/${repo}.git/info/refs?service=git-upload-pack`, {
      'git-protocol': 'version=2',
      'user-agent': 'git/2.39.5',
    }),
  );
  const wants = Array.from({ length: 5 }, () => pkt(`want ${hex(20)}\n`)).join('');
  const haves = Array.from({ length: 8 }, () => pkt(`have ${hex(20)}\n`)).join('');
  add(`git-upload-pack-v2-${repo}`, 'git', {
    method: 'POST',
    url: `https://github.com/${repo}.git/git-upload-pack`,
    headers: {
      'content-type': 'application/x-git-upload-pack-request',
      'git-protocol': 'version=2',
    },
    body: `${pkt('command=fetch\n')}${pkt('agent=git/2.39.5\n')}${pkt('object-format=sha1\n')}0001${pkt('thin-pack\n')}${pkt('ofs-delta\n')}${wants}${haves}${pkt('done\n')}0000`,
  });
}
add('git-upload-pack-v0', 'git', {
  method: 'POST',
  url: 'https://gitlab.com/acme/lib.git/git-upload-pack',
  headers: { 'content-type': 'application/x-git-upload-pack-request' },
  body: `${pkt(`want ${hex(20)} multi_ack_detailed no-done side-band-64k thin-pack ofs-delta agent=git/2.39.5\n`)}${pkt(`want ${hex(20)}\n`)}0000${pkt(`have ${hex(20)}\n`)}${pkt('done\n')}`,
});
add('git-ls-refs-sha256', 'git', {
  method: 'POST',
  url: 'https://git.example.org/big/repo.git/git-upload-pack',
  headers: { 'content-type': 'application/x-git-upload-pack-request', 'git-protocol': 'version=2' },
  body: `${pkt('command=ls-refs\n')}${pkt('object-format=sha256\n')}0001${pkt('peel\n')}${pkt('symrefs\n')}${pkt('ref-prefix refs/heads/\n')}0000`,
});
add('git-fetch-sha256', 'git', {
  method: 'POST',
  url: 'https://git.example.org/big/repo.git/git-upload-pack',
  headers: { 'content-type': 'application/x-git-upload-pack-request', 'git-protocol': 'version=2' },
  body: `${pkt('command=fetch\n')}${pkt('object-format=sha256\n')}0001${pkt(`want ${hex(32)}\n`)}${pkt(`want ${hex(32)}\n`)}${pkt(`have ${hex(32)}\n`)}${pkt('done\n')}0000`,
});
add('git-receive-pack', 'git', {
  method: 'POST',
  url: 'https://github.com/acme/app.git/git-receive-pack',
  headers: { 'content-type': 'application/x-git-receive-pack-request' },
  body: `${pkt(`${hex(20)} ${hex(20)} refs/heads/feature\0 report-status side-band-64k agent=git/2.39.5\n`)}0000PACK`,
});

// --- GitHub API
for (const path of [
  `/repos/acme/app/commits/${hex(20)}`,
  `/repos/acme/app/git/trees/${hex(20)}?recursive=1`,
  `/repos/acme/app/compare/${hex(20)}...${hex(20)}`,
  '/repos/acme/app/pulls?state=open&per_page=100&page=2',
  '/search/code?q=repo%3Aacme%2Fapp+extension%3Ats+useEffect&per_page=50',
  `/repos/acme/app/actions/runs/${Math.floor(Math.random() * 1e10)}/jobs`,
])
  add(
    `github-api-${path.split('?')[0].split('/').slice(3, 5).join('-')}`,
    'github',
    GET(`https://api.github.com${path}`, {
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
    }),
  );
add(
  'github-graphql',
  'github',
  POST('https://api.github.com/graphql', {
    query:
      'query($owner:String!,$name:String!){repository(owner:$owner,name:$name){pullRequests(first:20,states:OPEN){nodes{id number title headRefOid}}}}',
    variables: { owner: 'acme', name: 'app' },
  }),
);
add('github-codeload', 'github', GET(`https://codeload.github.com/acme/app/tar.gz/${hex(20)}`));
add('github-raw', 'github', GET('https://raw.githubusercontent.com/acme/app/main/package.json'));
add(
  'github-actions-pinned',
  'github',
  GET(`https://api.github.com/repos/actions/checkout/commits/${hex(20)}`),
);

// --- docs URLs with long query strings
const docs = [
  'https://developer.mozilla.org/en-US/docs/Web/API/Fetch_API/Using_Fetch?utm_source=mozilla&utm_medium=devtools-webconsole&utm_campaign=default',
  'https://docs.python.org/3/search.html?q=asyncio+gather+return_exceptions&check_keywords=yes&area=default',
  'https://nodejs.org/api/stream.html#streampipelinesource-transforms-destination-callback',
  'https://www.typescriptlang.org/docs/handbook/2/generics.html',
  'https://docs.rs/tokio/latest/tokio/sync/struct.Mutex.html?search=lock_owned',
  'https://learn.microsoft.com/en-us/dotnet/api/system.threading.tasks.task.whenall?view=net-8.0#system-threading-tasks-task-whenall',
  'https://cloud.google.com/storage/docs/json_api/v1/objects/list?hl=en&authuser=0',
  'https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html?icmpid=docs_s3_hp_api',
  'https://stackoverflow.com/questions/12345678/how-to-fix-typeerror-cannot-read-properties-of-undefined?noredirect=1&lq=1',
  'https://www.google.com/search?q=vitest+mock+esm+module+default+export&oq=vitest+mock+esm&gs_lcrp=EgZjaHJvbWUqBggBEEUYOzIGCAAQRRg5MgYIARBFGDs&sourceid=chrome&ie=UTF-8',
  'https://duckduckgo.com/?q=rust+borrow+checker+lifetime+elision+rules&t=h_&ia=web',
  'https://github.com/search?q=repo%3Anodejs%2Fnode+ERR_STREAM_PREMATURE_CLOSE&type=code',
  'https://pkg.go.dev/net/http?tab=doc#Client.Do',
  'https://react.dev/reference/react/useEffect#my-effect-runs-twice-when-the-component-mounts',
  'https://eslint.org/docs/latest/rules/no-unused-vars#options',
  'https://vitest.dev/api/vi.html#vi-mock',
  'https://kubernetes.io/docs/reference/kubectl/generated/kubectl_get/?search=selector',
  'https://www.postgresql.org/docs/16/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY',
  'https://en.wikipedia.org/wiki/Base64#Variants_summary_table',
  `https://www.bing.com/search?q=esbuild+external+node+builtins&form=QBLH&sp=-1&lq=0&pq=esbuild+external&sc=10-16&qs=n&sk=&cvid=${hex(16).toUpperCase()}`,
];
docs.forEach((u, i) =>
  add(
    `docs-${i}`,
    'docs',
    GET(u, { accept: 'text/html', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64)' }),
  ),
);

// --- DNS over HTTPS
function dnsQuery(name, type, edns) {
  const parts = [Buffer.from([...randomBytes(2), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns ? 1 : 0])];
  for (const l of name.split('.')) parts.push(Buffer.from([l.length]), Buffer.from(l));
  parts.push(Buffer.from([0, 0, type, 0, 1]));
  if (edns)
    parts.push(
      Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0x14, 0, 12, 0, 0x10]),
      Buffer.alloc(16),
    );
  return Buffer.concat(parts).toString('base64url');
}
const dohNames = [
  'registry.npmjs.org',
  'github.com',
  'api.anthropic.com',
  'pypi.org',
  'files.pythonhosted.org',
  'objects.githubusercontent.com',
  'www.google.com',
  'cdn.jsdelivr.net',
  'api.openai.com',
  'index.crates.io',
];
dohNames.forEach((n, i) =>
  add(
    `doh-${n}`,
    'doh',
    GET(
      `https://${i % 2 ? 'dns.google' : 'cloudflare-dns.com'}/dns-query?dns=${dnsQuery(n, i % 3 ? 1 : 28, i % 2 === 0)}`,
      { accept: 'application/dns-message' },
    ),
  ),
);
add(
  'doh-json',
  'doh',
  GET('https://dns.google/resolve?name=example.com&type=AAAA', { accept: 'application/dns-json' }),
);

// --- telemetry
for (let i = 0; i < 6; i++) {
  add(
    `telemetry-statsig-${i}`,
    'telemetry',
    POST(
      'https://statsig.anthropic.com/v1/rgstr',
      {
        events: [
          {
            eventName: 'tengu_tool_use',
            time: Date.now(),
            user: {
              userID: hex(32),
              customIDs: { sessionId: randomUUID(), organizationUUID: randomUUID() },
            },
            metadata: {
              model: 'claude-sonnet-4',
              durationMs: 1234,
              messageID: `msg_01${alnum(22)}`,
            },
          },
        ],
        statsigMetadata: { sdkType: 'js-mono', sdkVersion: '3.12.1', stableID: randomUUID() },
      },
      { 'statsig-api-key': 'client-' + alnum(43) },
    ),
  );
}
add('telemetry-sentry-envelope', 'telemetry', {
  method: 'POST',
  url: `https://o${Math.floor(Math.random() * 1e6)}.ingest.sentry.io/api/${Math.floor(Math.random() * 1e7)}/envelope/`,
  headers: { 'content-type': 'application/x-sentry-envelope' },
  body: `${JSON.stringify({ event_id: hex(16), sent_at: new Date().toISOString(), sdk: { name: 'sentry.javascript.node', version: '8.30.0' } })}\n${JSON.stringify({ type: 'event' })}\n${JSON.stringify({ exception: { values: [{ type: 'TypeError', value: "Cannot read properties of undefined (reading 'map')", stacktrace: { frames: [{ filename: 'app:///dist/index.js', lineno: 10, colno: 3 }] } }] }, contexts: { trace: { trace_id: hex(16), span_id: hex(8) } }, release: `app@${hex(20)}` })}`,
});
add(
  'telemetry-otlp',
  'telemetry',
  POST('https://otel.example.com/v1/traces', {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'app' } }] },
        scopeSpans: [
          {
            spans: Array.from({ length: 5 }, () => ({
              traceId: hex(16),
              spanId: hex(8),
              parentSpanId: hex(8),
              name: 'GET /api/users',
              startTimeUnixNano: '1700000000000000000',
              attributes: [{ key: 'http.status_code', value: { intValue: 200 } }],
            })),
          },
        ],
      },
    ],
  }),
);
add(
  'telemetry-segment',
  'telemetry',
  POST('https://api.segment.io/v1/batch', {
    batch: [
      {
        type: 'track',
        event: 'CLI Command',
        anonymousId: randomUUID(),
        messageId: randomUUID(),
        properties: { command: 'build', durationMs: 812 },
        context: { library: { name: 'analytics-node', version: '6.2.0' } },
      },
    ],
  }),
);
add(
  'telemetry-datadog',
  'telemetry',
  POST('https://http-intake.logs.datadoghq.com/api/v2/logs', [
    {
      ddsource: 'nodejs',
      service: 'app',
      message: `request finished in 120ms trace=${hex(8)} span=${hex(8)}`,
      dd: { trace_id: String(Math.floor(Math.random() * 1e18)) },
    },
  ]),
);
add(
  'telemetry-posthog',
  'telemetry',
  POST('https://us.i.posthog.com/batch/', {
    api_key: 'phc_' + alnum(43),
    batch: [
      {
        event: '$pageview',
        distinct_id: randomUUID(),
        properties: { $session_id: randomUUID(), $current_url: 'https://app.example.com/settings' },
      },
    ],
  }),
);

// --- LLM API traffic
function png() {
  const w = 64,
    h = 64;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + (i >> 5)) & 0xff;
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type), data, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from('89504e470d0a1a0a', 'hex'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat([raw, randomBytes(3000)]))),
    chunk('IEND', Buffer.alloc(0)),
  ]).toString('base64');
}
const code = `import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export async function digestFile(path: string): Promise<string> {
  const data = await readFile(path);
  return createHash('sha256').update(data).digest('hex');
}

// Known digest of the empty input, used by the tests below.
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function parseConfig(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}
`;
const diff = `diff --git a/src/server.ts b/src/server.ts
index ${hex(7)}..${hex(7)} 100644
--- a/src/server.ts
+++ b/src/server.ts
@@ -12,7 +12,9 @@ export function createServer(opts: Options) {
-  const timeout = 30_000;
+  const timeout = opts.timeoutMs ?? 30_000;
+  const sessionKey = opts.sessionKeyName ?? 'sid';
   app.use(cookieParser());
-  app.get('/health', (_req, res) => res.send('ok'));
+  app.get('/health', (_req, res) => res.json({ ok: true, commit: process.env.GIT_SHA }));
`;
const gitLog = Array.from(
  { length: 12 },
  (_, i) =>
    `commit ${hex(20)}\nAuthor: Dev ${i} <dev${i}@example.com>\nDate:   Mon Nov ${i + 1} 10:00:00 2026 +0000\n\n    fix: handle ${['empty input', 'timeouts', 'retries', 'unicode paths'][i % 4]}\n`,
).join('\n');
const cargoLock = Array.from(
  { length: 6 },
  (_, i) =>
    `[[package]]\nname = "crate${i}"\nversion = "1.0.${i}"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "${hex(32)}"\n`,
).join('\n');
const poetryLock = `[[package]]\nname = "requests"\nversion = "2.31.0"\nfiles = [\n    {file = "requests-2.31.0-py3-none-any.whl", hash = "sha256:${hex(32)}"},\n    {file = "requests-2.31.0.tar.gz", hash = "sha256:${hex(32)}"},\n]\n`;
const sums = Array.from(
  { length: 4 },
  (_, i) => `${hex(32)}  dist/app-linux-${['x64', 'arm64', 'armv7', 's390x'][i]}.tar.gz`,
).join('\n');
const dockerfile = `FROM node:20-bookworm@sha256:${hex(32)}\nRUN npm ci --omit=dev\n`;
const goSum = `github.com/google/uuid v1.6.0 h1:${b64(32)}\ngithub.com/google/uuid v1.6.0/go.mod h1:${b64(32)}\n`;
const tfLock = `provider "registry.terraform.io/hashicorp/aws" {\n  version = "5.31.0"\n  hashes = [\n    "h1:${b64(32)}",\n    "zh:${hex(32)}",\n    "zh:${hex(32)}",\n  ]\n}\n`;
const tsTest = `it('hashes', () => {\n  expect(digest('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');\n  assert hashlib.sha256(b"").hexdigest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"\n});\n`;
const toolResults = [
  code,
  diff,
  gitLog,
  cargoLock,
  poetryLock,
  sums,
  dockerfile,
  goSum,
  tfLock,
  tsTest,
  JSON.stringify(lock, null, 2).slice(0, 6000),
  `$ npm test\n\n> app@1.0.0 test\n> vitest run\n\n ✓ test/unit/a.test.ts (12 tests) 40ms\n ✓ test/unit/b.test.ts (8 tests) 22ms\n\n Test Files  2 passed (2)\n      Tests  20 passed (20)\n`,
  `$ curl -s https://api.github.com/repos/acme/app | head\n{\n  "id": 123456789,\n  "node_id": "R_kgDO${alnum(6)}",\n  "name": "app",\n  "full_name": "acme/app",\n  "html_url": "https://github.com/acme/app"\n}`,
  `$ docker images --digests\nREPOSITORY   TAG       DIGEST                                                                    IMAGE ID       CREATED\nnode         20        sha256:${hex(32)}   ${hex(6)}   2 weeks ago\n`,
  `$ cat .env.example\nDATABASE_URL=postgres://app:\${DB_PASSWORD}@localhost:5432/app\nREDIS_URL=redis://localhost:6379\nAPI_KEY=\nSESSION_SECRET=change-me\n`,
  `README: connect with \`psql postgres://user:<password>@db.example.com/app\`; the API token goes in ANTHROPIC_API_KEY.`,
  `$ git ls-remote origin\n${hex(20)}\tHEAD\n${hex(20)}\trefs/heads/main\n${hex(20)}\trefs/tags/v1.0.0\n`,
  `Call 555-123-4567 or 555-987-6543; order 2024-11-05, ticket 1234-5678, ISBN 978-3-16-148410-0, zip 94107-1234.`,
  `<p>Tom &amp; Jerry &lt;3 &#8212; see &quot;docs&quot; at <a href="https://example.com/a?x=1&amp;y=2">link</a></p>`,
  `const emoji = "\\u00e9t\\u00e9 \\u2014 caf\\u00e9"; const re = /\\x41-\\x5a/;`,
];
const tools = [
  {
    name: 'Bash',
    description:
      'Executes a given bash command in a persistent shell session with optional timeout, ensuring proper handling and security measures.',
    input_schema: {
      type: 'object',
      properties: {
        command: { type: 'string', description: 'The command to execute' },
        timeout: { type: 'number' },
      },
      required: ['command'],
    },
  },
  {
    name: 'Read',
    description: 'Reads a file from the local filesystem.',
    input_schema: {
      type: 'object',
      properties: {
        file_path: { type: 'string' },
        offset: { type: 'number' },
        limit: { type: 'number' },
      },
      required: ['file_path'],
    },
  },
  {
    name: 'Edit',
    description: 'Performs exact string replacements in files.',
    input_schema: {
      type: 'object',
      properties: {
        file_path: { type: 'string' },
        old_string: { type: 'string' },
        new_string: { type: 'string' },
      },
    },
  },
];
for (let i = 0; i < toolResults.length; i++) {
  const tid = `toolu_01${alnum(22)}`;
  add(
    `anthropic-tool-result-${i}`,
    'llm',
    POST(
      'https://api.anthropic.com/v1/messages?beta=true',
      {
        model: 'claude-sonnet-4-20250514',
        max_tokens: 32000,
        stream: true,
        system: [
          {
            type: 'text',
            text: 'You are Claude Code, an interactive CLI tool that helps users with software engineering tasks.',
            cache_control: { type: 'ephemeral' },
          },
        ],
        tools,
        metadata: { user_id: `user_${hex(32)}_account_${randomUUID()}_session_${randomUUID()}` },
        messages: [
          {
            role: 'user',
            content: [{ type: 'text', text: 'Fix the failing test and explain what was wrong.' }],
          },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'I should read the file first.', signature: b64(280) },
              { type: 'tool_use', id: tid, name: 'Bash', input: { command: 'cat src/hash.ts' } },
            ],
          },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: tid, content: toolResults[i] }],
          },
        ],
      },
      {
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14',
        'x-stainless-lang': 'js',
        'x-stainless-retry-count': '0',
      },
    ),
  );
}
for (let i = 0; i < 4; i++) {
  add(
    `anthropic-image-${i}`,
    'llm',
    POST(
      'https://api.anthropic.com/v1/messages',
      {
        model: 'claude-sonnet-4-20250514',
        max_tokens: 4096,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png() } },
              { type: 'text', text: 'What does this screenshot show?' },
            ],
          },
        ],
      },
      { 'anthropic-version': '2023-06-01' },
    ),
  );
}
add(
  'anthropic-redacted-thinking',
  'llm',
  POST(
    'https://api.anthropic.com/v1/messages',
    {
      model: 'claude-sonnet-4',
      max_tokens: 1024,
      messages: [
        { role: 'user', content: 'hi' },
        {
          role: 'assistant',
          content: [
            { type: 'redacted_thinking', data: b64(600) },
            { type: 'text', text: 'Hello!' },
          ],
        },
        { role: 'user', content: 'continue' },
      ],
    },
    { 'anthropic-version': '2023-06-01' },
  ),
);
add(
  'anthropic-count-tokens',
  'llm',
  POST(
    'https://api.anthropic.com/v1/messages/count_tokens',
    { model: 'claude-sonnet-4', messages: [{ role: 'user', content: diff }] },
    { 'anthropic-version': '2023-06-01' },
  ),
);
for (let i = 0; i < 8; i++) {
  const call = `call_${alnum(24)}`;
  add(
    `openai-responses-${i}`,
    'llm',
    POST(
      'https://api.openai.com/v1/responses',
      {
        model: 'gpt-5-codex',
        instructions: 'You are Codex, a coding agent.',
        store: false,
        stream: true,
        prompt_cache_key: randomUUID(),
        include: ['reasoning.encrypted_content'],
        input: [
          {
            type: 'message',
            role: 'user',
            content: [{ type: 'input_text', text: 'Run the tests and fix what fails.' }],
          },
          {
            type: 'reasoning',
            id: `rs_${hex(24)}`,
            summary: [],
            encrypted_content: `gAAAAAB${b64(900).replace(/=+$/, '')}`,
          },
          {
            type: 'function_call',
            call_id: call,
            name: 'shell',
            arguments: JSON.stringify({ command: ['bash', '-lc', 'npm test'] }),
          },
          {
            type: 'function_call_output',
            call_id: call,
            output: toolResults[(i * 3) % toolResults.length],
          },
        ],
        tools: [
          {
            type: 'function',
            name: 'shell',
            parameters: {
              type: 'object',
              properties: { command: { type: 'array', items: { type: 'string' } } },
            },
          },
        ],
      },
      {
        'openai-beta': 'responses=experimental',
        session_id: randomUUID(),
        originator: 'codex_cli_rs',
      },
    ),
  );
}
for (let i = 0; i < 4; i++) {
  add(
    `openai-chat-${i}`,
    'llm',
    POST('https://api.openai.com/v1/chat/completions', {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'You are a helpful coding assistant.' },
        { role: 'user', content: `Review this diff:\n${diff}` },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: `call_${alnum(24)}`,
              type: 'function',
              function: { name: 'read_file', arguments: '{"path":"src/server.ts"}' },
            },
          ],
        },
        {
          role: 'tool',
          tool_call_id: `call_${alnum(24)}`,
          content: toolResults[(i * 5 + 1) % toolResults.length],
        },
      ],
    }),
  );
}
add(
  'openai-image-url',
  'llm',
  POST('https://api.openai.com/v1/chat/completions', {
    model: 'gpt-4o',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Describe' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png()}` } },
        ],
      },
    ],
  }),
);

// --- misc developer traffic
add('jsdelivr', 'misc', GET('https://cdn.jsdelivr.net/npm/mermaid@10.9.0/dist/mermaid.min.js'));
add('unpkg', 'misc', GET('https://unpkg.com/react@18.3.1/umd/react.production.min.js'));
add('homebrew-api', 'misc', GET('https://formulae.brew.sh/api/formula/jq.json'));
add(
  'ghcr-bottle',
  'misc',
  GET(`https://ghcr.io/v2/homebrew/core/jq/blobs/sha256:${hex(32)}`, {
    accept: 'application/vnd.oci.image.layer.v1.tar+gzip',
  }),
);
add(
  'objects-githubusercontent',
  'misc',
  GET(
    `https://objects.githubusercontent.com/github-production-release-asset-2e65be/123456/${randomUUID()}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261201T093000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&actor_id=0&key_id=0&repo_id=123456&response-content-disposition=attachment%3B%20filename%3Dtool-linux-amd64.tar.gz&response-content-type=application%2Foctet-stream&X-Amz-Signature=${hex(32)}`,
  ),
);
add(
  'eth-jsonrpc-block',
  'misc',
  POST('https://eth-mainnet.example.com/v2/', {
    jsonrpc: '2.0',
    id: 1,
    method: 'eth_getBlockByHash',
    params: [`0x${hex(32)}`, false],
  }),
);
add(
  'eth-jsonrpc-receipt',
  'misc',
  POST('https://eth-mainnet.example.com/v2/', {
    jsonrpc: '2.0',
    id: 2,
    method: 'eth_getTransactionReceipt',
    params: [`0x${hex(32)}`],
  }),
);
add(
  'algolia-docsearch',
  'misc',
  POST(
    `https://${alnum(10).toUpperCase()}-dsn.algolia.net/1/indexes/*/queries?x-algolia-agent=Algolia%20for%20JavaScript%20(4.22.1)%3B%20Browser`,
    {
      requests: [
        {
          indexName: 'docs',
          query: 'middleware order',
          params: 'hitsPerPage=20&attributesToRetrieve=%5B%22hierarchy%22%5D',
        },
      ],
    },
    { 'x-algolia-api-key': hex(16), 'x-algolia-application-id': alnum(10).toUpperCase() },
  ),
);
add('ws-lsp-like', 'misc', {
  transport: 'websocket',
  url: 'wss://collab.example.com/socket',
  frames: [
    JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'textDocument/didChange',
      params: {
        textDocument: { uri: 'file:///work/src/hash.ts', version: 3 },
        contentChanges: [{ text: code }],
      },
    }),
  ],
});
add('ws-telemetry', 'misc', {
  transport: 'websocket',
  url: 'wss://collab.example.com/socket',
  frames: [
    JSON.stringify({
      type: 'presence',
      clientId: randomUUID(),
      cursor: { line: 10, ch: 4 },
      ts: Date.now(),
    }),
  ],
});
add(
  'cookie-same-site',
  'misc',
  GET('https://app.example.com/dashboard', {
    cookie: `sessionid=${alnum(32)}; csrftoken=${alnum(32)}`,
  }),
);
add('oauth-device-code', 'misc', {
  method: 'POST',
  url: 'https://github.com/login/device/code',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: 'client_id=Iv1.b507a08c87ecfe98&scope=repo%20read%3Aorg',
});
add(
  'pip-index-etag',
  'misc',
  GET('https://pypi.org/simple/requests/', { 'if-none-match': `"${hex(16)}"` }),
);
add(
  's3-etag-json',
  'misc',
  POST('https://api.example.com/uploads/complete', {
    parts: Array.from({ length: 3 }, (_, i) => ({ PartNumber: i + 1, ETag: `"${hex(16)}"` })),
    checksum_sha256: b64(32),
  }),
);

writeFileSync(
  new URL('./benign.json', import.meta.url),
  `${JSON.stringify({ requests: C }, null, 1)}\n`,
);
console.log(C.length, 'benign requests');
