import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/supervise/diff.js';
import {
  parseDockerfileAdditions,
  parseEgressFile,
  parseRoutesFile,
} from '../../src/supervise/files.js';
import { listPending, writeResponse } from '../../src/supervise/queue.js';
import { createSuperviseServer } from '../../src/supervise/server.js';
import { onHostQueue } from '../../src/supervise/wait.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function serve(timeoutMs = 60_000): Promise<{ url: URL; queue: string; config: string }> {
  const root = mkdtempSync(join(tmpdir(), 'bb-sup-'));
  const queue = join(root, 'queue');
  const config = join(root, 'config');
  mkdirSync(config);
  writeFileSync(join(config, 'egress.yaml'), 'allow:\n  - api.anthropic.com\n');
  const server = createSuperviseServer(
    onHostQueue({
      slug: 'dev',
      queueDir: queue,
      currentConfigDir: config,
      timeoutMs,
      pollMs: 20,
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise((r) => {
        server.close(() => {
          r();
        });
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { url: new URL(`http://127.0.0.1:${port}/mcp`), queue, config };
}

async function client(url: URL): Promise<Client> {
  const c = new Client({ name: 'test', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(url));
  closers.push(() => c.close());
  return c;
}

async function pendingOne(queue: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const p = listPending(queue, 'dev').proposals[0];
    if (p !== undefined) return p.id;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no proposal arrived');
}

describe('supervise MCP server', () => {
  it('lists the three tools with their inputs', async () => {
    const { url } = await serve();
    const tools = (await (await client(url)).listTools()).tools;
    expect(tools.map((t) => t.name).sort()).toEqual([
      'capability-block',
      'cred-proxy-block',
      'egress-block',
    ]);
    for (const t of tools)
      expect(Object.keys(t.inputSchema.properties ?? {}).sort()).toEqual([
        'justification',
        'proposed_file',
      ]);
  });

  it('queues a proposal with the hash of the config in force and holds the call until the answer', async () => {
    const { url, queue } = await serve();
    const c = await client(url);
    const call = c.callTool({
      name: 'egress-block',
      arguments: {
        proposed_file: 'allow:\n  - api.anthropic.com\n  - docs.example.com\n',
        justification: 'read the docs',
      },
    });
    const id = await pendingOne(queue);
    const p = listPending(queue, 'dev').proposals[0];
    expect(p?.currentFileHash).toBe(sha256Hex('allow:\n  - api.anthropic.com\n'));
    expect(p?.justification).toBe('read the docs');
    writeResponse(queue, {
      proposalId: id,
      status: 'rejected',
      notes: 'use the mirror',
      finalFile: null,
    });
    const r = await call;
    expect(r.structuredContent).toEqual({ status: 'rejected', notes: 'use the mirror' });
    expect(listPending(queue, 'dev').proposals).toEqual([]);
  });

  it('answers timed-out when nobody decides in time', async () => {
    const { url, queue } = await serve(300);
    const r = await (
      await client(url)
    ).callTool({
      name: 'capability-block',
      arguments: { proposed_file: 'RUN apt-get install -y jq', justification: 'json' },
    });
    expect(r.structuredContent).toMatchObject({ status: 'timed-out' });
    expect(listPending(queue, 'dev').proposals).toEqual([]);
  });

  it('refuses a malformed proposal at once, naming what is wrong, and queues nothing', async () => {
    const { url, queue } = await serve();
    const c = await client(url);
    const bad = [
      ['egress-block', 'allow: [../etc]\n', /egress.yaml: field 'allow.0'/],
      ['egress-block', 'allow: [a.com]\nhosts: {a.com: 10.0.0.1}\n', /Unrecognized key.*hosts/],
      [
        'cred-proxy-block',
        'routes:\n  - host: api.github.com\n    headers: ["x bad"]\n',
        /routes.yaml/,
      ],
      ['capability-block', 'FROM evil:latest\n', /FROM is not allowed/],
      ['capability-block', 'USER root\nRUN id\n', /USER is not allowed/],
    ] as const;
    for (const [name, file, re] of bad) {
      const r = await c.callTool({ name, arguments: { proposed_file: file, justification: 'x' } });
      expect(r.isError, file).toBe(true);
      expect(JSON.stringify(r.content)).toMatch(re);
    }
    expect(listPending(queue, 'dev').proposals).toEqual([]);
  });

  it('refuses requests that are not MCP posts', async () => {
    const { url } = await serve();
    expect((await fetch(url, { method: 'GET' })).status).toBe(405);
    expect((await fetch(new URL('/other', url), { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(url, { method: 'POST', body: 'not json' })).status).toBe(400);
    const huge = await fetch(url, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) }).catch(
      () => undefined,
    );
    expect(huge === undefined || huge.status === 413).toBe(true);
  });
});

describe('supervise config files', () => {
  it('parses each file strictly', () => {
    expect(parseEgressFile('allow: [a.example.com, "*.b.example"]\n')).toEqual({
      allow: ['a.example.com', '*.b.example'],
      deny: [],
      passthrough: [],
      rules: [],
    });
    expect(
      parseRoutesFile(
        'routes:\n  - host: api.github.com\n    headers: [Authorization, {name: x-t, prefix: "Bearer "}]\n',
      ),
    ).toEqual([
      {
        host: 'api.github.com',
        headers: [
          { name: 'authorization', prefix: undefined, basicUser: undefined },
          { name: 'x-t', prefix: 'Bearer ', basicUser: undefined },
        ],
      },
    ]);
    expect(() =>
      parseRoutesFile(
        'routes:\n  - host: a.com\n    headers: [x]\n  - host: a.com\n    headers: [y]\n',
      ),
    ).toThrow(/listed twice/);
    expect(
      parseDockerfileAdditions('# c\nRUN apt-get update && \\\n  apt-get install -y jq\nENV A=1\n'),
    ).toEqual(['RUN apt-get update && apt-get install -y jq', 'ENV A=1']);
    expect(() => parseDockerfileAdditions('RUN a \\')).toThrow(/continued line/);
    expect(() => parseDockerfileAdditions('# only a comment\n')).toThrow(/adds no instruction/);
    expect(() => parseEgressFile('allow: [a.com]\nallow: [b.com]\n')).toThrow(/egress.yaml/);
  });
});
