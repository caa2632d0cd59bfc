/**
 * Where a reconcile call stopped, per query. Opaque to callers: a base64url JSON string they
 * hand back as `cursor` (Cloud Scheduler cannot carry one, so each scheduled call starts over,
 * which is fine: handled jobs leave the queries).
 */
export interface ReconcileCursor {
  /** The last document id the cancel query returned. */
  cancel?: string;
  /** The last (updatedAt, document id) the stale query returned. */
  stale?: { updatedAtMs: number; docId: string };
}

export function encodeCursor(cursor: ReconcileCursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

/** Decodes a cursor; an absent one is the start. A malformed one is an error naming `cursor`. */
export function decodeCursor(text: string | undefined): ReconcileCursor {
  if (text === undefined || text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch (err: unknown) {
    throw new Error('cursor is not one returned by reconcile (not base64url JSON)', { cause: err });
  }
  const v = value as ReconcileCursor | null;
  const cancelOk = v?.cancel === undefined || typeof v.cancel === 'string';
  const staleOk =
    v?.stale === undefined ||
    (typeof v.stale.updatedAtMs === 'number' && typeof v.stale.docId === 'string');
  if (typeof v !== 'object' || v === null || !cancelOk || !staleOk) {
    throw new Error('cursor is not one returned by reconcile (unexpected shape)');
  }
  return v;
}
