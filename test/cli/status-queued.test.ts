import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/status.ts';
import { frame, lineRenderer } from '../../src/cli/watch-render.ts';
import type { JobDocument } from '../../src/contract/index.ts';
import { jobDocument } from '../consumer/job-fixtures.ts';

const queuedAt = new Date('2026-12-01T20:00:00.000Z');
const job: JobDocument = jobDocument('r-queued', {
  state: 'queued',
  job: 'simulate',
  function: 'simulate',
  queue: { reason: 'runjob-rate', queuedAt },
  dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 0 },
  createdAt: queuedAt,
  updatedAt: queuedAt,
  expireAt: queuedAt,
});

describe('a queued job as status and watch show it', () => {
  it('status names the reason, the time it was queued and its place', () => {
    const lines = renderStatus(
      job,
      { requestId: job.requestId, documentId: 'r', job, tasks: [] },
      12,
    );
    expect(lines.find((l) => l.startsWith('state'))).toMatch(
      /queued \(runjob-rate since 2026-12-01T20:00:00\.000Z\)$/,
    );
    expect(lines.find((l) => l.startsWith('position'))).toMatch(/12 queued ahead of it$/);
  });

  it('watch shows the reason on the job line, in a pipe and on a terminal', () => {
    const snapshot = { requestId: job.requestId, documentId: 'r', job, tasks: [] };
    let text = '';
    lineRenderer((t) => (text += t)).update(snapshot);
    expect(text).toContain('job r-queued queued (runjob-rate since 2026-12-01T20:00:00.000Z)');
    expect(frame(snapshot, { columns: 120, rows: 20 }).join('\n')).toContain('queued (runjob-rate');
  });
});
