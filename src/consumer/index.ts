export { listJobs, type JobCursor, type JobListItem, type ListJobsOptions } from './list-jobs.ts';
export { getJob, withDates, type CollectionOption, type JobSnapshot } from './snapshot.ts';
export { waitForJob, WaitTimeoutError, type WaitForJobOptions } from './wait-for-job.ts';
export { watchJob, type Unsubscribe, type WatchJobOptions } from './watch-job.ts';
export { watchJobs, type JobsChange, type WatchJobsOptions } from './watch-jobs.ts';
export { queuePosition } from './queue-position.ts';
export { queueSummary, type QueueSummary } from './queue-summary.ts';
export { cancelJob, type CancelResult } from './cancel-job.ts';
