import { status } from '@grpc/grpc-js';

/**
 * gRPC status codes, as `@grpc/grpc-js` names them. Every Google client we use (Firestore,
 * Cloud Run, Pub/Sub) reports its errors with one of these as a numeric `code`.
 */
export { status };

/** The gRPC status code of an error from a Google client, if it carries one. */
export function grpcCode(err: unknown): status | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = err.code;
  return typeof code === 'number' ? code : undefined;
}

/** Whether `err` carries the gRPC status `code`. */
export function hasGrpcCode(err: unknown, code: status): boolean {
  return grpcCode(err) === code;
}

/** The name of a gRPC status code (`ALREADY_EXISTS`), or the number when it has none. */
export function grpcCodeName(code: number): string {
  return (status as unknown as Record<number, string | undefined>)[code] ?? String(code);
}

/** ALREADY_EXISTS: a `create()` found the document there. */
export function isAlreadyExists(err: unknown): boolean {
  return hasGrpcCode(err, status.ALREADY_EXISTS);
}

/** FAILED_PRECONDITION: an update's `lastUpdateTime` precondition did not hold (someone wrote). */
export function isPreconditionFailure(err: unknown): boolean {
  return hasGrpcCode(err, status.FAILED_PRECONDITION);
}

/** NOT_FOUND: the document, job or execution is not there. */
export function isNotFound(err: unknown): boolean {
  return hasGrpcCode(err, status.NOT_FOUND);
}

/** An error carrying a gRPC status, for code of ours that must answer like a Google client. */
export function grpcError(code: status, message: string): Error & { code: status } {
  return Object.assign(new Error(message), { code });
}
