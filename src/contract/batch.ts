import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson, DIGEST_PREFIX } from './digest.ts';
import { jobDocumentId } from './document-id.ts';
import { LIMITS, MAX_BATCH_CONTENT_BYTES, MAX_BATCH_TASKS } from './limits.ts';
import {
  ValidationError,
  fieldIssues,
  functionNameSchema,
  jobArgsSchema,
  jobEnvSchema,
  jobNameSchema,
  taskCountSchema,
  timeoutSecondsSchema,
} from './request.ts';

/**
 * Batches: k queued requests of one job started as ONE execution, each request (a member) a
 * contiguous slice of its tasks (DESIGN.md, "Admission and dispatch", step 5). The drainer
 * writes `batches/{batchId}`; task i of the execution reads it, checks it against the digest in
 * its own env (`JOBBRIDGE_BATCH_DIGEST`, which only whoever starts the execution can set) and
 * runs the member that owns index i.
 */

/** The top-level collection of batch documents, next to the jobs collection. */
export const BATCH_COLLECTION = 'batches';

/** One request in a batch: the slice `offset … offset + taskCount - 1` of the execution's tasks. */
export interface BatchMember {
  requestId: string;
  /** The member's job document id (`jobs/{documentId}`). */
  documentId: string;
  /** Index of the member's task 0 in the execution. */
  offset: number;
  taskCount: number;
  function: string;
  args: string[];
  /** Applied over the task's env, values included (the job document keeps names only). */
  env: Record<string, string>;
}

/** What a batch runs, and all its digest covers. */
export interface BatchContent {
  job: string;
  /** The members' common task timeout; absent (never null) when they keep the job's own. */
  timeoutSeconds?: number;
  /** In task order, offsets contiguous from 0. */
  members: BatchMember[];
}

/** The dispatch lease on a batch, as on a job document. */
export interface BatchLease {
  owner: string;
  expiresAt: Date;
}

/** `batches/{batchId}` as stored: the content, its digest, and the dispatch bookkeeping. */
export interface BatchDocument extends BatchContent {
  digest: string;
  /** The execution's task count: the members' task counts summed. */
  taskCount: number;
  state: 'dispatching' | 'dispatched';
  lease: BatchLease | null;
  operationName?: string;
  executionName?: string;
  createdAt: Date;
  expireAt: Date;
}

const memberSchema = z.strictObject({
  // Any stored request id: one made from a messageId (`msg~…`) included, which a producer may not send.
  requestId: z
    .string()
    .min(1, 'must not be empty')
    .refine(
      (s) => Buffer.byteLength(s, 'utf8') <= LIMITS.requestIdMaxBytes,
      `must be at most ${LIMITS.requestIdMaxBytes} bytes`,
    )
    .refine((s) => s.isWellFormed(), 'must not contain lone surrogates (not valid Unicode)'),
  documentId: z.string(),
  offset: z.number().int('must be an integer').min(0, 'must be at least 0'),
  taskCount: taskCountSchema,
  function: functionNameSchema,
  args: jobArgsSchema,
  env: jobEnvSchema,
});

/** The content fields of a batch document; the document's other fields are not checked here. */
const batchContentSchema = z
  .object({
    job: jobNameSchema,
    timeoutSeconds: timeoutSecondsSchema.optional(),
    members: z
      .array(memberSchema)
      .min(1, 'must have at least one member')
      .max(MAX_BATCH_TASKS, `must have at most ${MAX_BATCH_TASKS} members`),
  })
  .superRefine((content, ctx) => {
    let next = 0;
    const seen = new Set<string>();
    for (const [i, member] of content.members.entries()) {
      if (member.offset !== next)
        ctx.addIssue({
          code: 'custom',
          path: ['members', i, 'offset'],
          message: `must be ${next} (offsets are contiguous from 0, in task order)`,
        });
      if (member.documentId !== jobDocumentId(member.requestId))
        ctx.addIssue({
          code: 'custom',
          path: ['members', i, 'documentId'],
          message: "must be the job document id of the member's requestId",
        });
      else if (seen.has(member.documentId))
        ctx.addIssue({
          code: 'custom',
          path: ['members', i, 'documentId'],
          message: 'must not repeat another member (one slice per job)',
        });
      seen.add(member.documentId);
      next = member.offset + member.taskCount;
    }
    if (next > MAX_BATCH_TASKS)
      ctx.addIssue({
        code: 'custom',
        path: ['members'],
        message: `must hold at most ${MAX_BATCH_TASKS} tasks in all (they hold ${next})`,
      });
  });

/** Only what the digest covers, in a fixed shape: no stray field can ride along. */
function contentOf(content: BatchContent): BatchContent {
  return {
    job: content.job,
    ...(content.timeoutSeconds === undefined ? {} : { timeoutSeconds: content.timeoutSeconds }),
    members: content.members.map((m) => ({
      requestId: m.requestId,
      documentId: m.documentId,
      offset: m.offset,
      taskCount: m.taskCount,
      function: m.function,
      args: [...m.args],
      env: { ...m.env },
    })),
  };
}

/**
 * Reads a batch document's content (the other stored fields are ignored). Throws a
 * ValidationError naming each field and its reason (`members.2.offset: must be 4 …`): members
 * as a request would be checked, offsets contiguous from 0, each taskCount ≥ 1, at most
 * MAX_BATCH_TASKS tasks and MAX_BATCH_CONTENT_BYTES of content.
 */
export function parseBatchContent(data: unknown): BatchContent {
  const result = batchContentSchema.safeParse(data);
  if (!result.success) throw new ValidationError('batch document', fieldIssues(result.error));
  const content = contentOf(result.data);
  const bytes = batchContentBytes(content);
  if (bytes > MAX_BATCH_CONTENT_BYTES)
    throw new ValidationError('batch document', [
      {
        path: 'members',
        reason: `must total at most ${MAX_BATCH_CONTENT_BYTES} bytes of content (they hold ${bytes})`,
      },
    ]);
  return content;
}

/** The size of a batch's content as its digest sees it (the drainer stops adding members before the limit). */
export function batchContentBytes(content: BatchContent): number {
  return Buffer.byteLength(canonicalJson(contentOf(content)), 'utf8');
}

/**
 * The digest of what a batch runs: `v1:sha256:` + SHA-256 of the canonical JSON of its job,
 * timeout and members (every field of each, env values included), the same canonical form as
 * `requestDigest`. The bridge sets it as `JOBBRIDGE_BATCH_DIGEST` on the execution; a task runs
 * only a document whose content gives the same digest.
 */
export function batchDigest(content: BatchContent): string {
  const json = canonicalJson(contentOf(content));
  return DIGEST_PREFIX + createHash('sha256').update(json, 'utf8').digest('hex');
}

/** The sum of the members' task counts: the execution's task count. */
export function batchTaskCount(content: BatchContent): number {
  const last = content.members.at(-1);
  return last ? last.offset + last.taskCount : 0;
}

/**
 * The member that owns execution task `taskIndex`, and the task's index within that member
 * (`taskIndex - offset`); undefined past the last member. Binary search over the offsets of a
 * parsed (contiguous) content.
 */
export function memberOfTask(
  content: BatchContent,
  taskIndex: number,
): { member: BatchMember; localIndex: number } | undefined {
  const { members } = content;
  if (!Number.isInteger(taskIndex) || taskIndex < 0) return undefined;
  let lo = 0;
  let hi = members.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const member = members[mid] as BatchMember;
    if (taskIndex < member.offset) hi = mid - 1;
    else if (taskIndex >= member.offset + member.taskCount) lo = mid + 1;
    else return { member, localIndex: taskIndex - member.offset };
  }
  return undefined;
}
