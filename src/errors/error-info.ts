import { errorMessage } from './coerce.ts';
import { grpcCode, grpcCodeName } from './grpc.ts';

/** An error as recorded in a document and logged: a stable code and a bounded message. */
export interface RecordedError {
  code: string;
  message: string;
}

/**
 * The error as recorded and logged: its gRPC status name (or `ERROR`) and its message, at most
 * 1000 characters. An error message may quote what was sent, so `secrets` (a request's env
 * values) are cut out of it: they are never stored or logged.
 */
export function errorInfo(err: unknown, secrets: readonly string[] = []): RecordedError {
  const code = grpcCode(err);
  let message = errorMessage(err);
  for (const secret of secrets) {
    if (secret.length >= 3) message = message.replaceAll(secret, '[redacted]');
  }
  return {
    code: code !== undefined ? grpcCodeName(code) : 'ERROR',
    message: message.slice(0, 1000),
  };
}
