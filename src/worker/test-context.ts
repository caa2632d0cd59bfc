import { EventEmitter } from 'node:events';
import type { TaskProgress } from '../contract/documents.ts';
import { silentLogger, type Logger } from '../log.ts';
import { createTaskContext } from './context.ts';
import type { TaskContext } from './function-types.ts';

/** Events a test context emits: `progress` (TaskProgress), `result` (object). */
export interface TestContextEvents {
  progress: [TaskProgress];
  result: [Record<string, unknown>];
}

export interface TestContext {
  context: TaskContext;
  /** Emits `progress` and `result` as the function reports them. */
  events: EventEmitter<TestContextEvents>;
  progress: TaskProgress[];
  /** The last stored result, if any. */
  result(): Record<string, unknown> | undefined;
  /** Fires the context's signal, as SIGTERM or a cancel would. */
  abort(reason?: string): void;
}

/**
 * A context for unit tests of job functions, with no Firestore behind it: everything the
 * function reports is recorded and emitted, as temporal's MockActivityEnvironment does.
 */
export function createTestContext(
  options: {
    args?: string[];
    taskIndex?: number;
    taskCount?: number;
    attempt?: number;
    log?: Logger;
  } = {},
): TestContext {
  const events = new EventEmitter<TestContextEvents>();
  const controller = new AbortController();
  const progress: TaskProgress[] = [];
  let last: Record<string, unknown> | undefined;
  const context = createTaskContext({
    args: options.args ?? [],
    taskIndex: options.taskIndex ?? 0,
    taskCount: options.taskCount ?? 1,
    attempt: options.attempt ?? 0,
    signal: controller.signal,
    log: options.log ?? silentLogger(),
    onProgress: (p) => {
      progress.push(p);
      events.emit('progress', p);
    },
    onResult: (r) => {
      last = r;
      events.emit('result', r);
    },
  });
  return {
    context,
    events,
    progress,
    result: () => last,
    abort: (reason = 'terminated') => controller.abort(new Error(reason)),
  };
}
