import { randomUUID } from 'node:crypto';
import {
  parseJobRequest,
  policyFor,
  policyIssues,
  requestDigest,
  type JobPolicies,
  type JobRequest,
} from '../contract/index.ts';
import type { Launcher } from '../launcher/index.ts';
import type { Logger } from '../log.ts';
import { newOpCount, type OpCount } from '../store/job-ops.ts';
import type { QueueDepth, QueueEntry } from '../store/job-queue.ts';
import type { Lease } from '../store/job-repository.ts';
import type { JobBatchStore, JobDispatchStore, JobQueueStore } from '../store/port.ts';
import {
  batchCaps,
  coalesce,
  memberOf,
  startBatch,
  takeOverBatch,
  type BatchDeps,
  type BatchOutcome,
  type Candidate,
} from './batch.ts';
import type { RunBudget, Ticket } from './budget.ts';
import type { MaxRetriesCache } from './launch-request.ts';
import type { QueueKnowledge } from './queue-knowledge.ts';
import { findStarted, startLeased } from './start.ts';

export interface DrainDeps {
  queue: JobQueueStore;
  repository: JobDispatchStore;
  launcher: Launcher;
  budget: RunBudget;
  maxRetries: MaxRetriesCache;
  /** The allowlist: a stored request passes it again before it is started. */
  jobs: ReadonlySet<string>;
  /** Per-job policies (JOBBRIDGE_JOB_POLICY): a stored request passes its job's again, too. */
  policies: JobPolicies;
  leaseMs: number;
  /** At most this many jobs of one `concurrencyKey` hold a slot; 0 turns it off. */
  keyConcurrency: number;
  /** What this instance knows of the queue; shared with admission. */
  knowledge: QueueKnowledge;
  /** RunJob calls one drain makes at once. */
  parallelism?: number;
  /** Entries read per query (default 100, or JOBBRIDGE_BATCH_MAX_REQUESTS when larger). */
  pageSize?: number;
  /**
   * Batches: with a store and `batchMaxRequests` above 1 (JOBBRIDGE_BATCH_MAX_REQUESTS),
   * compatible queued requests start together as one execution. Abandoned batches are taken
   * over whenever the store is given.
   */
  batches?: JobBatchStore;
  batchMaxRequests?: number;
  /** How long a batch document lives (the job documents' retention). */
  retentionMs?: number;
  now?: () => Date;
  log?: Logger;
}

export interface DrainOptions {
  /** Whether to wait for the RunJob budget (default true); a push delivery's drain does not. */
  wait?: boolean;
}

/** What one drain did, logged as one line and answered by `POST /reconcile`. */
export interface DrainResult {
  started: number;
  adopted: number;
  requeued: number;
  cancelled: number;
  failed: number;
  /** Entries another dispatcher (or a cancel, or a redelivery) got to first. */
  raced: number;
  /** Executions started for batches (their members are counted in `started`). */
  batches: number;
  /** Why it stopped: the queue was empty, the deadline came, or the budget had no room. */
  stoppedBy: 'empty' | 'deadline' | 'budget';
  queueDepth: number;
  oldestQueuedAgeMs: number | null;
  durationMs: number;
  firestore: OpCount;
}

type Step =
  | keyof Pick<DrainResult, 'started' | 'adopted' | 'requeued' | 'cancelled' | 'failed' | 'raced'>
  | 'key-busy'
  | 'no-ticket'
  | 'skipped';

/**
 * Round-robin over jobs, each job's entries oldest first: one busy job cannot starve another
 * (fairness across jobs), while every job keeps its own order.
 */
export function fairOrder(entries: readonly QueueEntry[]): QueueEntry[] {
  const byJob = new Map<string, QueueEntry[]>();
  for (const e of entries) {
    const list = byJob.get(e.job) ?? [];
    list.push(e);
    byJob.set(e.job, list);
  }
  const lists = [...byJob.values()];
  const out: QueueEntry[] = [];
  for (let i = 0; out.length < entries.length; i++) {
    for (const list of lists) {
      const e = list[i];
      if (e !== undefined) out.push(e);
    }
  }
  return out;
}

/**
 * The dispatcher's drain: starts queued requests, oldest first per job and fair across jobs,
 * within this instance's RunJob budget, until the queue is empty or the deadline comes. It also
 * takes over entries whose holder died after admission (`dispatching`, lease expired): adopts the
 * execution it had started, or starts it. Runs inside a request (a push delivery, `POST
 * /reconcile`, `jobbridge reconcile`), so it works on Cloud Run with CPU only during requests; any
 * number of drains on any number of instances may run at once, since each move out of the queue
 * is fenced (store/job-queue.ts). One drain at a time per instance: a second caller joins it.
 */
export class Drainer {
  private readonly deps: DrainDeps;
  private readonly now: () => Date;
  private running: { promise: Promise<DrainResult>; deadlineMs: number; wait: boolean } | undefined;

  constructor(deps: DrainDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Drains until `deadlineMs` (epoch ms). `wait: false` (a push delivery's drain) never waits
   * for the RunJob budget: it starts what the budget has room for now and stops. A call joins
   * the drain already running when that one goes as far (a later deadline, waiting if this call
   * waits); otherwise it runs its own drain after that one.
   */
  drain(deadlineMs: number, options: DrainOptions = {}): Promise<DrainResult> {
    const wait = options.wait ?? true;
    const running = this.running;
    if (running === undefined) {
      const run = this.run(deadlineMs, wait).finally(() => {
        if (this.running?.promise === run) this.running = undefined;
      });
      this.running = { promise: run, deadlineMs, wait };
      return run;
    }
    if (running.deadlineMs >= deadlineMs && (running.wait || !wait)) return running.promise;
    return running.promise.then(
      () => this.drain(deadlineMs, options),
      () => this.drain(deadlineMs, options),
    );
  }

  private async run(deadlineMs: number, wait: boolean): Promise<DrainResult> {
    // Until when a RunJob ticket is waited for: a drain that does not wait takes what is free.
    const ticketsUntil = wait ? deadlineMs : 0;
    const startedAt = performance.now();
    const ops = newOpCount();
    const counts: Record<Step, number> = {
      started: 0,
      adopted: 0,
      requeued: 0,
      cancelled: 0,
      failed: 0,
      raced: 0,
      'key-busy': 0,
      'no-ticket': 0,
      skipped: 0,
    };
    const pageSize = this.deps.pageSize ?? Math.max(100, this.deps.batchMaxRequests ?? 1);
    // Entries left where they are in this drain (key busy, nothing stored): read past them.
    const passed = new Set<string>();
    let stoppedBy: DrainResult['stoppedBy'] = 'empty';
    let batches = 0;
    const tally = (job: string, outcome: BatchOutcome): boolean => {
      switch (outcome.kind) {
        case 'no-ticket':
          return false;
        case 'started':
          batches++;
          counts.started += outcome.members;
          break;
        case 'requeued':
          counts.requeued += outcome.members;
          for (const id of outcome.docIds) passed.add(id);
          if (outcome.docIds.length > 0) this.deps.knowledge.add(job);
          break;
        case 'released':
          counts.requeued += outcome.members;
          break;
        default:
          counts[outcome.kind] += outcome.members;
      }
      return true;
    };
    // Batches first: their members' own entries below are the batch's to move, not ours.
    if (this.deps.batches !== undefined) {
      const gone = new Date(this.now().getTime() - 1000);
      const abandonedBatches = await this.deps.batches.abandonedBatches(gone, 20);
      ops.reads += abandonedBatches.length;
      for (const batch of abandonedBatches) {
        if (Date.now() >= deadlineMs) break;
        try {
          tally(batch.job, await takeOverBatch(this.batchDeps(), batch, ops));
        } catch (err: unknown) {
          this.deps.log?.warn({ err, batchId: batch.batchId }, 'drain: batch left for later');
        }
      }
    }
    // A holder that died leaves its lease to expire; a margin keeps clear of one that is slow.
    const abandoned = await this.deps.queue.abandoned(new Date(this.now().getTime() - 1000), 50);
    ops.reads += abandoned.length;
    for (const entry of abandoned) {
      if (Date.now() >= deadlineMs) break;
      const step = await this.take(entry, ticketsUntil, ops);
      counts[step]++;
      if (step === 'skipped' || step === 'key-busy') passed.add(entry.docId);
      if (step === 'no-ticket') break;
    }
    // A batch waits for room in the budget before its page is read, not after: what is queued
    // during the wait is then read too, and joins it. Single requests wait for their ticket as
    // they go (reading a page again per ticket would cost a page of reads per execution).
    const batching = this.deps.batches !== undefined && (this.deps.batchMaxRequests ?? 1) > 1;
    let roomFirst = batching && this.deps.knowledge.any;
    for (;;) {
      if (Date.now() >= deadlineMs) {
        stoppedBy = 'deadline';
        break;
      }
      if (roomFirst) {
        roomFirst = false;
        if (!(await this.deps.budget.waitForRoom(ticketsUntil))) {
          stoppedBy = Date.now() >= deadlineMs ? 'deadline' : 'budget';
          break;
        }
      }
      const page = await this.deps.queue.oldest(pageSize + passed.size);
      ops.reads += page.length;
      const fresh = page.filter((e) => !passed.has(e.docId));
      const complete = page.length < pageSize + passed.size;
      // A request waiting for its key's slot holds up nobody else of its job.
      const waiting = page.filter((e) => e.reason !== 'concurrency-key').map((e) => e.job);
      if (complete) this.deps.knowledge.replace(waiting);
      else for (const job of waiting) this.deps.knowledge.add(job);
      if (fresh.length === 0) break;
      const { groups, singles } = await this.plan(fresh);
      let progressed = false;
      let noTicket = false;
      for (const group of groups) {
        if (Date.now() >= deadlineMs) break;
        const job = group[0]?.request.job ?? '';
        try {
          if (!tally(job, await startBatch(this.batchDeps(), group, ops))) {
            noTicket = true;
            break;
          }
        } catch (err: unknown) {
          this.deps.log?.warn({ err, job }, 'drain: batch left for the next drain');
          counts.skipped += group.length;
          for (const c of group) passed.add(c.entry.docId);
        }
        progressed = true;
      }
      if (noTicket) {
        // Wait for room, then read the queue again, arrivals included.
        if (wait) {
          roomFirst = true;
          continue;
        }
        stoppedBy = 'budget';
        break;
      }
      const steps = await this.pool(fairOrder(singles), ticketsUntil, ops);
      for (const [entry, step] of steps) {
        counts[step]++;
        // Back in the queue after a launch error: the next drain tries it again, not this one.
        if (step === 'skipped' || step === 'key-busy' || step === 'requeued')
          passed.add(entry.docId);
        if (step !== 'no-ticket') progressed = true;
      }
      if (steps.some(([, step]) => step === 'no-ticket')) {
        stoppedBy = Date.now() >= deadlineMs ? 'deadline' : 'budget';
        break;
      }
      if (!progressed) break;
    }
    let depth: QueueDepth = { depth: 0, oldestQueuedAt: null };
    try {
      depth = await this.deps.queue.depth();
      ops.reads += 2;
    } catch (err: unknown) {
      this.deps.log?.warn({ err }, 'drain: queue depth unavailable');
    }
    const result: DrainResult = {
      started: counts.started,
      adopted: counts.adopted,
      requeued: counts.requeued,
      cancelled: counts.cancelled,
      failed: counts.failed,
      raced: counts.raced,
      batches,
      stoppedBy,
      queueDepth: depth.depth,
      oldestQueuedAgeMs:
        depth.oldestQueuedAt === null ? null : Date.now() - depth.oldestQueuedAt.getTime(),
      durationMs: Math.round(performance.now() - startedAt),
      firestore: ops,
    };
    this.deps.log?.info({ ...result, budget: this.deps.budget.gauge() }, 'drain');
    return result;
  }

  /**
   * Runs `take` over the entries with a few in flight at once, in their order; entries of one
   * `concurrencyKey` one after the other, so that the oldest of a key gets its free slot.
   */
  private async pool(
    entries: readonly QueueEntry[],
    deadlineMs: number,
    ops: OpCount,
  ): Promise<[QueueEntry, Step][]> {
    const out: [QueueEntry, Step][] = [];
    const left = [...entries];
    const busyKeys = new Set<string>();
    let stop = false;
    const waiting: (() => void)[] = [];
    const wake = () => {
      for (const resolve of waiting.splice(0)) resolve();
    };
    const worker = async () => {
      while (!stop && left.length > 0) {
        const i = left.findIndex(
          (e) => e.concurrencyKey === null || !busyKeys.has(e.concurrencyKey),
        );
        if (i < 0) {
          // Every entry left waits for a key another worker holds: wait for it to finish.
          await new Promise<void>((resolve) => waiting.push(resolve));
          continue;
        }
        const [entry] = left.splice(i, 1) as [QueueEntry];
        if (entry.concurrencyKey !== null) busyKeys.add(entry.concurrencyKey);
        try {
          const step = await this.take(entry, deadlineMs, ops);
          out.push([entry, step]);
          if (step === 'no-ticket') stop = true;
        } finally {
          if (entry.concurrencyKey !== null) busyKeys.delete(entry.concurrencyKey);
          wake();
        }
      }
      wake();
    };
    const width = Math.max(1, this.deps.parallelism ?? 4);
    await Promise.all(Array.from({ length: Math.min(width, entries.length) }, worker));
    return out;
  }

  private batchDeps(): BatchDeps {
    const { launcher, budget, maxRetries, leaseMs, log } = this.deps;
    return {
      batches: this.deps.batches as JobBatchStore,
      launcher,
      budget,
      maxRetries,
      leaseMs,
      retentionMs: this.deps.retentionMs ?? 30 * 86_400_000,
      now: this.now,
      ...(log ? { log } : {}),
    };
  }

  /**
   * Splits a page (oldest first) into batches of compatible requests and the entries that start
   * on their own: raw-args requests, keyed ones, cancels, entries that may have an execution
   * already, and whatever does not pass its checks (which `take` then fails, naming why).
   */
  private async plan(
    entries: readonly QueueEntry[],
  ): Promise<{ groups: Candidate[][]; singles: QueueEntry[] }> {
    const max = this.deps.batchMaxRequests ?? 1;
    if (this.deps.batches === undefined || max <= 1) return { groups: [], singles: [...entries] };
    const candidates: Candidate[] = [];
    const singles: QueueEntry[] = [];
    for (const entry of entries) {
      const request = this.batchable(entry) ? this.storedRequest(entry) : undefined;
      if (typeof request !== 'object' || request.function === undefined) {
        singles.push(entry);
        continue;
      }
      let taskCount: number;
      try {
        taskCount = (await this.deps.maxRetries.info(request.job)).taskCount;
      } catch {
        singles.push(entry);
        continue;
      }
      candidates.push({ entry, request, member: memberOf(entry, request, taskCount) });
    }
    const groups = coalesce(candidates, batchCaps(max));
    const grouped = new Set(groups.flat().map((c) => c.entry.docId));
    for (const c of candidates) if (!grouped.has(c.entry.docId)) singles.push(c.entry);
    return { groups, singles };
  }

  private batchable(entry: QueueEntry): boolean {
    return (
      entry.state === 'queued' &&
      !entry.cancelRequested &&
      !entry.checkStarted &&
      entry.batchId === null &&
      entry.pendingRequest !== undefined &&
      (entry.concurrencyKey === null || this.deps.keyConcurrency <= 0)
    );
  }

  /** One entry: cancel, fail, adopt or start it. Never throws: an error leaves it for later. */
  private async take(entry: QueueEntry, deadlineMs: number, ops: OpCount): Promise<Step> {
    try {
      return await this.takeOrThrow(entry, deadlineMs, ops);
    } catch (err: unknown) {
      this.deps.log?.warn({ err, docId: entry.docId }, 'drain: entry left for the next drain');
      return 'skipped';
    }
  }

  private async takeOrThrow(entry: QueueEntry, deadlineMs: number, ops: OpCount): Promise<Step> {
    const now = this.now();
    if (entry.state === 'queued' && entry.cancelRequested)
      return (await this.deps.queue.cancel(entry, now, ops)) ? 'cancelled' : 'raced';
    // Written before requests were kept (or by hand): only its Pub/Sub redelivery can start it.
    if (entry.pendingRequest === undefined) return 'skipped';
    // Claimed in a batch whose drainer died: the batch is taken over, never its members alone.
    if (entry.batchId !== null) return 'skipped';
    const request = this.storedRequest(entry);
    if (typeof request === 'string') {
      const error = { code: 'invalid-stored-request', message: request };
      return (await this.deps.queue.fail(entry, error, now, ops)) ? 'failed' : 'raced';
    }
    const ticket = await this.deps.budget.take(deadlineMs);
    if (ticket === undefined) return 'no-ticket';
    let lease: Lease | 'key-busy' | undefined;
    try {
      lease = await this.lease(entry, ops);
    } catch (err: unknown) {
      ticket.unused();
      throw err;
    }
    if (lease === undefined || lease === 'key-busy') {
      ticket.unused();
      return lease === undefined ? 'raced' : 'key-busy';
    }
    return this.startHolding(entry, request, lease, ticket, ops);
  }

  private async startHolding(
    entry: QueueEntry,
    request: JobRequest,
    lease: Lease,
    ticket: Ticket,
    ops: OpCount,
  ): Promise<Step> {
    const { repository, launcher } = this.deps;
    // Its holder may have died after RunJob and before recording it: adopt, never rerun.
    if (entry.checkStarted || entry.state === 'dispatching') {
      let found;
      try {
        found = await findStarted(launcher, [entry.job, request.job], entry.requestId);
      } catch (err: unknown) {
        ticket.unused();
        await repository.requeue(
          lease,
          { reason: 'runjob-rate', checkStarted: true, queuedAt: entry.queuedAt ?? this.now() },
          this.now(),
          ops,
        );
        throw err;
      }
      if (found !== undefined) {
        ticket.unused();
        const record = { operationName: null, executionName: found.name, adopted: true };
        const held = await repository.recordDispatched(lease, record, this.now(), ops);
        return held ? 'adopted' : 'raced';
      }
    }
    if (entry.cancelRequested) {
      ticket.unused();
      const verdict = await repository.cancelIfRequested(lease, this.now(), ops);
      return verdict === 'cancelled' ? 'cancelled' : 'raced';
    }
    const result = await startLeased(
      { repository, launcher, maxRetries: this.deps.maxRetries, now: this.now },
      { lease, requestId: entry.requestId, request, queuedAt: entry.queuedAt ?? undefined },
      ticket,
      ops,
    );
    switch (result.kind) {
      case 'dispatched':
        return 'started';
      case 'adopted':
        return 'adopted';
      case 'requeued':
        this.deps.knowledge.add(request.job);
        return 'requeued';
      case 'failed':
        return 'failed';
      case 'lease-lost':
        return 'raced';
    }
  }

  private lease(entry: QueueEntry, ops: OpCount): Promise<Lease | 'key-busy' | undefined> {
    const owner = randomUUID();
    const keyed = entry.concurrencyKey !== null && this.deps.keyConcurrency > 0;
    return keyed
      ? this.deps.queue.leaseKeyed(
          entry,
          owner,
          this.now(),
          this.deps.leaseMs,
          this.deps.keyConcurrency,
          ops,
        )
      : this.deps.queue.lease(entry, owner, this.now(), this.deps.leaseMs, ops);
  }

  /**
   * The stored request, through the same parse, allowlist and policy as a fresh push, and bound
   * to the digest stored at admission: code that can
   * write Firestore must not be able to start what a publisher could not. A string says why not.
   */
  private storedRequest(entry: QueueEntry): JobRequest | string {
    let json: unknown;
    try {
      json = JSON.parse(entry.pendingRequest ?? '');
    } catch {
      return 'the stored request is not JSON';
    }
    const parsed = parseJobRequest(json);
    if (!parsed.ok) return `the stored request is invalid: ${parsed.error.message}`;
    if (!this.deps.jobs.has(parsed.value.job))
      return `job "${parsed.value.job}" is not on this bridge's allowlist`;
    const refused = policyIssues(parsed.value, policyFor(this.deps.policies, parsed.value.job));
    if (refused.length > 0)
      return `the stored request is refused by its job's policy: ${refused
        .map((i) => `${i.path}: ${i.reason}`)
        .join('; ')}`;
    // Admission stored the digest of what it admitted: any other content was written since.
    // A document without one was queued by a bridge older than digests (or forged without it).
    if (entry.digest === null)
      return 'digest: missing (queued before request digests were stored, or not by a bridge); publish the request again';
    if (entry.digest !== requestDigest(parsed.value))
      return 'digest: does not match the stored request (changed since admission)';
    return parsed.value;
  }
}
