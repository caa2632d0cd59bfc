import type { ExecutionRun } from './execution-run.ts';

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
        executionReason: 'NON_ZERO_EXIT_CODE',
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
    uid: plan.name,
    job: plan.jobId,
    createTime: timestamp(run.createTime),
    startTime: timestamp(run.startTime),
    completionTime: timestamp(completion),
    updateTime: timestamp(completion ?? run.startTime ?? run.createTime),
    launchStage: 'GA',
    parallelism: plan.parallelism,
    taskCount: plan.taskCount,
    template: {
      containers: [
        {
          name: 'container-0',
          image: 'jobbridge-emulator',
          command: plan.command,
          args: plan.args,
          env: Object.entries(plan.env).map(([name, value]) => ({ name, value })),
        },
      ],
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
    etag: `"${run.completionTime?.getTime() ?? 0}"`,
  };
}
