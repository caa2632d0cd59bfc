import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureTopic } from '../../src/producer/index.ts';
import { testProjectId, testPubSub } from '../harness/google.ts';
import { receive, type Received } from '../producer/received.ts';
import { cliEnv, killRunningClis, runCli } from './run-cli.ts';

const projectId = testProjectId('cli-publish');
const env = cliEnv(projectId, { JOBBRIDGE_TOPIC: 'requests' });
let pubsub: PubSub;
let received: Received;

beforeAll(async () => {
  pubsub = testPubSub(projectId);
  await ensureTopic(pubsub, 'requests');
  await ensureTopic(pubsub, 'other');
  received = await receive(pubsub, 'requests', 'observer');
});
afterAll(async () => {
  await received.close();
  await pubsub.close();
});
afterEach(killRunningClis);

/** `jobbridge publish` of `fn` on the job of the same name, as `requestId`: `flags -- args`. */
const publishFn = (fn: string, requestId: string, args: string[], flags: string[] = []) =>
  runCli(
    ['publish', '--job', fn, '--function', fn, '--request-id', requestId, ...flags, '--', ...args],
    env,
  );

const bodyOf = (requestId: string): unknown => {
  const message = received.messages.find((m) => m.attributes.requestId === requestId);
  return message ? JSON.parse(message.data.toString()) : undefined;
};

describe('jobbridge publish', () => {
  it('publishes the request built from the flags and prints only the request id', async () => {
    const { code, stdout, stderr } = await runCli(
      [
        'publish',
        '--job',
        'fanout',
        '--function',
        'fanout',
        '--tasks',
        '4',
        '--timeout',
        '120',
        '--env',
        'MODE=fast',
        '--env',
        'EMPTY=',
        '--label',
        'tenant=acme',
        '--',
        '200',
        '--not-an-option',
      ],
      env,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const requestId = stdout.trim();
    expect(stdout).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$/,
    );
    await received.until(() => bodyOf(requestId) !== undefined);
    expect(bodyOf(requestId)).toEqual({
      schemaVersion: 1,
      requestId,
      job: 'fanout',
      function: 'fanout',
      args: ['200', '--not-an-option'],
      env: { MODE: 'fast', EMPTY: '' },
      taskCount: 4,
      timeoutSeconds: 120,
      labels: { tenant: 'acme' },
    });
  });

  it('uses --request-id, --topic and --json', async () => {
    const sub = await receive(pubsub, 'other', 'other-observer');
    try {
      const { code, stdout } = await runCli(
        [
          'publish',
          '--job',
          'fanout',
          '--request-id',
          'nightly-2026-01-01',
          '--topic',
          'other',
          '--json',
        ],
        env,
      );
      expect(code).toBe(0);
      const printed = JSON.parse(stdout) as { requestId: string; messageId: string };
      expect(printed.requestId).toBe('nightly-2026-01-01');
      await sub.until((ms) => ms.some((m) => m.id === printed.messageId));
      expect(sub.messages[0]?.attributes.requestId).toBe('nightly-2026-01-01');
    } finally {
      await sub.close();
    }
  });

  it('refuses an invalid request with the field, its flag and the reason, exit 2, nothing published', async () => {
    const before = received.messages.length;
    const { code, stdout, stderr } = await runCli(
      [
        'publish',
        '--job',
        'fanout',
        '--request-id',
        'refused',
        '--tasks',
        '0',
        '--env',
        'NODE_OPTIONS=--inspect',
      ],
      env,
    );
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toBe(
      'error: invalid job request, nothing published: env.NODE_OPTIONS (--env): NODE_OPTIONS is reserved and cannot be overridden; taskCount (--tasks): must be at least 1',
    );
    // Publish a sentinel after it: it arriving alone shows the refused request never left.
    const sentinel = await runCli(['publish', '--job', 'fanout', '--request-id', 'sentinel'], env);
    expect(sentinel.code).toBe(0);
    await received.until(() => bodyOf('sentinel') !== undefined);
    expect(received.messages.slice(before).map((m) => m.attributes.requestId)).toEqual([
      'sentinel',
    ]);
  });

  it('refuses args that the function declares otherwise (simulate --duration 8s): the arg named, exit 2, nothing published', async () => {
    const before = received.messages.length;
    const { code, stdout, stderr } = await publishFn(
      'simulate',
      'typo',
      ['--duration', '8s'],
      ['--tasks', '3'],
    );
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toMatch(
      /^error: invalid job request, nothing published: args \(args after --\): function simulate: Unknown option '--duration' \(simulate takes --steps N, /,
    );
    // Its declared args pass, and a function that declares none is not checked.
    const good = await publishFn('simulate', 'typed-ok', ['--steps', '2']);
    expect(good.code, good.stderr).toBe(0);
    const sentinel = await publishFn('fan-out', 'untyped', ['--duration', '8s']);
    expect(sentinel.code, sentinel.stderr).toBe(0);
    await received.until(() => bodyOf('untyped') !== undefined);
    expect(received.messages.slice(before).map((m) => m.attributes.requestId)).toEqual([
      'typed-ok',
      'untyped',
    ]);
  });

  it('exits 2 on bad usage', async () => {
    const cases: [string[], RegExp][] = [
      [['publish'], /required option '--job <name>' not specified/],
      [['publish', '--job', 'fanout', '--env', 'NOEQUALS'], /"NOEQUALS" is not KEY=VALUE/],
      [['publish', '--job', 'fanout', '--label', 'a=1', '--label', 'a=2'], /a is given twice/],
      [
        ['publish', '--job', 'fanout', '--tasks', 'many'],
        /--tasks <n>' argument 'many' is invalid\. must be an integer/,
      ],
      [['publish', '--job', 'Not_A_Job'], /job \(--job\): must be a Cloud Run job name/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await runCli(args, env);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr.split('\n')[0]).toMatch(message);
    }
  });

  it('says in one line that the topic does not exist, exit 1', async () => {
    const { code, stderr } = await runCli(
      ['publish', '--job', 'fanout', '--topic', 'missing'],
      env,
    );
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^jobbridge: publishing on topic missing failed: .*NOT_FOUND/);
  });
});
