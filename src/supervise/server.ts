import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { ProposalError, validateProposal } from './files.js';
import type { ProposalDraft } from './link-protocol.js';
import { MAX_QUEUE_FILE_BYTES, type Tool } from './queue.js';
import type { ToolAnswer } from './sidecar-link.js';

/**
 * The supervise sidecar: an MCP server (streamable HTTP, stateless) on the
 * bottle's internal network. A tool call is checked, handed to the queue
 * (the controller's, on the host), and held open until the operator's
 * answer (or the timeout), then answered with `{status, notes}`. The sidecar
 * changes nothing itself: the operator's side applies an approval before it
 * writes the answer, so "approved" means the change is already in force.
 */

export interface SuperviseOptions {
  /**
   * Queues a checked call and resolves with the operator's answer: in the
   * sidecar, over the controller link; in tests, the host queue directly.
   */
  submit: (draft: ProposalDraft, signal: AbortSignal) => Promise<ToolAnswer>;
  log?: (entry: Record<string, unknown>) => void;
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

/** One tool call: validate, hand to the queue, wait for its answer. */
export async function propose(
  opts: SuperviseOptions,
  tool: Tool,
  proposedFile: string,
  justification: string,
  signal: AbortSignal,
): Promise<ToolAnswer> {
  validateProposal(tool, proposedFile);
  const draft: ProposalDraft = {
    id: randomUUID(),
    tool,
    proposedFile,
    justification,
    arrivalTimestamp: new Date().toISOString(),
  };
  opts.log?.({ kind: 'proposal', id: draft.id, tool });
  const answer = await opts.submit(draft, signal);
  opts.log?.({ kind: 'answer', id: draft.id, status: answer.status });
  return answer;
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
