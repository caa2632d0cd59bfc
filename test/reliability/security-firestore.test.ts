import { randomUUID } from 'node:crypto';
import { FieldValue } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_JOB_POLICY, requestDigest, type JobRequest } from '../../src/contract/index.ts';
import { claimDocument } from '../../src/store/job-claim-document.ts';
import { emulatorHosts } from '../harness/google.ts';
import { REGION } from '../../bench/lib/bridge-config.ts';
import {
  ALLOWED_JOB,
  startInProcessBridge,
  UNLISTED_JOB,
  type InProcessBridge,
} from '../../bench/reliability/inprocess-bridge.ts';
import { envelope } from '../../bench/lib/inprocess-bridge.ts';

const DAY_MS = 24 * 3600 * 1000;

/**
 * The security suite, Firestore half: documents written by someone who may write the jobs
 * collection (every job function, with the deploy guide's roles), and ids squatted or reused
 * with other content. Nothing a publisher could not start is started; each refusal is recorded
 * on the document and logged.
 */
describe('security: nothing launched from Firestore unchecked; ids bound to content', () => {
  let bridge: InProcessBridge;

  const push = async (request: Record<string, unknown>) => {
    const res = await bridge.push(envelope(request));
    return { status: res.status, outcome: res.body.outcome };
  };
  const reconcile = async () => {
    const res = await bridge.app.inject({ method: 'POST', url: '/reconcile', payload: '' });
    expect(res.statusCode).toBe(200);
    return res.json<{ drain?: Record<string, number>; actions: Record<string, number> }>();
  };
  const doc = (id: string) => bridge.jobDoc(id);
  const logged = (message: string) =>
    bridge.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.message === message);

  /** Writes a `queued` document as a forger would, with a correct digest of what it asks for. */
  async function forgeQueued(request: JobRequest): Promise<string> {
    const id = `forged-${randomUUID()}`;
    const now = new Date(Date.now() - 60_000);
    const document = claimDocument({
      docId: id,
      requestId: id,
      request: { ...request, requestId: id, concurrencyKey: `k-${id}` },
      source: { messageId: 'forged' },
      owner: 'forger',
      now,
      leaseMs: 1,
      retentionMs: DAY_MS,
    });
    await bridge.firestore
      .collection('jobs')
      .doc(id)
      .set({
        ...document,
        state: 'queued',
        queue: { reason: 'concurrency-key', queuedAt: now, checkStarted: false },
        dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 0 },
      });
    return id;
  }

  beforeAll(async () => {
    bridge = await startInProcessBridge({
      firestoreHost: emulatorHosts().firestore,
      config: {
        jobs: new Set([ALLOWED_JOB]),
        policies: new Map([[ALLOWED_JOB, { ...DEFAULT_JOB_POLICY, functions: ['simulate'] }]]),
        limits: {
          runJobPerMinute: 100_000,
          runJobBurst: 10_000,
          maxConcurrentLaunches: 1000,
          keyConcurrency: 1,
        },
      },
    });
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it('a forged queued document with off-policy args, or a job off the allowlist, is refused and never launched', async () => {
    const rawArgs = await forgeQueued({
      schemaVersion: 1,
      job: ALLOWED_JOB,
      args: ['cancel', 'victim'],
    });
    const otherJob = await forgeQueued({
      schemaVersion: 1,
      job: UNLISTED_JOB,
      function: 'simulate',
    });
    const tenThousand = await forgeQueued({
      schemaVersion: 1,
      job: ALLOWED_JOB,
      function: 'fan-out',
      taskCount: 10_000,
    });
    const summary = await reconcile();
    expect(summary.drain?.failed).toBeGreaterThanOrEqual(3);
    for (const [id, field] of [
      [rawArgs, 'args'],
      [otherJob, 'job'],
      [tenThousand, 'function'],
    ] as const) {
      const stored = await doc(id);
      expect(stored?.state, id).toBe('failed');
      const error = stored?.error as { code: string; message: string };
      expect(error.code).toBe('invalid-stored-request');
      expect(error.message, id).toContain(field);
    }
    expect(await bridge.executionRequestIds()).not.toContain(rawArgs);
    expect(await bridge.executionRequestIds()).not.toContain(tenThousand);
    expect(await bridge.executionRequestIds(UNLISTED_JOB)).toEqual([]);
    expect(logged('reconcile pass').length).toBeGreaterThanOrEqual(1);
  });

  it('a queued document whose args were changed after admission (digest differs) is refused', async () => {
    const id = await forgeQueued({
      schemaVersion: 1,
      job: ALLOWED_JOB,
      function: 'simulate',
      args: ['a'],
    });
    const admitted = JSON.parse(String((await doc(id))?.pendingRequest)) as JobRequest;
    await bridge.firestore
      .collection('jobs')
      .doc(id)
      .update({ pendingRequest: JSON.stringify({ ...admitted, args: ['b'] }), args: ['b'] });
    await reconcile();
    const stored = await doc(id);
    expect(stored?.state).toBe('failed');
    const error = stored?.error as { code: string; message: string };
    expect(error.code).toBe('invalid-stored-request');
    expect(error.message).toContain('digest');
    expect(await bridge.executionRequestIds()).not.toContain(id);
  });

  it('a queued document written before digests existed is refused at drain, naming digest', async () => {
    const id = await forgeQueued({ schemaVersion: 1, job: ALLOWED_JOB, function: 'simulate' });
    // What a bridge of an earlier version left in the queue: the same document, no digest field.
    await bridge.firestore.collection('jobs').doc(id).update({ digest: FieldValue.delete() });
    await reconcile();
    const stored = await doc(id);
    expect(stored?.state).toBe('failed');
    const error = stored?.error as { code: string; message: string };
    expect(error.code).toBe('invalid-stored-request');
    expect(error.message).toMatch(/^digest: missing/);
    expect(await bridge.executionRequestIds()).not.toContain(id);
  });

  it('a valid queued document is still dispatched (the refusals above were not luck)', async () => {
    const id = await forgeQueued({ schemaVersion: 1, job: ALLOWED_JOB, function: 'simulate' });
    await reconcile();
    expect((await doc(id))?.state).toBe('dispatched');
    expect(await bridge.executionRequestIds()).toContain(id);
  });

  it('a forged execution name (other project, other job) is never read or cancelled', async () => {
    const cases = [
      `projects/other-project/locations/${REGION}/jobs/${ALLOWED_JOB}/executions/${ALLOWED_JOB}-abcde`,
      `projects/${bridge.projectId}/locations/us-central1/jobs/${ALLOWED_JOB}/executions/${ALLOWED_JOB}-abcde`,
      `projects/${bridge.projectId}/locations/${REGION}/jobs/${UNLISTED_JOB}/executions/${UNLISTED_JOB}-abcde`,
      `projects/${bridge.projectId}/locations/${REGION}/jobs/${ALLOWED_JOB}/executions/../../x`,
    ];
    const ids: string[] = [];
    for (const executionName of cases) {
      const id = `forged-exec-${randomUUID()}`;
      ids.push(id);
      const old = new Date(Date.now() - DAY_MS);
      await bridge.firestore
        .collection('jobs')
        .doc(id)
        .set({
          ...claimDocument({
            docId: id,
            requestId: id,
            request: { schemaVersion: 1, job: ALLOWED_JOB, function: 'simulate' },
            source: { messageId: 'forged' },
            owner: 'x',
            now: old,
            leaseMs: 1,
            retentionMs: 2 * DAY_MS,
          }),
          state: 'dispatched',
          cancelRequested: true,
          dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 1, executionName },
        });
    }
    await reconcile();
    for (const id of ids) {
      const stored = await doc(id);
      expect(stored?.state, id).toBe('failed');
      expect((stored?.error as { code: string }).code).toBe('execution-untrusted');
    }
  });

  it('a squatted id (invalid content first) does not block the real request, and keeps what was rejected', async () => {
    const id = `nightly-export-${randomUUID()}`;
    const squat = await push({ schemaVersion: 1, requestId: id, job: ALLOWED_JOB, taskCount: 0 });
    expect(squat).toEqual({ status: 200, outcome: 'rejected:taskCount' });
    const real = await push({
      schemaVersion: 1,
      requestId: id,
      job: ALLOWED_JOB,
      function: 'simulate',
    });
    expect(real).toEqual({ status: 201, outcome: 'dispatched' });
    const stored = await doc(id);
    expect(stored?.state).toBe('dispatched');
    expect(stored?.rejection).toMatchObject({ error: { code: 'rejected:taskCount' } });
    expect(stored?.digest).toBe(
      requestDigest({ schemaVersion: 1, job: ALLOWED_JOB, function: 'simulate' }),
    );
    expect((await bridge.executionRequestIds()).filter((r) => r === id)).toHaveLength(1);
  });

  it('the same id with other content after admission → rejected:conflict, never runs', async () => {
    const id = `conflict-${randomUUID()}`;
    const first = {
      schemaVersion: 1,
      requestId: id,
      job: ALLOWED_JOB,
      function: 'simulate',
      args: ['a'],
    };
    expect(await push(first)).toEqual({ status: 201, outcome: 'dispatched' });
    expect(await push({ ...first, args: ['b'] })).toEqual({
      status: 200,
      outcome: 'rejected:conflict',
    });
    expect(await push(first)).toEqual({ status: 200, outcome: 'duplicate' });
    expect((await bridge.executionRequestIds()).filter((r) => r === id)).toHaveLength(1);
    expect((await doc(id))?.args).toEqual(['a']);
  });

  it('a takeover of an expired lease with other args → rejected:conflict; with the same content it runs', async () => {
    const id = `takeover-${randomUUID()}`;
    const original: JobRequest = {
      schemaVersion: 1,
      requestId: id,
      job: ALLOWED_JOB,
      function: 'simulate',
      args: ['a'],
    };
    // What a bridge that died after its claim leaves behind: `dispatching`, lease expired.
    await bridge.firestore
      .collection('jobs')
      .doc(id)
      .create(
        claimDocument({
          docId: id,
          requestId: id,
          request: original,
          source: { messageId: 'm' },
          owner: 'dead-bridge',
          now: new Date(Date.now() - 3_600_000),
          leaseMs: 1000,
          retentionMs: DAY_MS,
        }),
      );
    expect(await push({ ...original, args: ['evil'] })).toEqual({
      status: 200,
      outcome: 'rejected:conflict',
    });
    expect(await bridge.executionRequestIds()).not.toContain(id);
    expect((await doc(id))?.state).toBe('dispatching');
    expect(await push({ ...original })).toEqual({ status: 201, outcome: 'dispatched' });
    expect((await bridge.executionRequestIds()).filter((r) => r === id)).toHaveLength(1);
  });
});
