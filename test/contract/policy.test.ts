import { describe, expect, it } from 'vitest';
import {
  DEFAULT_JOB_POLICY,
  LIMITS,
  parseJobPolicies,
  parseJobPolicyText,
  policyFor,
  policyIssues,
  type JobPolicies,
  type JobRequest,
} from '../../src/contract/index.ts';

/** The issues of a refused policy, as `path: reason` strings. */
function problems(input: unknown): string[] {
  const parsed = parseJobPolicies(input);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(input)} to be refused`);
  return parsed.error.issues.map((i) => `${i.path}: ${i.reason}`);
}

function policies(input: unknown): JobPolicies {
  const parsed = parseJobPolicies(input);
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
}

const request = (extra: Partial<JobRequest> = {}): JobRequest => ({
  schemaVersion: 1,
  job: 'fan-out',
  ...extra,
});

describe('job policy format (JOBBRIDGE_JOB_POLICY)', () => {
  it('reads the documented shape and fills what an entry leaves out with the defaults', () => {
    const parsed = policies({
      'fan-out': {
        functions: ['fan-out'],
        rawArgs: false,
        env: ['MODE', 'APP_*'],
        maxTaskCount: 100,
        maxTimeoutSeconds: 3600,
      },
      legacy: { rawArgs: true },
    });
    expect(parsed.get('fan-out')).toEqual({
      functions: ['fan-out'],
      rawArgs: false,
      env: ['MODE', 'APP_*'],
      maxTaskCount: 100,
      maxTimeoutSeconds: 3600,
    });
    expect(parsed.get('legacy')).toEqual({ ...DEFAULT_JOB_POLICY, rawArgs: true });
    expect(policyFor(parsed, 'other')).toBe(DEFAULT_JOB_POLICY);
  });

  it("defaults: any function, no raw args, no env, Cloud Run's caps", () => {
    expect(DEFAULT_JOB_POLICY).toEqual({
      functions: undefined,
      rawArgs: false,
      env: [],
      maxTaskCount: LIMITS.taskCountMax,
      maxTimeoutSeconds: LIMITS.timeoutSecondsMax,
    });
  });

  it.each([
    [[], '(root): must be a JSON object of job name to policy'],
    ['x', '(root): must be a JSON object of job name to policy'],
    [{ 'Bad-Name': {} }, 'Bad-Name: is not a Cloud Run job name ([a-z][-a-z0-9]*, at most 63)'],
    [
      { a: { rawargs: true } },
      'a.rawargs: unknown field (rawargs); known: functions, rawArgs, env, maxTaskCount, maxTimeoutSeconds',
    ],
    [{ a: { rawArgs: 'yes' } }, 'a.rawArgs: must be true or false'],
    [{ a: { functions: ['1x'] } }, 'a.functions.0: must be a function name'],
    [{ a: { maxTaskCount: 0 } }, 'a.maxTaskCount: must be at least 1'],
    [{ a: { maxTaskCount: 10_001 } }, "a.maxTaskCount: must be at most 10000 (Cloud Run's limit)"],
    [{ a: { maxTaskCount: 2.5 } }, 'a.maxTaskCount: must be an integer'],
    [
      { a: { maxTimeoutSeconds: 604_801 } },
      "a.maxTimeoutSeconds: must be at most 604800 (168 h, Cloud Run's limit)",
    ],
    [
      { a: { env: ['WITH-DASH'] } },
      'a.env.0: must be an env name ([A-Za-z_][A-Za-z0-9_]*) or a prefix of one ending in *',
    ],
    [
      { a: { env: ['A*B*'] } },
      'a.env.0: must be an env name ([A-Za-z_][A-Za-z0-9_]*) or a prefix of one ending in *',
    ],
    [
      { a: { env: ['NODE_OPTIONS'] } },
      'a.env.0: can never be set: NODE_OPTIONS is reserved and cannot be overridden',
    ],
  ])('refuses %j naming the field', (input, expected) => {
    expect(problems(input)).toContain(expected);
  });

  it('parses JSON text and says when it is not JSON', () => {
    const ok = parseJobPolicyText('{"fan-out":{"rawArgs":true}}');
    expect(ok.ok && ok.value.get('fan-out')?.rawArgs).toBe(true);
    const bad = parseJobPolicyText('{fan-out');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.issues[0]?.reason).toMatch(/^is not JSON/);
  });
});

describe('policy check of a request', () => {
  const strict = policies({
    'fan-out': { functions: ['fan-out'], env: ['MODE', 'APP_*'], maxTaskCount: 10 },
  }).get('fan-out')!;

  it('allows what the policy allows', () => {
    expect(
      policyIssues(
        request({
          function: 'fan-out',
          args: ['x'],
          env: { MODE: 'a', APP_COLOUR: 'b' },
          taskCount: 10,
        }),
        strict,
      ),
    ).toEqual([]);
    // No function and no args: the job runs as its operator defined it.
    expect(policyIssues(request(), strict)).toEqual([]);
  });

  it('refuses raw args unless rawArgs is true, an empty list included (it clears the args)', () => {
    for (const args of [['cancel', 'someone-else'], ['work', 'x'], []]) {
      expect(policyIssues(request({ args }), DEFAULT_JOB_POLICY).map((i) => i.path)).toEqual([
        'args',
      ]);
    }
    expect(
      policyIssues(request({ args: ['x'] }), { ...DEFAULT_JOB_POLICY, rawArgs: true }),
    ).toEqual([]);
  });

  it('refuses a function off the list, env names off the list, caps exceeded', () => {
    const issues = policyIssues(
      request({
        function: 'simulate',
        env: { MODE: 'x', APPX: 'y', OTHER: 'z' },
        taskCount: 11,
        timeoutSeconds: LIMITS.timeoutSecondsMax,
      }),
      { ...strict, maxTimeoutSeconds: 60 },
    );
    expect(issues.map((i) => `${i.path}: ${i.reason}`)).toEqual([
      'function: is not a function job fan-out may run (policy functions: fan-out)',
      'env.APPX: is not an env name job fan-out accepts (policy env: MODE, APP_*)',
      'env.OTHER: is not an env name job fan-out accepts (policy env: MODE, APP_*)',
      'taskCount: must be at most 10 for job fan-out (policy maxTaskCount)',
      'timeoutSeconds: must be at most 60 for job fan-out (policy maxTimeoutSeconds)',
    ]);
  });

  it('refuses every env name under the default policy, and `*` allows any name', () => {
    expect(policyIssues(request({ env: { MODE: 'x' } }), DEFAULT_JOB_POLICY)).toHaveLength(1);
    expect(
      policyIssues(request({ env: { MODE: 'x' } }), { ...DEFAULT_JOB_POLICY, env: ['*'] }),
    ).toEqual([]);
  });

  it('an empty function list allows no function', () => {
    const none = { ...DEFAULT_JOB_POLICY, functions: [] };
    expect(policyIssues(request({ function: 'fan-out' }), none)[0]?.reason).toMatch(
      /policy functions: none/,
    );
  });
});
