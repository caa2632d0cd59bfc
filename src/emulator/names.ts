/** Cloud Run v2 resource names, parsed strictly: a malformed name is INVALID_ARGUMENT. */

const SEGMENT = '([^/]+)';
const JOB = new RegExp(`^projects/${SEGMENT}/locations/${SEGMENT}/jobs/${SEGMENT}$`);
const EXECUTION = new RegExp(
  `^projects/${SEGMENT}/locations/${SEGMENT}/jobs/${SEGMENT}/executions/${SEGMENT}$`,
);
const TASK = new RegExp(
  `^(projects/${SEGMENT}/locations/${SEGMENT}/jobs/${SEGMENT}/executions/${SEGMENT})/tasks/${SEGMENT}$`,
);
const LOCATION = new RegExp(`^projects/${SEGMENT}/locations/${SEGMENT}$`);
const OPERATION = new RegExp(`^projects/${SEGMENT}/locations/${SEGMENT}/operations/${SEGMENT}$`);

export interface LocationName {
  project: string;
  location: string;
}
export interface JobName extends LocationName {
  job: string;
}
export interface ExecutionName extends JobName {
  execution: string;
}

export function parseLocationName(name: string): LocationName | undefined {
  const m = LOCATION.exec(name);
  return m ? { project: m[1] ?? '', location: m[2] ?? '' } : undefined;
}

export function parseJobName(name: string): JobName | undefined {
  const m = JOB.exec(name);
  return m ? { project: m[1] ?? '', location: m[2] ?? '', job: m[3] ?? '' } : undefined;
}

export function parseExecutionName(name: string): ExecutionName | undefined {
  const m = EXECUTION.exec(name);
  return m
    ? { project: m[1] ?? '', location: m[2] ?? '', job: m[3] ?? '', execution: m[4] ?? '' }
    : undefined;
}

export function isOperationName(name: string): boolean {
  return OPERATION.test(name);
}

export function formatJobName(n: JobName): string {
  return `projects/${n.project}/locations/${n.location}/jobs/${n.job}`;
}

export interface TaskName {
  /** The full name of the task's execution. */
  executionName: string;
  task: string;
}

export function parseTaskName(name: string): TaskName | undefined {
  const m = TASK.exec(name);
  return m ? { executionName: m[1] ?? '', task: m[6] ?? '' } : undefined;
}
