import { LIMITS } from '../contract/limits.ts';
import type { Logger } from '../log.ts';
import type { TaskContext } from './function-types.ts';
import type { TaskProgress } from '../contract/documents.ts';

/** This task's even share: items i with i % taskCount === taskIndex (sizes differ by at most one). */
export function shard<T>(items: readonly T[], taskIndex: number, taskCount: number): T[] {
  const out: T[] = [];
  for (let i = taskIndex; i < items.length; i += taskCount) out.push(items[i] as T);
  return out;
}

/** Normalises a progress report: finite, non-negative, done ≤ total, ratio in 0..1. */
export function toTaskProgress(done: number, total: number, message?: string): TaskProgress {
  const t = Number.isFinite(total) && total > 0 ? total : 0;
  const d = Number.isFinite(done) && done > 0 ? (t > 0 ? Math.min(done, t) : done) : 0;
  const ratio = t > 0 ? d / t : 0;
  return {
    done: d,
    total: t,
    ratio,
    message: message === undefined ? null : String(message).slice(0, 1024),
  };
}

/** The result as JSON, or an error naming the limit. */
export function checkResult(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('result must be a plain object');
  }
  const json = JSON.stringify(value);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > LIMITS.taskResultMaxBytes) {
    throw new RangeError(
      `result is ${bytes} bytes, over the ${LIMITS.taskResultMaxBytes}-byte limit`,
    );
  }
  // A JSON round trip drops undefined, functions and class instances Firestore would refuse.
  return JSON.parse(json) as Record<string, unknown>;
}

export interface ContextParts {
  args: readonly string[];
  taskIndex: number;
  taskCount: number;
  attempt: number;
  signal: AbortSignal;
  log: Logger;
  onProgress(progress: TaskProgress): void;
  onResult(result: Record<string, unknown>): void;
}

/** Builds the context a function gets; the sinks decide where progress and results go. */
export function createTaskContext(parts: ContextParts): TaskContext {
  const { taskIndex, taskCount } = parts;
  return {
    args: Object.freeze([...parts.args]),
    taskIndex,
    taskCount,
    attempt: parts.attempt,
    signal: parts.signal,
    log: parts.log,
    shard: (items) => shard(items, taskIndex, taskCount),
    progress: (done, total, message) => parts.onProgress(toTaskProgress(done, total, message)),
    result: (value) => parts.onResult(checkResult(value)),
  };
}
