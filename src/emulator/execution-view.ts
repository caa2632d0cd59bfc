import { pathToFileURL } from 'node:url';
import { describeEnd, type ExecutionRun, type TaskRecord } from './execution-run.ts';
import { containerName } from './overrides.ts';

/** google.protobuf.Timestamp as proto-loader's object form. */
export function timestamp(date: Date | undefined): { seconds: string; nanos: number } | null {
  if (!date) return null;
  const ms = date.getTime();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

interface ConditionView {
  type: string;
  state: string;
  message: string;
  lastTransitionTime: ReturnType<typeof timestamp>;
  severity?: string;
  executionReason?: string;
}

/**
 * The conditions Cloud Run reports on an execution: `ResourcesAvailable` and `Started` once a
 * task runs, and `Completed`, which is the one callers read (SUCCEEDED, or FAILED with
 * executionReason NON_ZERO_EXIT_CODE or CANCELLED).
 */
function conditions(run: ExecutionRun): ConditionView[] {
  const started = run.startTime !== undefined;
  const list: ConditionView[] = [
    {
      type: 'ResourcesAvailable',
      state: started ? 'CONDITION_SUCCEEDED' : 'CONDITION_PENDING',
      message: started ? 'Provisioned resources for the execution.' : 'Provisioning resources.',
      lastTransitionTime: timestamp(run.startTime ?? run.createTime),
    },
    {
      type: 'Started',
      state: started ? 'CONDITION_SUCCEEDED' : 'CONDITION_PENDING',
      message: started ? 'Started deployed execution.' : 'Waiting for the execution to start.',
      lastTransitionTime: timestamp(run.startTime ?? run.createTime),
    },
  ];
  list.unshift(completedCondition(run));
  return list;
}

function completedCondition(run: ExecutionRun): ConditionView {
  const at = timestamp(run.completionTime ?? run.startTime ?? run.createTime);
  switch (run.outcome) {
    case 'running':
      return {
        type: 'Completed',
        state: 'CONDITION_PENDING',
        message: 'Waiting for the execution to complete.',
        lastTransitionTime: at,
      };
    case 'succeeded': {
      const seconds =
        ((run.completionTime?.getTime() ?? 0) - (run.startTime ?? run.createTime).getTime()) / 1000;
      return {
        type: 'Completed',
        state: 'CONDITION_SUCCEEDED',
        message: `Execution completed successfully in ${seconds.toFixed(2)}s.`,
        lastTransitionTime: at,
      };
    }
    case 'failed':
      return {
        type: 'Completed',
        state: 'CONDITION_FAILED',
        severity: 'ERROR',
        // A timeout is not an exit code: Cloud Run's ExecutionReason has no value for it.
        ...(run.failure?.timedOut ? {} : { executionReason: 'NON_ZERO_EXIT_CODE' }),
        message: `Task ${run.plan.executionId}-task${run.failure?.index ?? 0} failed with message: ${run.failure?.reason ?? 'unknown'}`,
        lastTransitionTime: at,
      };
    case 'cancelled':
      return {
        type: 'Completed',
        state: 'CONDITION_FAILED',
        severity: 'INFO',
        executionReason: 'CANCELLED',
        message: 'The execution was cancelled.',
        lastTransitionTime: at,
      };
  }
}

/** The google.cloud.run.v2.Execution message of a run, in proto-loader's camelCase form. */
export function executionView(run: ExecutionRun): Record<string, unknown> {
  const { plan } = run;
  const completion = run.completionTime;
  return {
    name: plan.name,
    uid: run.uid,
    job: plan.jobId,
    createTime: timestamp(run.createTime),
    startTime: timestamp(run.startTime),
    completionTime: timestamp(completion),
    updateTime: timestamp(run.updateTime),
    launchStage: 'GA',
    parallelism: plan.parallelism,
    taskCount: plan.taskCount,
    template: {
      containers: containers(run),
      maxRetries: plan.maxRetries,
      timeout: { seconds: String(plan.timeoutSeconds), nanos: 0 },
    },
    reconciling: completion === undefined,
    conditions: conditions(run),
    observedGeneration: '1',
    generation: '1',
    runningCount: run.count('running'),
    succeededCount: run.count('succeeded'),
    failedCount: run.count('failed'),
    cancelledCount: run.count('cancelled'),
    retriedCount: run.retriedCount,
    etag: etag(run.uid, run.version),
  };
}

function containers(run: ExecutionRun): Record<string, unknown>[] {
  const { plan } = run;
  return [
    {
      name: containerName(plan.jobId),
      image: 'jobbridge-emulator',
      command: plan.command,
      args: plan.args,
      env: Object.entries(plan.env).map(([name, value]) => ({ name, value })),
    },
  ];
}

/** An opaque fingerprint that changes whenever the resource does. */
function etag(uid: string, version: number): string {
  return `"${uid.slice(0, 8)}-${version}"`;
}

/** The task's id: `{execution}-task{index}`, the form the Completed condition's message names. */
export function taskId(run: ExecutionRun, index: number): string {
  return `${run.plan.executionId}-task${index}`;
}

const TASK_STATE: Record<TaskRecord['state'], string> = {
  pending: 'CONDITION_PENDING',
  running: 'CONDITION_RECONCILING',
  succeeded: 'CONDITION_SUCCEEDED',
  failed: 'CONDITION_FAILED',
  cancelled: 'CONDITION_FAILED',
};

/** The exit code of a task process that succeeded. */
const EXIT_SUCCESS = 0;

/** google.rpc.Code numbers used in a task's lastAttemptResult. */
const CODE = { OK: 0, CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4 } as const;

function lastAttemptResult(task: TaskRecord): Record<string, unknown> | null {
  const end = task.lastEnd;
  if (!end) return null;
  const ok = end.code === EXIT_SUCCESS && !task.timedOut;
  const code = ok
    ? CODE.OK
    : task.state === 'cancelled'
      ? CODE.CANCELLED
      : task.timedOut
        ? CODE.DEADLINE_EXCEEDED
        : CODE.UNKNOWN;
  return {
    status: { code, message: ok ? '' : describeEnd(end, task.timedOut), details: [] },
    // A task ended by a signal or a timeout has no exit code of its own.
    exitCode: end.code ?? 0,
    termSignal: end.signal ? signalNumber(end.signal) : 0,
  };
}

const SIGNALS: Record<string, number> = {
  SIGINT: 2,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGTERM: 15,
};
function signalNumber(signal: NodeJS.Signals): number {
  return SIGNALS[signal] ?? 0;
}

function taskConditions(run: ExecutionRun, task: TaskRecord): ConditionView[] {
  const at = timestamp(task.completionTime ?? task.updateTime);
  const list: ConditionView[] = [];
  const completed: ConditionView = {
    type: 'Completed',
    state: TASK_STATE[task.state],
    message: '',
    lastTransitionTime: at,
  };
  switch (task.state) {
    case 'pending':
      completed.message = 'Waiting for the task to start.';
      break;
    case 'running':
      completed.message = `Attempt ${task.attempt} is running.`;
      break;
    case 'succeeded':
      completed.message = 'Task completed successfully.';
      break;
    case 'failed':
      completed.severity = 'ERROR';
      if (!task.timedOut) completed.executionReason = 'NON_ZERO_EXIT_CODE';
      completed.message = `Task ${taskId(run, task.index)} failed with message: ${task.lastEnd ? describeEnd(task.lastEnd, task.timedOut) : 'unknown'}`;
      break;
    case 'cancelled':
      completed.severity = 'INFO';
      completed.executionReason = 'CANCELLED';
      completed.message = 'The task was cancelled.';
      break;
  }
  list.push(completed);
  if (task.attempt > 0 && task.retryTime) {
    list.push({
      type: 'Retry',
      state: 'CONDITION_SUCCEEDED',
      message: `System will retry after 0:00:00 from lastTransitionTime for attempt ${task.attempt}.`,
      lastTransitionTime: timestamp(task.retryTime),
    });
  }
  return list;
}

/** The google.cloud.run.v2.Task message of one task, in proto-loader's camelCase form. */
export function taskView(run: ExecutionRun, task: TaskRecord): Record<string, unknown> {
  const { plan } = run;
  return {
    name: `${plan.name}/tasks/${taskId(run, task.index)}`,
    uid: task.uid,
    generation: '1',
    createTime: timestamp(run.createTime),
    scheduledTime: timestamp(run.createTime),
    startTime: timestamp(task.startTime),
    completionTime: timestamp(task.completionTime),
    updateTime: timestamp(task.updateTime),
    job: plan.jobId,
    execution: plan.executionId,
    containers: containers(run),
    maxRetries: plan.maxRetries,
    timeout: { seconds: String(plan.timeoutSeconds), nanos: 0 },
    executionEnvironment: 'EXECUTION_ENVIRONMENT_GEN2',
    reconciling: task.state === 'pending' || task.state === 'running',
    conditions: taskConditions(run, task),
    observedGeneration: '1',
    index: task.index,
    retried: task.attempt,
    lastAttemptResult: lastAttemptResult(task),
    logUri: pathToFileURL(task.logPath).href,
    etag: etag(task.uid, task.version),
  };
}
