import { describe, expect, it } from 'vitest';
import { frame } from '../../src/cli/watch-render.ts';
import { jobDocument, taskDocument } from '../consumer/job-fixtures.ts';

describe("watch's overall bar", () => {
  it('agrees with the task bars it shows at the same moment, not with the lagging aggregate', () => {
    // The job document's aggregate was written a while ago (15 %); the tasks are now further on.
    const job = jobDocument('bar-1', {
      state: 'running',
      taskCount: 3,
      progress: { done: 0, total: 3, ratio: 0.15 },
    });
    const tasks = [0.25, 0.4, 0.4].map((ratio, i) =>
      taskDocument(i, { progress: { done: ratio * 100, total: 100, ratio } }),
    );
    const lines = frame(
      { requestId: 'bar-1', documentId: 'bar-1', job, tasks },
      { columns: 100, rows: 20 },
    );
    const percents = lines
      .filter((l) => /^ {2}(all|task) /.test(l))
      .map((l) => /(\d+)%/.exec(l)?.[1]);
    expect(lines[1]).toMatch(/^ {2}all /);
    expect(percents).toEqual(['35', '25', '40', '40']);
  });

  it('counts a task not started yet as 0, as its missing bar shows', () => {
    const job = jobDocument('bar-2', { state: 'running', taskCount: 4 });
    const tasks = [
      taskDocument(0, { progress: { done: 1, total: 1, ratio: 1 }, state: 'succeeded' }),
    ];
    const lines = frame(
      { requestId: 'bar-2', documentId: 'bar-2', job, tasks },
      { columns: 100, rows: 20 },
    );
    expect(lines[1]).toMatch(/ 25%/);
  });
});
