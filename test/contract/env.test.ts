import { describe, expect, it } from 'vitest';
import {
  BRIDGE_EXECUTION_ENV,
  CLOUD_RUN_TASK_ENV,
  FIXED_ENV,
  deniedEnvReason,
  envNameAllowed,
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

  it.each([
    'FIRESTORE_EMULATOR_HOST',
    'PUBSUB_EMULATOR_HOST',
    'CLOUD_RUN_EMULATOR_HOST',
    'STORAGE_EMULATOR_HOST',
    'GCE_METADATA_HOST',
    'GCE_METADATA_IP',
    'HTTPS_PROXY',
    'https_proxy',
    'HTTP_PROXY',
    'http_proxy',
    'NO_PROXY',
    'grpc_proxy',
    'GCLOUD_PROJECT',
    'CLOUDSDK_CORE_PROJECT',
    'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH',
    'LOG_LEVEL',
    'APP_DIR',
    'BASH_ENV',
    'ENV',
    'JAVA_TOOL_OPTIONS',
    '_JAVA_OPTIONS',
    'PYTHONPATH',
    'PYTHONSTARTUP',
    'PERL5OPT',
    'PERL5LIB',
    'RUBYOPT',
    'SSL_CERT_FILE',
    'NODE_EXTRA_CA_CERTS',
  ])('the floor refuses %s (it would move traffic, tokens or code of the task)', (name) => {
    expect(deniedEnvReason(name)).toBeDefined();
  });

  it('the floor leaves ordinary names alone', () => {
    for (const name of ['MODE', 'APP_COLOUR', 'TARGET_URL', 'ENVIRONMENT', 'PROXY_MODE']) {
      expect(deniedEnvReason(name), name).toBeUndefined();
    }
  });

  it('allowlist patterns: exact names, prefixes ending in *, case-sensitive', () => {
    expect(envNameAllowed('MODE', ['MODE'])).toBe(true);
    expect(envNameAllowed('MODEX', ['MODE'])).toBe(false);
    expect(envNameAllowed('mode', ['MODE'])).toBe(false);
    expect(envNameAllowed('APP_X', ['APP_*'])).toBe(true);
    expect(envNameAllowed('APP_', ['APP_*'])).toBe(true);
    expect(envNameAllowed('APPX', ['APP_*'])).toBe(false);
    expect(envNameAllowed('ANY', ['*'])).toBe(true);
    expect(envNameAllowed('ANY', [])).toBe(false);
  });
});
