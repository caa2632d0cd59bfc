/**
 * Hard limits of a job request. Cloud Run's own limits where it has them (task count, task
 * timeout, max retries); ours where a producer could otherwise send something unbounded.
 */
export const LIMITS = {
  schemaVersion: 1,
  taskCountMin: 1,
  taskCountMax: 10_000,
  /** Cloud Run Jobs task timeout: up to 168 h. */
  timeoutSecondsMin: 1,
  timeoutSecondsMax: 168 * 3600,
  maxRetriesMin: 0,
  maxRetriesMax: 10,
  /** Request ids longer than this are refused outright (hashing covers ids up to it). */
  requestIdMaxBytes: 4096,
  argsMaxCount: 1000,
  argMaxBytes: 32 * 1024,
  argsMaxTotalBytes: 64 * 1024,
  envMaxCount: 100,
  envNameMaxLength: 255,
  envValueMaxBytes: 32 * 1024,
  envMaxTotalBytes: 64 * 1024,
  labelsMaxCount: 64,
  labelKeyMaxLength: 63,
  labelValueMaxLength: 63,
  /** Firestore document ids: at most 1,500 bytes. */
  documentIdMaxBytes: 1500,
  /** A task's stored result object, JSON-encoded. */
  taskResultMaxBytes: 16 * 1024,
} as const;

/** Tasks in one batch's execution, all members together: Cloud Run's task count limit. */
export const MAX_BATCH_TASKS = LIMITS.taskCountMax;

/**
 * The canonical JSON of a batch's content (`batchContentBytes`), at most: Firestore stores up to
 * 1 MiB per document, and the batch document adds its lease, names and times to the content.
 */
export const MAX_BATCH_CONTENT_BYTES = 900 * 1024;
