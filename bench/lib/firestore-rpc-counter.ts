import type { Firestore } from '@google-cloud/firestore';

/** What one Firestore client sent while a count was on. */
export interface FirestoreRpcCount {
  /** RPCs by method name (commit, batchGetDocuments, runAggregationQuery, runQuery, …). */
  readonly rpcs: Record<string, number>;
  /** Document writes in every commit sent. */
  readonly documentWrites: number;
  /**
   * Documents asked for by get (batchGetDocuments), by collection path without ids (`jobs`,
   * `batches`, `jobs/tasks`): which documents the reads of `rpcs.batchGetDocuments` were.
   */
  readonly documentsRead: Record<string, number>;
  /** When each commit that wrote a job document was answered OK (ms since the epoch). */
  readonly jobDocumentCommits: readonly number[];
  /** Commits that wrote a job document and were refused (e.g. a transaction's contention). */
  readonly jobDocumentCommitsRefused: number;
  /** Stops counting: the client's own methods again. */
  stop(): void;
}

type Rpc = (method: string, ...rest: unknown[]) => Promise<unknown>;
type CommitRequest = { writes?: { update?: { name?: string } }[] };
type GetRequest = { documents?: string[] };

/** `projects/p/databases/d/documents/jobs/a/tasks/0` → `jobs/tasks`. */
function collectionPath(name: string): string {
  const path = name.split('/documents/')[1] ?? '';
  return path
    .split('/')
    .filter((_, i) => i % 2 === 0)
    .join('/');
}

/**
 * Counts every RPC `db` sends where the client sends it (its `request` and `requestStream`, which
 * every read, write and transaction of the client goes through), the document writes of its
 * commits, and the commits that write a document of `collection` (answered and refused). Only
 * `db` is counted: other clients in the process are not.
 */
export function countFirestoreRpcs(db: Firestore, collection = 'jobs'): FirestoreRpcCount {
  const jobDoc = new RegExp(`/documents/${collection}/[^/]+$`);
  const rpcs: Record<string, number> = {};
  const documentsRead: Record<string, number> = {};
  const jobDocumentCommits: number[] = [];
  let documentWrites = 0;
  let jobDocumentCommitsRefused = 0;
  const client = db as unknown as { request: Rpc; requestStream: Rpc };
  for (const name of ['request', 'requestStream'] as const) {
    const original = client[name];
    client[name] = function (method: string, ...rest: unknown[]) {
      const p = original.call(db, method, ...rest);
      rpcs[method] = (rpcs[method] ?? 0) + 1;
      // request(method, request, …) and requestStream(method, bidirectional, request, …).
      const sent = name === 'request' ? rest[0] : rest[1];
      if (method === 'batchGetDocuments')
        for (const doc of (sent as GetRequest).documents ?? []) {
          const c = collectionPath(doc);
          documentsRead[c] = (documentsRead[c] ?? 0) + 1;
        }
      if (method !== 'commit') return p;
      const request = sent as CommitRequest;
      documentWrites += request.writes?.length ?? 0;
      if (request.writes?.some((w) => jobDoc.test(w.update?.name ?? '')))
        void p.then(
          () => jobDocumentCommits.push(Date.now()),
          () => jobDocumentCommitsRefused++,
        );
      return p;
    };
  }
  return {
    rpcs,
    documentsRead,
    get documentWrites() {
      return documentWrites;
    },
    jobDocumentCommits,
    get jobDocumentCommitsRefused() {
      return jobDocumentCommitsRefused;
    },
    stop() {
      // The client's prototype methods again (own properties only shadow them).
      delete (client as Partial<typeof client>).request;
      delete (client as Partial<typeof client>).requestStream;
    },
  };
}
