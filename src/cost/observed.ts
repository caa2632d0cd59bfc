/** One finished run as recorded in Firestore: the job's times and, when present, its tasks'. */
export interface RecordedRun {
  startedAt?: Date | null;
  finishedAt?: Date | null;
  tasks: { startedAt?: Date | null; finishedAt?: Date | null }[];
}

/** Task-seconds measured from recorded runs, and how many runs had usable times. */
export interface ObservedUsage {
  runs: number;
  /** Runs skipped because they had no start or finish time (e.g. failed before starting). */
  skipped: number;
  taskSeconds: number;
}

function seconds(startedAt?: Date | null, finishedAt?: Date | null): number | undefined {
  if (!startedAt || !finishedAt) return undefined;
  const ms = finishedAt.getTime() - startedAt.getTime();
  return ms >= 0 ? ms / 1000 : undefined;
}

/**
 * Sums billed task-seconds. Cloud Run bills each task for its own run time, so the tasks' times
 * are used when recorded (parallel tasks each count); a run without task documents counts its
 * job's start-to-finish once. A task's times are those of its last attempt, so earlier failed
 * attempts are not counted: the figure is a lower bound when tasks were retried.
 */
export function observedUsage(runs: readonly RecordedRun[]): ObservedUsage {
  let counted = 0;
  let skipped = 0;
  let taskSeconds = 0;
  for (const run of runs) {
    const taskTimes = run.tasks
      .map((t) => seconds(t.startedAt, t.finishedAt))
      .filter((s) => s !== undefined);
    const jobTime = seconds(run.startedAt, run.finishedAt);
    if (taskTimes.length > 0) taskSeconds += taskTimes.reduce((a, b) => a + b, 0);
    else if (jobTime !== undefined) taskSeconds += jobTime;
    else {
      skipped += 1;
      continue;
    }
    counted += 1;
  }
  return { runs: counted, skipped, taskSeconds };
}
