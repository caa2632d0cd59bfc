import { describe, expect, it } from 'vitest';
import {
  BRIDGE_EXECUTION_ENV,
  CLOUD_RUN_TASK_ENV,
  FIXED_ENV,
  deniedEnvReason,
} from '../../src/contract/index.ts';

describe('env names', () => {
  it('are the names DESIGN.md fixes', () => {
    expect(Object.values(CLOUD_RUN_TASK_ENV)).toEqual([
      'CLOUD_RUN_JOB',
      'CLOUD_RUN_EXECUTION',
      'CLOUD_RUN_TASK_INDEX',
      'CLOUD_RUN_TASK_COUNT',
      'CLOUD_RUN_TASK_ATTEMPT',
    ]);
    expect(BRIDGE_EXECUTION_ENV.requestId).toBe('JOBBRIDGE_REQUEST_ID');
    expect(FIXED_ENV).toMatchObject({
      project: 'GOOGLE_CLOUD_PROJECT',
      region: 'JOBBRIDGE_REGION',
      jobs: 'JOBBRIDGE_JOBS',
      insecurePush: 'JOBBRIDGE_INSECURE_PUSH',
      collection: 'JOBBRIDGE_COLLECTION',
      cloudRunEmulatorHost: 'CLOUD_RUN_EMULATOR_HOST',
    });
  });

  it('every env name the bridge or Cloud Run sets is one a producer cannot override', () => {
    for (const name of [
      ...Object.values(CLOUD_RUN_TASK_ENV),
      ...Object.values(BRIDGE_EXECUTION_ENV),
    ]) {
      expect(deniedEnvReason(name), name).toBeDefined();
    }
    expect(deniedEnvReason('MODE')).toBeUndefined();
  });
});
