/**
 * What this instance knows of the queue: the jobs it has seen requests of waiting. Admission asks
 * it whether a request may take the fast path (no queue known to be waiting for its job), so it
 * costs no read per request; fairness across instances is best effort, and the drains that every
 * instance runs (`POST /reconcile`) keep each instance's view fresh.
 */
export class QueueKnowledge {
  private readonly waiting = new Set<string>();

  /** A request of `job` was queued (here, or seen queued by a drain). */
  add(job: string): void {
    this.waiting.add(job);
  }

  /** A drain read the whole queue: these are the jobs waiting now, and no others. */
  replace(jobs: Iterable<string>): void {
    this.waiting.clear();
    for (const job of jobs) this.waiting.add(job);
  }

  has(job: string): boolean {
    return this.waiting.has(job);
  }

  /** Whether any queue is known to be waiting: a push delivery then drains a little. */
  get any(): boolean {
    return this.waiting.size > 0;
  }
}
