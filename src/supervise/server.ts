import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { sha256Hex } from './diff.js';
import { FILE_FOR_TOOL, ProposalError, validateProposal } from './files.js';
import {
  archiveProposal,
  claimProposal,
  MAX_QUEUE_FILE_BYTES,
  newProposal,
  readResponse,
  withdrawProposal,
  writeProposal,
  writeResponse,
  type Status,
  type Tool,
} from './queue.js';

/**
 * The supervise sidecar: an MCP server (streamable HTTP, stateless) on the
 * bottle's internal network. A tool call is checked, written to the queue
 * as a proposal, and held open until the operator's answer appears next to
 * it (or the timeout), then answered with `{status, notes}`. The sidecar
 * changes nothing itself: the operator's side applies an approval before it
 * writes the answer, so "approved" means the change is already in force.
 */

export interface SuperviseOptions {
  slug: string;
  queueDir: string;
  /** Where the config in force is readable (the same files the agent sees). */
  currentConfigDir: string;
  timeoutMs: number;
  pollMs?: number;
  /** The clock the timeout is measured on (Date.now unless a test drives it). */
  now?: () => number;
  log?: (entry: Record<string, unknown>) => void;
}

export interface ToolAnswer {
  status: Status;
  notes: string;
}

const TOOL_TEXT: Record<Tool, { title: string; description: string; file: string }> = {
  'egress-block': {
    title: 'Ask for egress access',
    file: 'the whole proposed egress.yaml (allow, deny, passthrough, rules)',
    description:
      'Use when a request was refused by the egress proxy (403 naming the host). Read ' +
      '/etc/bot-bottle/current-config/egress.yaml, edit it (e.g. add the host to allow), and send ' +
      'the whole edited file. The call waits until the operator answers and returns ' +
      '{status, notes}; status approved or modified means the change is already in force.',
  },
  'cred-proxy-block': {
    title: 'Ask for a credential route',
    file: 'the whole proposed routes.yaml (hosts and header names, never values)',
    description:
      'Use when a host needs credentials the bottle does not send. Read ' +
      '/etc/bot-bottle/current-config/routes.yaml and send it edited: name the host and the ' +
      'header (e.g. authorization). Never send a secret value: the operator chooses it on the ' +
      'host and the egress proxy adds it. Waits for the answer and returns {status, notes}.',
  },
  'capability-block': {
    title: 'Ask for a tool in the image',
    file: 'Dockerfile lines to add (RUN, ENV, ARG, LABEL, WORKDIR), run as root',
    description:
      'Use when a program or system package is missing. Read ' +
      '/etc/bot-bottle/current-config/Dockerfile and send only the lines to add, e.g. ' +
      '"RUN apt-get install -y jq". The operator may rebuild the bottle now (the workspace and ' +
      'this session are kept) or at its next launch; notes say which. Returns {status, notes}.',
  },
};

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** One tool call: validate, queue, wait. */
export async function propose(
  opts: SuperviseOptions,
  tool: Tool,
  proposedFile: string,
  justification: string,
  signal: AbortSignal,
): Promise<ToolAnswer> {
  validateProposal(tool, proposedFile);
  let current = '';
  try {
    current = readFileSync(join(opts.currentConfigDir, FILE_FOR_TOOL[tool]), 'utf8');
  } catch {
    // No file yet: the proposal is against an empty config.
  }
  const proposal = newProposal({
    bottleSlug: opts.slug,
    tool,
    proposedFile,
    justification,
    currentFileHash: sha256Hex(current),
  });
  writeProposal(opts.queueDir, proposal);
  opts.log?.({ kind: 'proposal', id: proposal.id, tool });
  const now = opts.now ?? Date.now;
  const deadline = now() + opts.timeoutMs;
  let deferred = false;
  for (;;) {
    const r = readResponse(opts.queueDir, proposal.id);
    if (r !== undefined) {
      archiveProposal(opts.queueDir, proposal.id);
      opts.log?.({ kind: 'answer', id: proposal.id, status: r.status });
      return { status: r.status, notes: r.notes };
    }
    if (signal.aborted) {
      // The agent hung up: nobody is left to answer.
      withdrawProposal(opts.queueDir, proposal.id);
      opts.log?.({ kind: 'withdrawn', id: proposal.id });
      return { status: 'timed-out', notes: 'the request was cancelled' };
    }
    if (now() >= deadline) {
      if (claimProposal(opts.queueDir, proposal.id, 'timeout')) {
        const notes = `no operator answer within ${Math.round(opts.timeoutMs / 1000)} s; ask again later or continue without it`;
        writeResponse(opts.queueDir, {
          proposalId: proposal.id,
          status: 'timed-out',
          notes,
          finalFile: null,
        });
        archiveProposal(opts.queueDir, proposal.id);
        opts.log?.({ kind: 'timed-out', id: proposal.id });
        return { status: 'timed-out', notes };
      }
      // An operator is answering at this moment; theirs is the answer that
      // applies, so wait for it (once per proposal in the log).
      if (!deferred) opts.log?.({ kind: 'timeout-deferred', id: proposal.id });
      deferred = true;
    }
    await sleep(opts.pollMs ?? 250, signal);
  }
}

function mcpServer(opts: SuperviseOptions): McpServer {
  const server = new McpServer({ name: 'bot-bottle-supervise', version: '1.0.0' });
  for (const tool of Object.keys(TOOL_TEXT) as Tool[]) {
    const t = TOOL_TEXT[tool];
    server.registerTool(
      tool,
      {
        title: t.title,
        description: t.description,
        inputSchema: {
          proposed_file: z
            .string()
            .max(MAX_QUEUE_FILE_BYTES / 2)
            .describe(t.file),
          justification: z
            .string()
            .min(1)
            .max(8_000)
            .describe('why the task needs this, for the operator who decides'),
        },
        outputSchema: { status: z.string(), notes: z.string() },
      },
      async (args, extra) => {
        try {
          const answer = await propose(
            opts,
            tool,
            args.proposed_file,
            args.justification,
            extra.signal,
          );
          return {
            content: [{ type: 'text', text: JSON.stringify(answer) }],
            structuredContent: { ...answer },
          };
        } catch (e) {
          if (!(e instanceof ProposalError)) throw e;
          opts.log?.({ kind: 'invalid', tool, message: e.message });
          return {
            isError: true,
            content: [
              {
                type: 'text',
                text: `The proposal was not queued: ${e.message}. Fix it and call ${tool} again.`,
              },
            ],
          };
        }
      },
    );
  }
  return server;
}

const MAX_BODY = MAX_QUEUE_FILE_BYTES * 2;

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new Error('not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function jsonRpcError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32600, message }, id: null }));
}

/** The HTTP server: POST /mcp only; each request gets its own stateless server. */
export function createSuperviseServer(opts: SuperviseOptions): Server {
  const http = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/mcp') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('the MCP endpoint is /mcp\n');
        return;
      }
      if (req.method !== 'POST') {
        // Stateless: no server-initiated stream to resume, no session to delete.
        res.writeHead(405, { allow: 'POST' }).end();
        return;
      }
      let body: unknown;
      try {
        body = await readJson(req);
      } catch (e) {
        jsonRpcError(res, e instanceof Error && e.message === 'too large' ? 413 : 400, String(e));
        return;
      }
      const server = mcpServer(opts);
      // No session id generator: stateless, every POST stands alone.
      const transport = new StreamableHTTPServerTransport({});
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      try {
        await server.connect(transport);
        await transport.handleRequest(req, res, body);
      } catch (e) {
        opts.log?.({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
        if (!res.headersSent) jsonRpcError(res, 500, 'internal error');
      }
    })();
  });
  // A tool call may wait for an operator for a long time.
  http.requestTimeout = 0;
  http.headersTimeout = 60_000;
  return http;
}
