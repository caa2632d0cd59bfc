import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BATCH_COLLECTION,
  BRIDGE_EXECUTION_ENV,
  DIGEST_PREFIX,
  MAX_BATCH_CONTENT_BYTES,
  MAX_BATCH_TASKS,
  ValidationError,
  batchContentBytes,
  batchDigest,
  batchTaskCount,
  canonicalJson,
  jobDocumentId,
  memberOfTask,
  parseBatchContent,
  type BatchContent,
  type BatchMember,
} from '../../src/contract/index.ts';

function member(
  requestId: string,
  offset: number,
  taskCount: number,
  extra: Partial<BatchMember> = {},
): BatchMember {
  return {
    requestId,
    documentId: jobDocumentId(requestId),
    offset,
    taskCount,
    function: 'simulate',
    args: ['--steps', '1'],
    env: {},
    ...extra,
  };
}

const content: BatchContent = {
  job: 'simulate',
  timeoutSeconds: 600,
  members: [
    member('a', 0, 1, { env: { APP_COLOR: 'red' } }),
    member('b', 1, 3, { args: ['--steps', '3'] }),
    member('c', 4, 7, { function: 'fan-out', args: ['x', 'y'] }),
  ],
};

/** What a stored batch document holds beyond its content. */
const stored = {
  ...content,
  digest: 'v1:sha256:whatever',
  taskCount: 11,
  state: 'dispatched',
  lease: null,
  executionName: 'projects/p/locations/l/jobs/simulate/executions/e',
  createdAt: new Date(),
  expireAt: new Date(),
};

function issuesOf(data: unknown): { path: string; reason: string }[] {
  try {
    parseBatchContent(data);
  } catch (err: unknown) {
    expect(err).toBeInstanceOf(ValidationError);
    return [...(err as ValidationError).issues];
  }
  throw new Error('expected a ValidationError');
}

describe('batch contract', () => {
  it('names the env, the collection and the limit the two sides share', () => {
    expect(BRIDGE_EXECUTION_ENV.batchId).toBe('JOBBRIDGE_BATCH_ID');
    expect(BRIDGE_EXECUTION_ENV.batchDigest).toBe('JOBBRIDGE_BATCH_DIGEST');
    expect(BATCH_COLLECTION).toBe('batches');
    expect(MAX_BATCH_TASKS).toBe(10_000);
  });

  it('the digest is the canonical JSON form of requestDigest, hashed with SHA-256', () => {
    const expected =
      DIGEST_PREFIX + createHash('sha256').update(canonicalJson(content), 'utf8').digest('hex');
    expect(batchDigest(content)).toBe(expected);
    expect(batchDigest(content)).toMatch(/^v1:sha256:[0-9a-f]{64}$/);
  });

  it('the digest ignores key order and the stored bookkeeping fields', () => {
    const reordered = {
      members: content.members.map((m) => ({
        env: m.env,
        args: m.args,
        function: m.function,
        taskCount: m.taskCount,
        offset: m.offset,
        documentId: m.documentId,
        requestId: m.requestId,
      })),
      timeoutSeconds: 600,
      job: 'simulate',
    };
    expect(batchDigest(reordered)).toBe(batchDigest(content));
    expect(batchDigest(stored as unknown as BatchContent)).toBe(batchDigest(content));
    expect(batchDigest(parseBatchContent(stored))).toBe(batchDigest(content));
  });

  it('the digest changes with every field that changes what any member runs', () => {
    const withMember = (i: number, change: Partial<BatchMember>): BatchContent => ({
      ...content,
      members: content.members.map((m, j) => (j === i ? { ...m, ...change } : m)),
    });
    const variants: BatchContent[] = [
      content,
      { ...content, job: 'fan-out' },
      { ...content, timeoutSeconds: 60 },
      { job: content.job, members: content.members },
      withMember(1, { args: ['--steps', '4'] }),
      withMember(1, { args: ['--steps', '3', ''] }),
      withMember(0, { env: { APP_COLOR: 'blue' } }),
      withMember(0, { env: { APP_COLOUR: 'red' } }),
      withMember(0, { env: {} }),
      withMember(2, { function: 'simulate' }),
      withMember(2, { taskCount: 6 }),
      withMember(2, { offset: 5 }),
      withMember(0, { requestId: 'z' }),
      withMember(0, { documentId: 'z' }),
      { ...content, members: [...content.members].reverse() },
      { ...content, members: content.members.slice(0, 2) },
    ];
    const digests = variants.map(batchDigest);
    expect(new Set(digests).size).toBe(variants.length);
  });

  it('parses a stored document into its content only', () => {
    const parsed = parseBatchContent(stored);
    expect(parsed).toEqual(content);
    expect(Object.keys(parsed).sort()).toEqual(['job', 'members', 'timeoutSeconds']);
    expect(batchTaskCount(parsed)).toBe(11);
    const noTimeout = parseBatchContent({ job: 'simulate', members: content.members });
    expect('timeoutSeconds' in noTimeout).toBe(false);
  });

  it('refuses a bad document naming each field and its reason', () => {
    const m = content.members;
    const cases: [unknown, string, RegExp][] = [
      [
        { ...content, members: [m[0], { ...m[1], offset: 2 }, m[2]] },
        'members.1.offset',
        /must be 1/,
      ],
      [{ ...content, members: [{ ...m[0], offset: 1 }] }, 'members.0.offset', /contiguous from 0/],
      [{ ...content, members: [{ ...m[0], taskCount: 0 }] }, 'members.0.taskCount', /at least 1/],
      [{ ...content, members: [{ ...m[0], taskCount: 1.5 }] }, 'members.0.taskCount', /integer/],
      [
        { ...content, members: [member('a', 0, 6000), member('b', 6000, 5000)] },
        'members',
        /at most 10000 tasks in all \(they hold 11000\)/,
      ],
      [{ ...content, members: [] }, 'members', /at least one member/],
      [
        { ...content, members: [{ ...m[0], env: { NODE_OPTIONS: '--inspect' } }] },
        'members.0.env.NODE_OPTIONS',
        /reserved/,
      ],
      [
        { ...content, members: [{ ...m[0], env: { JOBBRIDGE_JOB_ID: 'x' } }] },
        'members.0.env.JOBBRIDGE_JOB_ID',
        /reserved/,
      ],
      [{ ...content, members: [{ ...m[0], args: ['a\u0000b'] }] }, 'members.0.args.0', /NUL/],
      [
        { ...content, members: [{ ...m[0], function: '../x' }] },
        'members.0.function',
        /function name/,
      ],
      [
        { ...content, members: [{ ...m[0], function: undefined }] },
        'members.0.function',
        /required/,
      ],
      [{ ...content, members: [{ ...m[0], extra: 1 }] }, 'extra', /unknown field/],
      [
        { ...content, members: [{ ...m[0], documentId: 'other' }] },
        'members.0.documentId',
        /job document id of the member's requestId/,
      ],
      [
        { ...content, members: [m[0], { ...m[1], requestId: 'a', documentId: 'a' }] },
        'members.1.documentId',
        /repeat/,
      ],
      [{ ...content, job: 'Bad_Name' }, 'job', /Cloud Run job name/],
      [{ ...content, timeoutSeconds: 0 }, 'timeoutSeconds', /at least 1/],
      [{ members: m }, 'job', /required/],
      [null, '(root)', /object/],
    ];
    for (const [data, path, reason] of cases) {
      const issues = issuesOf(data);
      const issue = issues.find((i) => i.path === path);
      expect(issue, `${path} in ${JSON.stringify(issues)}`).toBeDefined();
      expect(issue?.reason).toMatch(reason);
    }
  });

  it('refuses content over the byte limit, naming it', () => {
    const big = 'x'.repeat(30_000);
    const members = Array.from({ length: 40 }, (_, i) => member(`r${i}`, i, 1, { args: [big] }));
    const data = { job: 'simulate', members };
    expect(batchContentBytes(data)).toBeGreaterThan(MAX_BATCH_CONTENT_BYTES);
    const [issue] = issuesOf(data);
    expect(issue).toMatchObject({ path: 'members' });
    expect(issue?.reason).toMatch(/must total at most 921600 bytes/);
  });

  it('memberOfTask finds each task’s member and its index within it', () => {
    const seen = Array.from({ length: 11 }, (_, i) => {
      const found = memberOfTask(content, i);
      return found && `${found.member.requestId}${found.localIndex}`;
    });
    expect(seen).toEqual(['a0', 'b0', 'b1', 'b2', 'c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
    expect(memberOfTask(content, 11)).toBeUndefined();
    expect(memberOfTask(content, -1)).toBeUndefined();
    expect(memberOfTask(content, 1.5)).toBeUndefined();
  });

  it('memberOfTask agrees with a linear scan over many members of mixed sizes', () => {
    const members: BatchMember[] = [];
    let offset = 0;
    for (let i = 0; i < 500; i++) {
      const taskCount = 1 + ((i * 7919) % 13);
      members.push(member(`m${i}`, offset, taskCount));
      offset += taskCount;
    }
    const many = parseBatchContent({ job: 'simulate', members });
    for (let t = 0; t < offset; t++) {
      const linear = members.find((m) => t >= m.offset && t < m.offset + m.taskCount);
      const found = memberOfTask(many, t);
      expect(found?.member.requestId).toBe(linear?.requestId);
      expect(found?.localIndex).toBe(t - (linear?.offset ?? 0));
    }
    expect(memberOfTask(many, offset)).toBeUndefined();
  });
});
