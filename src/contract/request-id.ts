import { fallbackRequestId } from './document-id.ts';
import type { FieldIssue } from './request.ts';

/** Where a delivery's request id came from. */
export type RequestIdSource = 'attribute' | 'body' | 'messageId';

export type ResolvedRequestId =
  | { ok: true; requestId: string; from: RequestIdSource }
  | { ok: false; requestId: string; issue: FieldIssue };

/**
 * The request id of a delivery: the `requestId` attribute, else the body's `requestId`, else
 * one made from the messageId under its own prefix. Both ids valid is fine when they agree; an
 * attribute that differs from the body's id is refused (it is still the id the refusal is
 * recorded under, since the attribute is what the publisher chose to dedup on).
 */
export function resolveRequestId(ids: {
  attribute: string | undefined;
  body: string | undefined;
  messageId: string;
}): ResolvedRequestId {
  const { attribute, body } = ids;
  if (attribute !== undefined && body !== undefined && attribute !== body) {
    return {
      ok: false,
      requestId: attribute,
      issue: { path: 'requestId', reason: 'differs from the requestId attribute' },
    };
  }
  if (attribute !== undefined) return { ok: true, requestId: attribute, from: 'attribute' };
  if (body !== undefined) return { ok: true, requestId: body, from: 'body' };
  return { ok: true, requestId: fallbackRequestId(ids.messageId), from: 'messageId' };
}
