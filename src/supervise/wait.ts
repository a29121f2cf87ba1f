import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from './diff.js';
import { FILE_FOR_TOOL } from './files.js';
import type { ProposalDraft } from './link-protocol.js';
import {
  archiveProposal,
  claimProposal,
  readResponse,
  withdrawProposal,
  writeProposal,
  writeResponse,
  type Proposal,
} from './queue.js';
import type { ToolAnswer } from './sidecar-link.js';

/**
 * The host half of a supervise call: the proposal is written to the
 * bottle's queue directory and this waits until an operator surface writes
 * its answer next to it, or the timeout claims it (of racing answerers,
 * operator or timeout, exactly one holds the claim). Runs in the controller.
 */

export interface QueueWaitOptions {
  slug: string;
  queueDir: string;
  /** The host copy of the config in force: what the agent read when it proposed. */
  currentConfigDir: string;
  timeoutMs: number;
  pollMs?: number;
  /** The clock the timeout is measured on (Date.now unless a test drives it). */
  now?: () => number;
  log?: (entry: Record<string, unknown>) => void;
}

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

/** The proposal a draft becomes on the host: this bottle's slug, the hash of what is in force. */
export function proposalFromDraft(o: QueueWaitOptions, draft: ProposalDraft): Proposal {
  let current = '';
  try {
    current = readFileSync(join(o.currentConfigDir, FILE_FOR_TOOL[draft.tool]), 'utf8');
  } catch {
    // No file yet: the proposal is against an empty config.
  }
  return { ...draft, bottleSlug: o.slug, currentFileHash: sha256Hex(current) };
}

export async function queueAndWait(
  o: QueueWaitOptions,
  draft: ProposalDraft,
  signal: AbortSignal,
): Promise<ToolAnswer> {
  const proposal = proposalFromDraft(o, draft);
  writeProposal(o.queueDir, proposal);
  const now = o.now ?? Date.now;
  const deadline = now() + o.timeoutMs;
  let deferred = false;
  for (;;) {
    const r = readResponse(o.queueDir, proposal.id);
    if (r !== undefined) {
      archiveProposal(o.queueDir, proposal.id);
      return { status: r.status, notes: r.notes };
    }
    if (signal.aborted) {
      withdrawProposal(o.queueDir, proposal.id);
      o.log?.({ kind: 'withdrawn', id: proposal.id });
      return { status: 'timed-out', notes: 'the request was cancelled' };
    }
    if (now() >= deadline) {
      if (claimProposal(o.queueDir, proposal.id, 'timeout')) {
        const notes = `no operator answer within ${Math.round(o.timeoutMs / 1000)} s; ask again later or continue without it`;
        writeResponse(o.queueDir, {
          proposalId: proposal.id,
          status: 'timed-out',
          notes,
          finalFile: null,
        });
        archiveProposal(o.queueDir, proposal.id);
        o.log?.({ kind: 'timed-out', id: proposal.id });
        return { status: 'timed-out', notes };
      }
      // An operator is answering at this moment; theirs is the answer that
      // applies, so wait for it (once per proposal in the log).
      if (!deferred) o.log?.({ kind: 'timeout-deferred', id: proposal.id });
      deferred = true;
    }
    await sleep(o.pollMs ?? 250, signal);
  }
}

/** Serve supervise calls straight from a host queue directory (tests, and a sidecar-less run). */
export function onHostQueue(o: QueueWaitOptions): {
  submit: (draft: ProposalDraft, signal: AbortSignal) => Promise<ToolAnswer>;
  log?: (entry: Record<string, unknown>) => void;
} {
  return {
    submit: (draft, signal) => queueAndWait(o, draft, signal),
    ...(o.log === undefined ? {} : { log: o.log }),
  };
}
