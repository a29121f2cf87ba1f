import { z } from 'zod';
import { MAX_QUEUE_FILE_BYTES, proposalId, STATUSES, TOOLS } from './queue.js';

/**
 * The line protocol between the supervise sidecar and its bottle's
 * controller, over the link the controller opens through the engine. The
 * sidecar forwards each tool call; the controller queues it on the host,
 * waits for the operator (or the timeout) and answers by id. The sidecar
 * names no bottle and no config hash: the controller fills both in, so the
 * bottle cannot speak for another one.
 */

export const draftSchema = z.strictObject({
  id: proposalId,
  tool: z.enum(TOOLS),
  proposedFile: z.string().max(MAX_QUEUE_FILE_BYTES / 2),
  justification: z.string().max(8_000),
  arrivalTimestamp: z.iso.datetime(),
});
export type ProposalDraft = z.infer<typeof draftSchema>;

export const superviseSidecarMessage = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('hello') }),
  z.strictObject({ t: z.literal('propose'), draft: draftSchema }),
  z.strictObject({ t: z.literal('withdraw'), id: proposalId }),
]);
export type SuperviseSidecarMessage = z.infer<typeof superviseSidecarMessage>;

export const superviseControllerMessage = z.strictObject({
  t: z.literal('answer'),
  id: proposalId,
  status: z.enum(STATUSES),
  notes: z.string().max(8_000),
});
export type SuperviseControllerMessage = z.infer<typeof superviseControllerMessage>;
