import { createHash } from 'node:crypto';
import { LIMITS } from './limits.ts';

/** Prefix of document ids made from a hash; a raw id that starts with it is hashed as well. */
export const HASHED_ID_PREFIX = '~sha256~';

/**
 * Prefix of the request id of a message that gave none (`msg~<messageId>`): an explicit request
 * id may not start with it, so a producer can never pick an id that a later message without one
 * would fall back to (or the other way round).
 */
export const MESSAGE_ID_PREFIX = 'msg~';

/** The request id of a message whose attributes and data name none. */
export function fallbackRequestId(messageId: string): string {
  return MESSAGE_ID_PREFIX + messageId;
}

/** Why a string is not a usable Firestore document id as it stands, or undefined. */
export function documentIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'is empty';
  if (Buffer.byteLength(id, 'utf8') > LIMITS.documentIdMaxBytes)
    return `is over ${LIMITS.documentIdMaxBytes} bytes`;
  if (id.includes('/')) return 'contains "/"';
  if (id === '.' || id === '..') return 'is "." or ".."';
  if (/^__.*__$/s.test(id)) return 'matches __.*__ (reserved)';
  if (id.startsWith(HASHED_ID_PREFIX))
    return `starts with ${HASHED_ID_PREFIX} (reserved for hashed ids)`;
  return undefined;
}

/**
 * The Firestore document id for a request id: the id itself when Firestore accepts it, else a
 * SHA-256 of it (the original is kept in the document). The mapping is one-to-one: a raw id can
 * never equal a hashed one, because raw ids with the hash prefix are hashed too.
 */
export function jobDocumentId(requestId: string): string {
  if (documentIdProblem(requestId) === undefined) return requestId;
  return HASHED_ID_PREFIX + createHash('sha256').update(requestId, 'utf8').digest('hex');
}
