import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { Firestore } from '@google-cloud/firestore';
import type { JobDocument, TaskDocument } from '../../src/contract/index.ts';
import { compileCacheEnv } from '../harness/child-env.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'src', 'cli.ts');

/** Creates `jobs/{id}` as the bridge leaves it after runJob: `dispatched`. */
export async function createDispatchedJob(
  db: Firestore,
  jobId: string,
  taskCount: number,
  extra: Partial<JobDocument> = {},
): Promise<void> {
  const now = new Date();
  const doc: JobDocument = {
    requestId: jobId,
    state: 'dispatched',
    job: 'worker-test',
    function: 'simulate',
    args: [],
    envNames: [],
    taskCount,
    timeoutSeconds: 600,
    labels: {},
    source: { messageId: `m-${jobId}` },
    dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 1 },
    createdAt: now,
    updatedAt: now,
    dispatchedAt: now,
    expireAt: new Date(now.getTime() + 86_400_000),
    ...extra,
  };
  await db.collection('jobs').doc(jobId).set(doc);
}

export async function readJob(db: Firestore, jobId: string): Promise<JobDocument> {
  return (await db.collection('jobs').doc(jobId).get()).data() as JobDocument;
}

export async function readTask(
  db: Firestore,
  jobId: string,
  index: number,
): Promise<TaskDocument | undefined> {
  return (
    await db.collection('jobs').doc(jobId).collection('tasks').doc(String(index)).get()
  ).data() as TaskDocument | undefined;
}

export { waitFor } from '../../bench/lib/poll.ts';

/** A local HTTP server answering `content of <path>`: what fan-out tasks fetch. */
export interface ContentServer {
  baseUrl: string;
  /** The paths asked for so far. */
  fetched: string[];
  close(): Promise<void>;
}

export async function startContentServer(): Promise<ContentServer> {
  const fetched: string[] = [];
  const server = createServer((req, res) => {
    fetched.push(req.url ?? '');
    res.end(`content of ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return {
    baseUrl: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    fetched,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface WorkProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code (or 128+n for a signal) once the process has exited. */
  exited: Promise<number>;
  /** Resolves when a log line with this message appears. */
  logged(message: string): Promise<Record<string, unknown>>;
}

const live = new Set<ChildProcess>();

/** Spawns `node src/cli.ts work <fn> [args]` with the task env set by hand, as Cloud Run would. */
export function spawnWork(
  fn: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): WorkProcess {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'work', fn, ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      ...compileCacheEnv(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const logs: Record<string, unknown>[] = [];
  const waiters: { message: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        logs.push(parsed);
        for (const w of waiters.filter((w) => w.message === parsed.message)) w.resolve(parsed);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit').then(([code, signal]) => {
    live.delete(child);
    if (process.env.WORKER_TEST_DEBUG) process.stderr.write(stderr);
    return typeof code === 'number' ? code : 128 + (signal === 'SIGKILL' ? 9 : 15);
  });
  const logged = (message: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const found = logs.find((l) => l.message === message);
      if (found) resolve(found);
      else waiters.push({ message, resolve });
    });
  return { child, logs, exited, logged };
}

/** Kills every work process a test left running (afterEach). */
export async function killLiveWorkers(): Promise<void> {
  const children = [...live];
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await once(c, 'exit');
      }
      live.delete(c);
    }),
  );
}

/** The env Cloud Run and the bridge give a task. */
export function taskEnv(input: {
  projectId: string;
  firestoreHost: string;
  jobId: string;
  taskIndex?: number;
  taskCount?: number;
  attempt?: number;
  maxRetries?: number;
  extra?: Record<string, string>;
}): Record<string, string> {
  return {
    FIRESTORE_EMULATOR_HOST: input.firestoreHost,
    GOOGLE_CLOUD_PROJECT: input.projectId,
    CLOUD_RUN_JOB: 'worker-test',
    CLOUD_RUN_EXECUTION: `worker-test-${input.jobId}`,
    CLOUD_RUN_TASK_INDEX: String(input.taskIndex ?? 0),
    CLOUD_RUN_TASK_COUNT: String(input.taskCount ?? 1),
    CLOUD_RUN_TASK_ATTEMPT: String(input.attempt ?? 0),
    JOBBRIDGE_REQUEST_ID: input.jobId,
    JOBBRIDGE_JOB_ID: input.jobId,
    JOBBRIDGE_FUNCTION: 'simulate',
    JOBBRIDGE_MAX_RETRIES: String(input.maxRetries ?? 3),
    JOBBRIDGE_PROGRESS_INTERVAL_MS: '200',
    ...input.extra,
  };
}
