import type { protos } from '@google-cloud/run';

/** Each execution's createTime in epoch ms (what Cloud Run's run quota counts). */
export function createTimesMs(
  executions: readonly protos.google.cloud.run.v2.IExecution[],
): number[] {
  return executions.map(
    (e) => Number(e.createTime?.seconds ?? 0) * 1000 + Math.floor((e.createTime?.nanos ?? 0) / 1e6),
  );
}
