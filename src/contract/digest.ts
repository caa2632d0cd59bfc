import { createHash } from 'node:crypto';
import type { JobRequest } from './request.ts';

/** Prefix of every digest (requests and batches), naming its algorithm and canonical form (version 1). */
export const DIGEST_PREFIX = 'v1:sha256:';

/**
 * JSON with object keys sorted at every level and `undefined` members left out, so equal
 * content gives equal text: the form every digest (requests, batches) hashes.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The digest of what a request asks to run: every field but `requestId` (the key it is stored
 * under, which may come from an attribute), env values included — a takeover launches with the
 * env it was given, so a different value is different content. Absent and empty stay distinct
 * (`args: []` clears the job's args, no `args` keeps them) unless a function is named. Stored at admission; a later
 * delivery under the same id with another digest is a conflict, never a run.
 *
 * Env values enter only through this one-way hash, and never leave the bridge otherwise; a
 * low-entropy secret could still be guessed from it by someone who can read the document, so
 * secrets belong in Secret Manager references on the job (docs/security.md).
 */
export function requestDigest(request: JobRequest): string {
  const { requestId: _id, ...content } = request;
  // Forms that run the same are one form, so a request rebuilt from its document (which keeps
  // no empty env or labels, and `work <function>` either way) has the digest it was admitted with.
  if (Object.keys(content.env ?? {}).length === 0) delete content.env;
  if (Object.keys(content.labels ?? {}).length === 0) delete content.labels;
  if (content.function !== undefined && content.args?.length === 0) delete content.args;
  return DIGEST_PREFIX + createHash('sha256').update(canonicalJson(content), 'utf8').digest('hex');
}
