import { z } from 'zod';
import {
  boundIssues,
  fallbackRequestId,
  parseJobRequest,
  policyFor,
  policyIssues,
  resolveRequestId,
  type JobPolicies,
  requestIdSchema,
  type FieldIssue,
  type RequestSource,
} from '../contract/index.ts';
import type { ValidDelivery } from '../dispatch/delivery.ts';
import { rejected, type Outcome } from '../errors/outcomes.ts';

/** Pub/Sub's push body. Unknown keys pass: Pub/Sub adds fields (`message_id`, …) over time. */
const envelopeSchema = z.object({
  message: z.object({
    data: z.string().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
    messageId: z.string().min(1, 'must not be empty'),
    publishTime: z.string().optional(),
    orderingKey: z.string().optional(),
  }),
  subscription: z.string().optional(),
  // The emulator never sends it, and Google only when a dead-letter policy is set.
  deliveryAttempt: z.number().int().positive().optional(),
});

export type { ValidDelivery };

export type ParsedDelivery =
  | { ok: true; delivery: ValidDelivery }
  | {
      ok: false;
      outcome: Outcome;
      /** Set when the request id is known, so the rejection can be recorded under it. */
      requestId?: string;
      source?: RequestSource;
      /** The job name, when the data named one (for the recorded rejection). */
      job?: string;
    };

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function issue(path: string, reason: string): FieldIssue[] {
  return [{ path, reason }];
}

function decodeBody(body: Buffer | string | undefined): { value: unknown } | Outcome {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : (body ?? '');
  if (text.trim() === '') return rejected('body', issue('body', 'is empty'));
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return rejected('body', issue('body', 'is not JSON'));
  }
}

function decodeData(data: string | undefined): { value: unknown } | Outcome {
  if (data === undefined || data === '') {
    return rejected('data', issue('message.data', 'is required (the job request, base64 JSON)'));
  }
  if (!STRICT_BASE64.test(data)) return rejected('data', issue('message.data', 'is not base64'));
  try {
    return { value: JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as unknown };
  } catch {
    return rejected('data', issue('message.data', 'does not decode to JSON'));
  }
}

/** The body's own requestId, when it is a usable one; the schema check reports it otherwise. */
function bodyRequestId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !Object.hasOwn(value, 'requestId')) {
    return undefined;
  }
  const id = (value as { requestId?: unknown }).requestId;
  return requestIdSchema.safeParse(id).success ? (id as string) : undefined;
}

/**
 * Parses a push body into a valid, allowed job request with its request id (the `requestId`
 * attribute, else the body's `requestId`, else `msg~<messageId>`; an attribute that differs
 * from the body's id is refused), checked against its job's policy when `policies` is given (the
 * dead-letter route records what it finds and launches nothing, so it passes none). Never throws: every problem is a
 * `rejected:<field>` outcome naming the field and the reason.
 */
export function parsePushDelivery(
  body: Buffer | string | undefined,
  allowedJobs: ReadonlySet<string>,
  policies?: JobPolicies,
): ParsedDelivery {
  const decoded = decodeBody(body);
  if (!('value' in decoded)) return { ok: false, outcome: decoded };
  const envelope = envelopeSchema.safeParse(decoded.value);
  if (!envelope.success) {
    const issues = boundIssues(
      envelope.error.issues.map((i) => ({
        path: i.path.map(String).join('.') || '(root)',
        reason: i.message,
      })),
    );
    return { ok: false, outcome: rejected('envelope', issues) };
  }
  const { message, subscription, deliveryAttempt } = envelope.data;
  const source: RequestSource = {
    messageId: message.messageId,
    ...(message.publishTime !== undefined ? { publishTime: message.publishTime } : {}),
    ...(subscription !== undefined ? { subscription } : {}),
    ...(deliveryAttempt !== undefined ? { deliveryAttempt } : {}),
  };
  const attributeId = message.attributes?.requestId;
  if (attributeId !== undefined) {
    const checked = requestIdSchema.safeParse(attributeId);
    if (!checked.success) {
      const reason = checked.error.issues[0]?.message ?? 'is invalid';
      return { ok: false, outcome: rejected('requestId', issue('attributes.requestId', reason)) };
    }
  }
  const data = decodeData(message.data);
  if (!('value' in data)) {
    const requestId = attributeId ?? fallbackRequestId(message.messageId);
    return { ok: false, outcome: data, requestId, source };
  }
  const resolved = resolveRequestId({
    attribute: attributeId,
    body: bodyRequestId(data.value),
    messageId: message.messageId,
  });
  const requestId = resolved.requestId;
  const job = (data.value as { job?: unknown } | null)?.job;
  if (!resolved.ok) {
    return {
      ok: false,
      outcome: rejected(resolved.issue.path, [resolved.issue]),
      requestId,
      source,
      ...(typeof job === 'string' ? { job } : {}),
    };
  }
  const parsed = parseJobRequest(data.value);
  if (!parsed.ok) {
    return {
      ok: false,
      outcome: rejected(parsed.error.field, parsed.error.issues),
      requestId,
      source,
      ...(typeof job === 'string' ? { job } : {}),
    };
  }
  if (!allowedJobs.has(parsed.value.job)) {
    const issues = issue('job', "is not on this bridge's allowlist (JOBBRIDGE_JOBS)");
    return {
      ok: false,
      outcome: rejected('job', issues),
      requestId,
      source,
      job: parsed.value.job,
    };
  }
  if (policies !== undefined) {
    const refused = policyIssues(parsed.value, policyFor(policies, parsed.value.job));
    if (refused.length > 0) {
      return {
        ok: false,
        outcome: rejected(refused[0]?.path ?? 'job', boundIssues(refused)),
        requestId,
        source,
        job: parsed.value.job,
      };
    }
  }
  return { ok: true, delivery: { requestId, request: parsed.value, source } };
}
