import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadBridgeConfig } from '../../src/config/index.ts';
import {
  isAck,
  OUTCOMES,
  outcome,
  PUBSUB_ACK_STATUSES,
  rejected,
} from '../../src/errors/outcomes.ts';
import { traceFields, TRACE_KEY, SPAN_KEY } from '../../src/bridge/trace.ts';
import { killAllChildren, spawnCli } from '../../bench/lib/child-bridge.ts';

const BASE = {
  GOOGLE_CLOUD_PROJECT: 'p',
  JOBBRIDGE_REGION: 'asia-northeast1',
  JOBBRIDGE_JOBS: 'screenshot, export',
  JOBBRIDGE_PUSH_AUDIENCE: 'https://bridge.example.com/pubsub/push',
  JOBBRIDGE_PUSH_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com',
};

function issuesOf(env: Record<string, string>): string[] {
  try {
    loadBridgeConfig(env);
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err.issues.map((i) => i.name);
    throw err;
  }
  return [];
}

describe('config', () => {
  it('applies the defaults and reads the allowlist', () => {
    const config = loadBridgeConfig(BASE);
    expect(config).toMatchObject({
      port: 8080,
      collection: 'jobs',
      leaseMs: 60_000,
      budgetMs: 8_000,
      retentionDays: 30,
    });
    expect([...config.jobs]).toEqual(['screenshot', 'export']);
    expect(config.pushAuth).toMatchObject({
      mode: 'oidc',
      serviceAccount: 'push@p.iam.gserviceaccount.com',
    });
  });

  it('reads the backpressure limits, with defaults matched to Cloud Run quotas', () => {
    expect(loadBridgeConfig(BASE).limits).toEqual({
      runJobPerMinute: 60,
      runJobBurst: 10,
      maxConcurrentLaunches: 32,
      keyConcurrency: 0,
    });
    expect(
      loadBridgeConfig({
        ...BASE,
        JOBBRIDGE_RUNJOB_PER_MINUTE: '180',
        JOBBRIDGE_MAX_CONCURRENT_LAUNCHES: '5',
        JOBBRIDGE_KEY_CONCURRENCY: '1',
      }).limits,
    ).toEqual({
      runJobPerMinute: 180,
      runJobBurst: 30,
      maxConcurrentLaunches: 5,
      keyConcurrency: 1,
    });
    expect(
      issuesOf({
        ...BASE,
        JOBBRIDGE_RUNJOB_PER_MINUTE: '0',
        JOBBRIDGE_MAX_CONCURRENT_LAUNCHES: '5000',
      }),
    ).toEqual(['JOBBRIDGE_RUNJOB_PER_MINUTE', 'JOBBRIDGE_MAX_CONCURRENT_LAUNCHES']);
  });

  it('lists every problem at once, each naming its variable', () => {
    expect(
      issuesOf({ PORT: 'eighty', JOBBRIDGE_LEASE_MS: '-1', JOBBRIDGE_JOBS: 'Bad_Name' }),
    ).toEqual(
      expect.arrayContaining([
        'GOOGLE_CLOUD_PROJECT',
        'JOBBRIDGE_REGION',
        'JOBBRIDGE_JOBS',
        'JOBBRIDGE_PUSH_AUDIENCE',
        'JOBBRIDGE_PUSH_SERVICE_ACCOUNT',
        'PORT',
        'JOBBRIDGE_LEASE_MS',
      ]),
    );
  });

  it('needs no audience with insecure push, and refuses a budget not below the lease', () => {
    const { JOBBRIDGE_PUSH_AUDIENCE: _a, JOBBRIDGE_PUSH_SERVICE_ACCOUNT: _s, ...rest } = BASE;
    expect(loadBridgeConfig({ ...rest, JOBBRIDGE_INSECURE_PUSH: 'true' }).pushAuth).toEqual({
      mode: 'insecure',
    });
    expect(issuesOf({ ...BASE, JOBBRIDGE_INSECURE_PUSH: 'yes' })).toEqual([
      'JOBBRIDGE_INSECURE_PUSH',
    ]);
    expect(issuesOf({ ...BASE, JOBBRIDGE_LEASE_MS: '1000', JOBBRIDGE_BUDGET_MS: '1000' })).toEqual([
      'JOBBRIDGE_BUDGET_MS',
    ]);
  });

  it('reads the job policy from JOBBRIDGE_JOB_POLICY or its file, naming the bad field', () => {
    const policy = { screenshot: { functions: ['shoot'], env: ['MODE'], maxTaskCount: 5 } };
    const inline = loadBridgeConfig({ ...BASE, JOBBRIDGE_JOB_POLICY: JSON.stringify(policy) });
    expect(inline.policies.get('screenshot')).toMatchObject({ rawArgs: false, maxTaskCount: 5 });
    expect(inline.policies.has('export')).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'jobbridge-policy-'));
    try {
      const file = join(dir, 'policy.json');
      writeFileSync(file, JSON.stringify(policy));
      const fromFile = loadBridgeConfig({ ...BASE, JOBBRIDGE_JOB_POLICY_FILE: file });
      expect(fromFile.policies).toEqual(inline.policies);
      expect(
        issuesOf({ ...BASE, JOBBRIDGE_JOB_POLICY: '{}', JOBBRIDGE_JOB_POLICY_FILE: file }),
      ).toEqual(['JOBBRIDGE_JOB_POLICY_FILE']);
      expect(issuesOf({ ...BASE, JOBBRIDGE_JOB_POLICY_FILE: join(dir, 'missing.json') })).toEqual([
        'JOBBRIDGE_JOB_POLICY_FILE',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const reasons = (env: Record<string, string>) => {
      try {
        loadBridgeConfig(env);
      } catch (err: unknown) {
        if (err instanceof ConfigError) return err.issues.map((i) => `${i.name}: ${i.reason}`);
        throw err;
      }
      return [];
    };
    expect(reasons({ ...BASE, JOBBRIDGE_JOB_POLICY: '{"screenshot":{"maxTaskCount":0}}' })).toEqual(
      ['JOBBRIDGE_JOB_POLICY: screenshot.maxTaskCount: must be at least 1'],
    );
    expect(reasons({ ...BASE, JOBBRIDGE_JOB_POLICY: '{"typo-job":{}}' })).toEqual([
      'JOBBRIDGE_JOB_POLICY: typo-job: is not on JOBBRIDGE_JOBS',
    ]);
    expect(reasons({ ...BASE, JOBBRIDGE_JOB_POLICY: 'not json' })[0]).toMatch(
      /^JOBBRIDGE_JOB_POLICY: \(root\): is not JSON/,
    );
  });

  it('refuses insecure push on Cloud Run without emulators, and next to an audience', () => {
    const { JOBBRIDGE_PUSH_AUDIENCE: _a, JOBBRIDGE_PUSH_SERVICE_ACCOUNT: _s, ...rest } = BASE;
    const insecure = { ...rest, JOBBRIDGE_INSECURE_PUSH: 'true' };
    expect(issuesOf({ ...insecure, K_SERVICE: 'bridge' })).toEqual(['JOBBRIDGE_INSECURE_PUSH']);
    expect(
      issuesOf({ ...insecure, K_SERVICE: 'bridge', FIRESTORE_EMULATOR_HOST: 'localhost:8080' }),
    ).toEqual(['JOBBRIDGE_INSECURE_PUSH']);
    expect(
      loadBridgeConfig({
        ...insecure,
        K_SERVICE: 'bridge',
        FIRESTORE_EMULATOR_HOST: 'localhost:8080',
        CLOUD_RUN_EMULATOR_HOST: 'localhost:8123',
      }).pushAuth.mode,
    ).toBe('insecure');
    expect(issuesOf({ ...BASE, JOBBRIDGE_INSECURE_PUSH: 'true' })).toEqual([
      'JOBBRIDGE_INSECURE_PUSH',
    ]);
  });

  it('gives each route its own audience: derived from the push URL, or set', () => {
    const derived = loadBridgeConfig(BASE).pushAuth;
    expect(derived).toMatchObject({
      audience: 'https://bridge.example.com/pubsub/push',
      deadLetter: {
        audience: 'https://bridge.example.com/pubsub/dead-letter',
        serviceAccount: 'push@p.iam.gserviceaccount.com',
      },
      reconcile: {
        audience: 'https://bridge.example.com/reconcile',
        serviceAccount: 'push@p.iam.gserviceaccount.com',
      },
    });
    const set = loadBridgeConfig({
      ...BASE,
      JOBBRIDGE_RECONCILE_AUDIENCE: 'reconcile-aud',
      JOBBRIDGE_RECONCILE_SERVICE_ACCOUNT: 'scheduler@p.iam.gserviceaccount.com',
    }).pushAuth;
    expect(set).toMatchObject({
      reconcile: {
        audience: 'reconcile-aud',
        serviceAccount: 'scheduler@p.iam.gserviceaccount.com',
      },
    });
    expect(issuesOf({ ...BASE, JOBBRIDGE_PUSH_AUDIENCE: 'bridge-audience' })).toEqual([
      'JOBBRIDGE_DEAD_LETTER_AUDIENCE',
      'JOBBRIDGE_RECONCILE_AUDIENCE',
    ]);
  });

  it('accepts certificates only over https (http to loopback), and only Google on Cloud Run', () => {
    expect(issuesOf({ ...BASE, JOBBRIDGE_PUSH_CERTS_URL: 'http://certs.example.com/' })).toEqual([
      'JOBBRIDGE_PUSH_CERTS_URL',
    ]);
    expect(issuesOf({ ...BASE, JOBBRIDGE_PUSH_CERTS_URL: 'file:///etc/certs' })).toEqual([
      'JOBBRIDGE_PUSH_CERTS_URL',
    ]);
    expect(issuesOf({ ...BASE, JOBBRIDGE_PUSH_CERTS_URL: 'http://127.0.0.1:9/certs' })).toEqual([]);
    expect(
      issuesOf({ ...BASE, K_SERVICE: 'bridge', JOBBRIDGE_PUSH_CERTS_URL: 'https://evil.example/' }),
    ).toEqual(['JOBBRIDGE_PUSH_CERTS_URL']);
    expect(issuesOf({ ...BASE, K_SERVICE: 'bridge' })).toEqual([]);
  });

  it('reads the expected subscriptions, short names in this project', () => {
    const config = loadBridgeConfig({
      ...BASE,
      JOBBRIDGE_PUSH_SUBSCRIPTIONS: 'bridge-push, projects/other/subscriptions/bridge-push-2',
      JOBBRIDGE_DEAD_LETTER_SUBSCRIPTIONS: 'bridge-dead-letter',
    });
    expect([...(config.subscriptions.push ?? [])]).toEqual([
      'projects/p/subscriptions/bridge-push',
      'projects/other/subscriptions/bridge-push-2',
    ]);
    expect([...(config.subscriptions.deadLetter ?? [])]).toEqual([
      'projects/p/subscriptions/bridge-dead-letter',
    ]);
    expect(loadBridgeConfig(BASE).subscriptions).toEqual({
      push: undefined,
      deadLetter: undefined,
    });
    expect(issuesOf({ ...BASE, JOBBRIDGE_PUSH_SUBSCRIPTIONS: 'projects/x/topics/t' })).toEqual([
      'JOBBRIDGE_PUSH_SUBSCRIPTIONS',
    ]);
  });

  it('`jobbridge serve` with a bad environment exits 1 listing every problem', async () => {
    try {
      const run = spawnCli(['serve'], { PATH: process.env.PATH, PORT: 'x' });
      const { code } = await run.exited;
      expect(code).toBe(1);
      for (const name of [
        'GOOGLE_CLOUD_PROJECT',
        'JOBBRIDGE_REGION',
        'JOBBRIDGE_JOBS',
        'JOBBRIDGE_PUSH_AUDIENCE',
        'PORT',
      ]) {
        expect(run.err()).toContain(name);
      }
    } finally {
      await killAllChildren();
    }
  });
});

describe('the outcome table', () => {
  it('acks exactly the outcomes whose status Pub/Sub treats as an ack', () => {
    const acked = Object.entries(OUTCOMES)
      .filter(([, spec]) => PUBSUB_ACK_STATUSES.has(spec.status))
      .map(([code]) => code);
    expect(acked.sort()).toEqual(
      [
        'adopted',
        'cancelled',
        'dispatched',
        'duplicate',
        'launch-failed',
        'queued',
        'rejected',
      ].sort(),
    );
    for (const code of [
      'in-progress',
      'launch-retryable',
      'store-unavailable',
      'budget-exceeded',
      'auth:expired',
    ] as const) {
      expect(isAck(outcome(code))).toBe(false);
    }
  });

  it('names a rejection by its top-level field only, never by a producer-chosen name', () => {
    expect(rejected('env.MY_SECRET_NAME', []).reason).toBe('rejected:env');
    expect(rejected('taskCount', []).reason).toBe('rejected:taskCount');
  });
});

describe('trace fields', () => {
  it('reads traceparent first, then X-Cloud-Trace-Context', () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    expect(traceFields('p', { traceparent: `00-${trace}-00f067aa0ba902b7-01` })).toEqual({
      [TRACE_KEY]: `projects/p/traces/${trace}`,
      [SPAN_KEY]: '00f067aa0ba902b7',
    });
    expect(traceFields('p', { 'x-cloud-trace-context': `${trace}/255;o=1` })).toEqual({
      [TRACE_KEY]: `projects/p/traces/${trace}`,
      [SPAN_KEY]: '00000000000000ff',
    });
    expect(traceFields('p', { traceparent: 'garbage' })).toEqual({});
  });
});
