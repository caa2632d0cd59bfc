import { EventEmitter } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BATCH_COLLECTION,
  batchDigest,
  jobDocumentId,
  type BatchContent,
} from '../../src/contract/index.ts';
import { parseWorkerConfig } from '../../src/config/worker.ts';
import { ConfigError } from '../../src/config/env-reader.ts';
import { silentLogger } from '../../src/log.ts';
import { batchReader } from '../../src/store/batch-read.ts';
import { resolveBatchTask, runBatchTask } from '../../src/worker/batch-task.ts';
import type { FunctionRegistry } from '../../src/worker/function-types.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { createDispatchedJob, readJob, readTask } from './helpers.ts';

/** In-process: how a batch task decides what to run from the document it reads once. */
const projectId = testProjectId('batch-resolve');
const db = testFirestore(projectId);
const reader = batchReader(db);
afterAll(async () => {
  await db.terminate();
});

const content: BatchContent = {
  job: 'simulate',
  members: [
    {
      requestId: 'r-one',
      documentId: jobDocumentId('r-one'),
      offset: 0,
      taskCount: 2,
      function: 'probe',
      args: ['one'],
      env: { APP_MODE: 'one' },
    },
    {
      requestId: 'r-two',
      documentId: jobDocumentId('r-two'),
      offset: 2,
      taskCount: 3,
      function: 'probe',
      args: ['two', '--flag'],
      env: {},
    },
  ],
};

function config(batchId: string, taskIndex: number, extra: Record<string, string> = {}) {
  return parseWorkerConfig(
    {
      JOBBRIDGE_BATCH_ID: batchId,
      JOBBRIDGE_BATCH_DIGEST: batchDigest(content),
      CLOUD_RUN_TASK_INDEX: String(taskIndex),
      CLOUD_RUN_TASK_COUNT: '5',
      JOBBRIDGE_MAX_RETRIES: '2',
      ...extra,
    },
    'batch',
  );
}

async function store(batchId: string, data: unknown) {
  await db
    .collection(BATCH_COLLECTION)
    .doc(batchId)
    .set(data as Record<string, unknown>);
}

describe('resolving a batch task', () => {
  it('names the member and the task’s index in it, with the member’s function, args, env, and the execution’s maxRetries', async () => {
    await store('ok', { ...content, digest: batchDigest(content), state: 'dispatched' });
    const found = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => resolveBatchTask(reader, config('ok', i), silentLogger())),
    );
    expect(
      found.map((f) => f.kind === 'run' && `${f.identity.jobId}:${f.identity.taskIndex}`),
    ).toEqual(['r-one:0', 'r-one:1', 'r-two:0', 'r-two:1', 'r-two:2']);
    expect(found[3]).toEqual({
      kind: 'run',
      identity: {
        jobId: 'r-two',
        requestId: 'r-two',
        functionName: 'probe',
        args: ['two', '--flag'],
        env: {},
        taskIndex: 1,
        taskCount: 3,
        maxRetries: 2,
        batchId: 'ok',
      },
    });
  });

  it('refuses a document whose content is not what the digest says, naming the member to fail', async () => {
    const changed = structuredClone(content);
    changed.members[0]!.env = { APP_MODE: 'changed' };
    await store('changed', changed);
    const found = await resolveBatchTask(reader, config('changed', 4), silentLogger());
    expect(found.kind).toBe('refuse');
    if (found.kind !== 'refuse') return;
    expect(found.identity).toMatchObject({ jobId: 'r-two', taskIndex: 2 });
    expect(found.reason).toMatch(
      /^batches\/changed does not match JOBBRIDGE_BATCH_DIGEST \(the document was changed after the batch started: its digest is v1:sha256:[0-9a-f]{64}, the execution's v1:sha256:[0-9a-f]{64}\); nothing was run$/,
    );
  });

  it('refuses when the execution’s task count is not the members’ sum', async () => {
    await store('count', content);
    const found = await resolveBatchTask(
      reader,
      config('count', 1, { CLOUD_RUN_TASK_COUNT: '6' }),
      silentLogger(),
    );
    expect(found).toMatchObject({
      kind: 'refuse',
      identity: { jobId: 'r-one', taskIndex: 1 },
      reason:
        'batches/count holds 5 tasks but the execution has CLOUD_RUN_TASK_COUNT=6; nothing was run',
    });
  });

  it('names no member for a missing or malformed document, or a task past the members', async () => {
    expect(await resolveBatchTask(reader, config('absent', 0), silentLogger())).toEqual({
      kind: 'unplaced',
      reason: 'batches/absent does not exist',
    });
    await store('malformed', { ...content, members: [{ ...content.members[0], offset: 3 }] });
    expect(await resolveBatchTask(reader, config('malformed', 0), silentLogger())).toEqual({
      kind: 'unplaced',
      reason:
        'batches/malformed: invalid batch document: members.0.offset: must be 0 (offsets are contiguous from 0, in task order)',
    });
    await store('short', content);
    expect(
      await resolveBatchTask(
        reader,
        config('short', 5, { CLOUD_RUN_TASK_COUNT: '6' }),
        silentLogger(),
      ),
    ).toEqual({
      kind: 'unplaced',
      reason: 'batches/short has no member for task 5 (its members hold 5 tasks)',
    });
  });

  it('batch mode needs the batch id and digest; single mode the request id', () => {
    expect(() => parseWorkerConfig({}, 'batch')).toThrow(ConfigError);
    expect(() => parseWorkerConfig({}, 'batch')).toThrow(
      /JOBBRIDGE_BATCH_ID is required by `work --batch`[\s\S]*JOBBRIDGE_BATCH_DIGEST is required/,
    );
    expect(() =>
      parseWorkerConfig({ JOBBRIDGE_BATCH_ID: 'a/b', JOBBRIDGE_BATCH_DIGEST: 'd' }, 'batch'),
    ).toThrow(/JOBBRIDGE_BATCH_ID must be a batch document id \(it contains "\/"\)/);
    expect(() => parseWorkerConfig({ JOBBRIDGE_BATCH_ID: 'b' })).toThrow(
      /JOBBRIDGE_REQUEST_ID is required/,
    );
  });

  it('a member’s args fail its function’s declared args check as a normal task’s would: permanently, nothing run', async () => {
    let ran = 0;
    const registry: FunctionRegistry = {
      probe: () =>
        Promise.resolve({
          default: () => {
            ran++;
          },
          args: (args: readonly string[]) => {
            if (args.includes('--flag')) throw new Error('--flag is not allowed');
          },
        }),
    };
    await store('typed', { ...content, digest: batchDigest(content) });
    await createDispatchedJob(db, 'r-two', 3);
    const env: Record<string, string | undefined> = {};
    const code = await runBatchTask({
      db,
      config: config('typed', 2),
      registry,
      batches: reader,
      processEnv: env,
      log: silentLogger(),
      signals: new EventEmitter(),
    });
    expect(code).toBe(0);
    expect(ran).toBe(0);
    expect(await readTask(db, 'r-two', 0)).toMatchObject({
      state: 'failed',
      willRetry: false,
      error: {
        code: 'permanent',
        message: 'function "probe": invalid args: --flag is not allowed',
      },
    });
    expect((await readJob(db, 'r-two')).state).toBe('failed');

    // And a member whose args pass runs, with its env set where the task's env is.
    await createDispatchedJob(db, 'r-one', 2);
    expect(
      await runBatchTask({
        db,
        config: config('typed', 0),
        registry,
        batches: reader,
        processEnv: env,
        log: silentLogger(),
        signals: new EventEmitter(),
      }),
    ).toBe(0);
    expect(ran).toBe(1);
    expect(env).toEqual({ APP_MODE: 'one' });
    expect(await readTask(db, 'r-one', 0)).toMatchObject({ state: 'succeeded' });
  });
});
