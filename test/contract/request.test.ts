import { describe, expect, it } from 'vitest';
import {
  LIMITS,
  parseJobRequest,
  assertJobRequest,
  ValidationError,
  ISSUE_BOUNDS,
  MESSAGE_ID_PREFIX,
  boundIssues,
  fallbackRequestId,
  resolveRequestId,
} from '../../src/contract/index.ts';

const base = { schemaVersion: 1, job: 'screenshot' } as const;

/** The issues of an invalid request, as `path: reason` strings. */
function problems(input: unknown): string[] {
  const parsed = parseJobRequest(input);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(input)} to be refused`);
  return parsed.error.issues.map((i) => `${i.path}: ${i.reason}`);
}

describe('job request schema v1', () => {
  it('accepts the full example of DESIGN.md and keeps every field', () => {
    const request = {
      schemaVersion: 1,
      requestId: 'export-2026-11-28-acme',
      job: 'screenshot',
      function: 'screenshot',
      args: ['https://example.com'],
      env: { MODE: 'fast' },
      taskCount: 2,
      timeoutSeconds: 300,
      labels: { tenant: 'acme' },
    };
    expect(assertJobRequest(request)).toEqual(request);
  });

  it('needs only schemaVersion and job', () => {
    expect(parseJobRequest(base)).toEqual({ ok: true, value: base });
  });

  it.each([
    [{ job: 'a' }, 'schemaVersion: must be 1 (the only schema version this bridge reads)'],
    [
      { ...base, schemaVersion: 2 },
      'schemaVersion: must be 1 (the only schema version this bridge reads)',
    ],
    [{ schemaVersion: 1 }, 'job: is required'],
    [{ ...base, job: 'Upper' }, 'job: must be a Cloud Run job name ([a-z][-a-z0-9]*, at most 63)'],
    [
      { ...base, job: `a${'b'.repeat(63)}` },
      'job: must be a Cloud Run job name ([a-z][-a-z0-9]*, at most 63)',
    ],
    [{ ...base, job: 'ends-' }, 'job: must be a Cloud Run job name ([a-z][-a-z0-9]*, at most 63)'],
    [
      { ...base, function: '1x' },
      'function: must be a function name ([A-Za-z][A-Za-z0-9_-]*, at most 63)',
    ],
    [{ ...base, taskCount: 0 }, 'taskCount: must be at least 1'],
    [{ ...base, taskCount: 10_001 }, 'taskCount: must be at most 10000'],
    [{ ...base, taskCount: 1.5 }, 'taskCount: must be an integer'],
    [{ ...base, timeoutSeconds: 0 }, 'timeoutSeconds: must be at least 1'],
    [{ ...base, timeoutSeconds: -5 }, 'timeoutSeconds: must be at least 1'],
    [{ ...base, timeoutSeconds: 168 * 3600 + 1 }, 'timeoutSeconds: must be at most 604800 (168 h)'],
    [{ ...base, requestId: '' }, 'requestId: must not be empty'],
    [{ ...base, requestId: 'a\nb' }, 'requestId: must not contain control characters'],
    [
      { ...base, requestId: 'x'.repeat(LIMITS.requestIdMaxBytes + 1) },
      'requestId: must be at most 4096 bytes',
    ],
    [{ ...base, extra: true }, 'extra: unknown field (extra)'],
    [{ ...base, args: 'not-a-list' }, 'args: Invalid input: expected array, received string'],
    [{ ...base, args: ['ok', 'a\u0000b'] }, 'args.1: must not contain NUL'],
  ])('refuses %j', (input, expected) => {
    expect(problems(input)).toContain(expected);
  });

  it('accepts the limits themselves', () => {
    for (const v of [
      { ...base, taskCount: 1, timeoutSeconds: 1 },
      { ...base, taskCount: 10_000, timeoutSeconds: 168 * 3600 },
      { ...base, requestId: 'é'.repeat(LIMITS.requestIdMaxBytes / 2) },
    ]) {
      expect(parseJobRequest(v).ok).toBe(true);
    }
  });

  it('bounds args by count, item size and total size', () => {
    expect(problems({ ...base, args: Array(LIMITS.argsMaxCount + 1).fill('a') })).toContain(
      'args: must have at most 1000 items',
    );
    expect(problems({ ...base, args: ['x'.repeat(LIMITS.argMaxBytes + 1)] })).toContain(
      'args.0: must be at most 32768 bytes',
    );
    expect(problems({ ...base, args: Array(3).fill('x'.repeat(LIMITS.argMaxBytes)) })).toContain(
      'args: must total at most 65536 bytes',
    );
  });

  it('validates env names and refuses the denylist', () => {
    const refused = problems({
      ...base,
      env: {
        NODE_OPTIONS: '--inspect',
        GOOGLE_APPLICATION_CREDENTIALS: '/x',
        CLOUD_RUN_TASK_INDEX: '3',
        JOBBRIDGE_REQUEST_ID: 'other',
        K_SERVICE: 'x',
        PATH: '/tmp',
        LD_PRELOAD: '/evil.so',
        node_options: 'lowercase is the same name to us',
        '1BAD': 'x',
        'WITH-DASH': 'x',
      },
    });
    expect(refused).toEqual(
      expect.arrayContaining([
        'env.NODE_OPTIONS: NODE_OPTIONS is reserved and cannot be overridden',
        'env.GOOGLE_APPLICATION_CREDENTIALS: names starting with GOOGLE_ are reserved and cannot be overridden',
        'env.CLOUD_RUN_TASK_INDEX: names starting with CLOUD_RUN_ are reserved and cannot be overridden',
        'env.JOBBRIDGE_REQUEST_ID: names starting with JOBBRIDGE_ are reserved and cannot be overridden',
        'env.K_SERVICE: names starting with K_ are reserved and cannot be overridden',
        'env.PATH: PATH is reserved and cannot be overridden',
        'env.LD_PRELOAD: names starting with LD_ are reserved and cannot be overridden',
        'env.node_options: node_options is reserved and cannot be overridden',
        'env.1BAD: name must match [A-Za-z_][A-Za-z0-9_]*',
        'env.WITH-DASH: name must match [A-Za-z_][A-Za-z0-9_]*',
      ]),
    );
    expect(refused).toHaveLength(10);
    expect(parseJobRequest({ ...base, env: { MODE: 'fast', _under: '' } }).ok).toBe(true);
  });

  it('bounds env by count and size', () => {
    const many = Object.fromEntries(
      Array.from({ length: LIMITS.envMaxCount + 1 }, (_, i) => [`V${i}`, 'x']),
    );
    expect(problems({ ...base, env: many })).toContain('env: must have at most 100 names');
    expect(problems({ ...base, env: { BIG: 'x'.repeat(LIMITS.envValueMaxBytes + 1) } })).toContain(
      'env.BIG: value must be at most 32768 bytes',
    );
    expect(
      problems({
        ...base,
        env: { A: 'x'.repeat(30_000), B: 'x'.repeat(30_000), C: 'x'.repeat(30_000) },
      }),
    ).toContain('env: must total at most 65536 bytes');
    expect(problems({ ...base, env: { A: 'a\u0000b' } })).toContain(
      'env.A: value must not contain NUL',
    );
  });

  it('refuses __proto__, constructor and prototype keys wherever JSON.parse made them', () => {
    expect(
      problems(JSON.parse('{"schemaVersion":1,"job":"a","__proto__":{"polluted":true}}')),
    ).toEqual(['__proto__: is a reserved key']);
    expect(problems(JSON.parse('{"schemaVersion":1,"job":"a","env":{"__proto__":"x"}}'))).toEqual([
      'env.__proto__: is a reserved key',
    ]);
    expect(
      problems(JSON.parse('{"schemaVersion":1,"job":"a","labels":{"constructor":"x"}}')),
    ).toEqual(['labels.constructor: is a reserved key']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('validates labels the way Google Cloud does', () => {
    expect(parseJobRequest({ ...base, labels: { tenant: 'acme', 'team_a-1': '' } }).ok).toBe(true);
    expect(problems({ ...base, labels: { Tenant: 'x' } })).toContain(
      'labels.Tenant: key must be 1-63 of [a-z0-9_-], starting with a letter',
    );
    expect(problems({ ...base, labels: { tenant: 'ACME' } })).toContain(
      'labels.tenant: value must be 0-63 of [a-z0-9_-]',
    );
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect(problems({ ...base, labels: many })).toContain('labels: must have at most 64 labels');
  });

  it('throws a ValidationError naming the first field, with every issue in the message', () => {
    try {
      assertJobRequest({ schemaVersion: 1, job: 'a', taskCount: 0, timeoutSeconds: 0 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      const v = err as ValidationError;
      expect(v.field).toBe('taskCount');
      expect(v.message).toBe(
        'invalid job request: taskCount: must be at least 1; timeoutSeconds: must be at least 1',
      );
    }
  });

  it('refuses values that are not objects', () => {
    for (const v of [null, 42, 'text', [base]]) expect(parseJobRequest(v).ok).toBe(false);
  });

  it.each([
    [
      { ...base, requestId: 'a\ud800' },
      'requestId: must not contain lone surrogates (not valid Unicode)',
    ],
    [
      { ...base, requestId: '\udc00' },
      'requestId: must not contain lone surrogates (not valid Unicode)',
    ],
    [
      { ...base, args: ['\ud800x'] },
      'args.0: must not contain lone surrogates (not valid Unicode)',
    ],
    [
      { ...base, env: { MODE: '\udfff' } },
      'env.MODE: value must not contain lone surrogates (not valid Unicode)',
    ],
    [
      { ...base, concurrencyKey: 'k\ud800' },
      'concurrencyKey: must not contain lone surrogates (not valid Unicode)',
    ],
  ])('refuses lone surrogates: %j', (input, expected) => {
    expect(problems(input)).toContain(expected);
  });

  it('accepts a well-formed surrogate pair (an emoji)', () => {
    expect(parseJobRequest({ ...base, requestId: 'run-\u{1F680}', args: ['\u{1F680}'] }).ok).toBe(
      true,
    );
  });

  it('reserves the messageId prefix for ids the bridge makes', () => {
    expect(problems({ ...base, requestId: `${MESSAGE_ID_PREFIX}123` })).toContain(
      'requestId: must not start with msg~ (reserved for ids made from the Pub/Sub messageId)',
    );
    expect(fallbackRequestId('123')).toBe('msg~123');
  });

  it('keeps what a megabyte of unknown keys leaves behind small', () => {
    const input: Record<string, unknown> = { ...base };
    for (let i = 0; i < 20_000; i++) input[`unknown_key_${i}_${'k'.repeat(40)}`] = 1;
    const parsed = parseJobRequest(input);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error.issues.length).toBeLessThanOrEqual(ISSUE_BOUNDS.maxIssues + 1);
    expect(parsed.error.issues[0]?.reason).toMatch(/and 19995 more\)$/);
    expect(JSON.stringify(parsed.error.issues).length).toBeLessThan(10_000);
    expect(parsed.error.message.length).toBeLessThan(10_000);
  });

  it('bounds issues by count and by the length of a path or reason', () => {
    const bounded = boundIssues(
      Array.from({ length: 50 }, (_, i) => ({
        path: `p${i}${'x'.repeat(5000)}`,
        reason: 'r'.repeat(5000),
      })),
    );
    expect(bounded).toHaveLength(ISSUE_BOUNDS.maxIssues + 1);
    expect(bounded.at(-1)).toEqual({ path: '(more)', reason: '30 more issues not listed' });
    for (const i of bounded) {
      expect(i.path.length).toBeLessThanOrEqual(ISSUE_BOUNDS.pathMaxChars);
      expect(i.reason.length).toBeLessThanOrEqual(ISSUE_BOUNDS.reasonMaxChars);
    }
  });
});

describe('request id of a delivery', () => {
  it('attribute, else body, else the messageId under its own prefix', () => {
    expect(resolveRequestId({ attribute: 'a', body: undefined, messageId: '1' })).toEqual({
      ok: true,
      requestId: 'a',
      from: 'attribute',
    });
    expect(resolveRequestId({ attribute: 'a', body: 'a', messageId: '1' })).toMatchObject({
      ok: true,
      requestId: 'a',
    });
    expect(resolveRequestId({ attribute: undefined, body: 'b', messageId: '1' })).toEqual({
      ok: true,
      requestId: 'b',
      from: 'body',
    });
    expect(resolveRequestId({ attribute: undefined, body: undefined, messageId: '1' })).toEqual({
      ok: true,
      requestId: 'msg~1',
      from: 'messageId',
    });
  });

  it('refuses an attribute that differs from the body', () => {
    expect(resolveRequestId({ attribute: 'a', body: 'b', messageId: '1' })).toEqual({
      ok: false,
      requestId: 'a',
      issue: { path: 'requestId', reason: 'differs from the requestId attribute' },
    });
  });
});
