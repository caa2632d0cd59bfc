import type { JobRequest, RequestSource } from '../contract/index.ts';

/** A delivery whose request is valid and allowed: ready for the dedup-and-dispatch protocol. */
export interface ValidDelivery {
  requestId: string;
  request: JobRequest;
  source: RequestSource;
}
