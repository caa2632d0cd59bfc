import { status } from '@grpc/grpc-js';

/** An error that carries the gRPC status the emulator answers with, as Cloud Run would. */
export class StatusError extends Error {
  readonly code: status;
  constructor(code: status, message: string) {
    super(message);
    this.name = 'StatusError';
    this.code = code;
  }
}

export const invalidArgument = (message: string): StatusError =>
  new StatusError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string): StatusError =>
  new StatusError(status.NOT_FOUND, message);
export const failedPrecondition = (message: string): StatusError =>
  new StatusError(status.FAILED_PRECONDITION, message);
