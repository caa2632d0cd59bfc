/**
 * Firestore operations one delivery issued, counted by the job repository so that the delivery
 * log line and the bench can report them (target: 2 writes, 0 reads for a fresh request).
 */
export interface OpCount {
  reads: number;
  writes: number;
}

export function newOpCount(): OpCount {
  return { reads: 0, writes: 0 };
}

/** gRPC status codes the repository tells apart (Firestore errors carry them as `code`). */
export const GRPC_CODE = {
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
} as const;

/** The gRPC status code of a Google client error, if it has one. */
export function grpcCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}
