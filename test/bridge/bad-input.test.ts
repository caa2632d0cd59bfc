import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, jobRequest, startRig, type Rig } from './rig.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** [what, body as sent, expected reason code] — every one is acked with 200. */
const CASES: [string, () => unknown, string][] = [
  ['an empty body', () => '', 'rejected:body'],
  ['a body that is not JSON', () => '{"message": ', 'rejected:body'],
  ['the wrong envelope shape', () => ({ hello: 'world' }), 'rejected:envelope'],
  ['a message without messageId', () => ({ message: { data: b64('{}') } }), 'rejected:envelope'],
  ['data that is not base64', () => envelope(null, { rawData: '!!not base64!!' }), 'rejected:data'],
  [
    'data that is not JSON',
    () => envelope(null, { rawData: b64('hello, world') }),
    'rejected:data',
  ],
  [
    'an unknown schemaVersion',
    () => envelope(jobRequest({ schemaVersion: 2 })),
    'rejected:schemaVersion',
  ],
  [
    'a job not on the allowlist',
    () => envelope(jobRequest({ job: 'not-allowed' })),
    'rejected:job',
  ],
  [
    'a denylisted env name',
    () => envelope(jobRequest({ env: { NODE_OPTIONS: '--inspect' } })),
    'rejected:env',
  ],
  [
    'a GOOGLE_ env name',
    () => envelope(jobRequest({ env: { GOOGLE_APPLICATION_CREDENTIALS: '/x' } })),
    'rejected:env',
  ],
  [
    'an invalid env name',
    () => envelope(jobRequest({ env: { '1-BAD NAME': 'x' } })),
    'rejected:env',
  ],
  ['taskCount 0', () => envelope(jobRequest({ taskCount: 0 })), 'rejected:taskCount'],
  ['taskCount 10001', () => envelope(jobRequest({ taskCount: 10_001 })), 'rejected:taskCount'],
  ['a timeout of 0', () => envelope(jobRequest({ timeoutSeconds: 0 })), 'rejected:timeoutSeconds'],
  [
    'a timeout over 168 h',
    () => envelope(jobRequest({ timeoutSeconds: 168 * 3600 + 1 })),
    'rejected:timeoutSeconds',
  ],
  [
    'oversized args',
    () =>
      envelope(jobRequest({ args: ['x'.repeat(30_000), 'y'.repeat(30_000), 'z'.repeat(30_000)] })),
    'rejected:args',
  ],
  [
    'a __proto__ key',
    () =>
      envelope(null, {
        rawData: b64(`{"schemaVersion":1,"job":"bridge-job","__proto__":{"polluted":true}}`),
      }),
    'rejected:__proto__',
  ],
  [
    'a constructor key in env',
    () =>
      envelope(null, {
        rawData: b64(`{"schemaVersion":1,"job":"bridge-job","env":{"constructor":"x"}}`),
      }),
    'rejected:env',
  ],
  ['an unknown field', () => envelope(jobRequest({ surprise: 1 })), 'rejected:surprise'],
  [
    'a request id attribute over 4096 bytes',
    () => envelope(jobRequest(), { attributes: { requestId: 'r'.repeat(5000) } }),
    'rejected:requestId',
  ],
  ['a body over the size limit', () => 'x'.repeat(2 * 1024 * 1024), 'rejected:body'],
];

describe('bad input: documented status and reason, no execution, still serving', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  for (const [what, body, reason] of CASES) {
    it(`${what} → 200 ${reason}`, async () => {
      const res = await rig.push(body());
      expect(res.status).toBe(200);
      expect(res.body.outcome).toBe(reason);
      expect(Array.isArray(res.body.issues)).toBe(true);
    });
  }

  it('started no execution for any of them, and still serves a valid request', async () => {
    expect(await rig.executions()).toHaveLength(0);
    expect((await rig.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await rig.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const ok = await rig.push(envelope(jobRequest()));
    expect(ok.status).toBe(201);
    expect(await rig.executions()).toHaveLength(1);
  });

  it('records a rejection under its request id with the reasons; it does not hold the id', async () => {
    const request = jobRequest({ taskCount: 0, env: { SECRET_TOKEN: 'hunter2-value' } });
    const res = await rig.push(envelope(request));
    expect(res.body.outcome).toBe('rejected:taskCount');
    const doc = await rig.jobDoc(request.requestId as string);
    expect(doc).toMatchObject({
      state: 'rejected',
      job: 'bridge-job',
      issues: [{ path: 'taskCount' }],
    });
    expect(JSON.stringify(doc)).not.toContain('hunter2-value');
    // The same id again, now valid: admitted as usual, with what was rejected kept visible.
    const valid = await rig.push(envelope({ ...request, taskCount: 1 }));
    expect(valid).toMatchObject({ status: 201, body: { outcome: 'dispatched' } });
    expect(await rig.jobDoc(request.requestId as string)).toMatchObject({
      state: 'dispatched',
      rejection: { error: { code: 'rejected:taskCount' } },
    });
    expect(rig.logLines.join('\n')).not.toContain('hunter2-value');
  });
});
