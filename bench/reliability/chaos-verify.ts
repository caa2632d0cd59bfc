import type { Firestore } from '@google-cloud/firestore';
import type { RunClients } from '../../src/launcher/index.ts';
import { slicesPerRequest } from '../lib/slices.ts';

export interface ChaosVerdict {
  /** Executions started, in all. */
  executions: number;
  /** Of them, executions of batches (each runs a slice per member). */
  batchExecutions: number;
  /** Job documents by state, over every request published. */
  terminalStates: Record<string, number>;
  /** First publish → `finishedAt` of each valid job that finished: p50, p99 and max, in ms. */
  latencyMs: { p50: number; p99: number; max: number };
  /** Every broken promise, one line each; empty when the run kept them all. */
  problems: string[];
}

export interface VerifyInput {
  firestore: Firestore;
  run: RunClients;
  /** `projects/P/locations/L/jobs/J`: where the executions are listed. */
  parent: string;
  /** Every document id the load should have produced, and whether its request was valid. */
  docIds: ReadonlyMap<string, 'valid' | 'invalid'>;
  /** Request ids of the valid requests (their document ids are the same: they need no hash). */
  valid: ReadonlySet<string>;
  /** Epoch ms of each valid request's first publish. */
  publishedAt: ReadonlyMap<string, number>;
  timeoutMs: number;
  progress?: (line: string) => void;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'rejected']);
const STUCK = ['queued', 'dispatching', 'dispatched', 'running'];

function settled(kind: 'valid' | 'invalid', state: unknown): boolean {
  return kind === 'valid'
    ? TERMINAL.has(String(state)) && state !== 'rejected'
    : state === 'rejected';
}

async function statesOf(firestore: Firestore): Promise<Map<string, Record<string, unknown>>> {
  const snap = await firestore.collection('jobs').get();
  return new Map(snap.docs.map((d) => [d.id, d.data()]));
}

/**
 * Polls the job documents until every request settled (valid → a terminal state, invalid →
 * `rejected`) or the deadline passed, then checks: one execution per valid request id and none
 * for anything else, every valid job `succeeded`, nothing left in a non-terminal state.
 */
export async function verifyChaos(input: VerifyInput): Promise<ChaosVerdict> {
  const deadline = Date.now() + input.timeoutMs;
  let docs = await statesOf(input.firestore);
  let lastReport = 0;
  for (;;) {
    const pending = [...input.docIds].filter(([id, kind]) => !settled(kind, docs.get(id)?.state));
    if (pending.length === 0 || Date.now() > deadline) break;
    if (Date.now() - lastReport > 10_000) {
      input.progress?.(`waiting for ${pending.length} request(s) to settle`);
      lastReport = Date.now();
    }
    await new Promise((r) => setTimeout(r, 1000));
    docs = await statesOf(input.firestore);
  }
  const problems: string[] = [];
  const terminalStates: Record<string, number> = {};
  for (const [id, kind] of input.docIds) {
    const doc = docs.get(id);
    const state = typeof doc?.state === 'string' ? doc.state : 'missing';
    terminalStates[state] = (terminalStates[state] ?? 0) + 1;
    if (kind === 'invalid' && state !== 'rejected')
      problems.push(`invalid request ${id} is ${state}, not rejected`);
    if (kind === 'valid' && state !== 'succeeded') {
      const error = JSON.stringify(doc?.error ?? null);
      problems.push(`valid request ${id} is ${state} (error ${error})`);
    }
  }
  for (const [id, doc] of docs) {
    if (STUCK.includes(String(doc.state)) && !input.docIds.has(id))
      problems.push(`job ${id} is stuck in ${String(doc.state)}`);
  }
  const [executions] = await input.run.executions.listExecutions({ parent: input.parent });
  // Slices per request id: its own execution, or its member slice of a batch's execution.
  const { perRequest, batchExecutions } = await slicesPerRequest(input.firestore, executions);
  for (const id of input.valid) {
    const n = perRequest.get(id) ?? 0;
    if (n !== 1) problems.push(`valid request ${id} has ${n} executions`);
  }
  for (const [id, n] of perRequest) {
    if (!input.valid.has(id))
      problems.push(`${n} execution(s) for ${id}, which is not a valid request`);
  }
  const latencies: number[] = [];
  for (const [id, at] of input.publishedAt) {
    const finished = docs.get(id)?.finishedAt as { toMillis?: () => number } | undefined;
    if (typeof finished?.toMillis === 'function') latencies.push(finished.toMillis() - at);
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  const latencyMs = { p50: at(0.5), p99: at(0.99), max: latencies.at(-1) ?? 0 };
  return {
    executions: executions.length,
    batchExecutions,
    terminalStates,
    latencyMs,
    problems,
  };
}
