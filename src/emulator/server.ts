import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { FaultOptions, RunEmulatorOptions, StartedRunEmulator } from './api.ts';
import { loadRunProtos } from './protos.ts';
import { RunJobQuotas } from './quotas.ts';
import { Registry } from './registry.ts';
import { StatusError } from './status-error.ts';
import type { OverridesMessage } from './overrides.ts';

const DEFAULT_KILL_GRACE_MS = 10_000;
/** The PATH of Debian's base images. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type Handler = (request: Record<string, unknown>) => Promise<object> | object;

/** Turns a plain handler into a gRPC unary handler; a StatusError becomes its status, anything else INTERNAL. */
function unary(
  log: (line: string) => void,
  handler: Handler,
): grpc.handleUnaryCall<Record<string, unknown>, object> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request))
      .then(
        (response) => callback(null, response),
        (err: unknown) => {
          if (err instanceof StatusError) return callback({ code: err.code, details: err.message });
          const message = err instanceof Error ? err.message : String(err);
          log(`[emulator] internal error: ${message}`);
          callback({ code: grpc.status.INTERNAL, details: message });
        },
      );
  };
}

const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const num = (value: unknown): number => (typeof value === 'number' ? value : 0);

/** Rolls the dice of fault injection for one RunJob call. */
async function injectFaults(faults: FaultOptions): Promise<void> {
  if (faults.runJobLatencyMs)
    await new Promise((resolve) => setTimeout(resolve, faults.runJobLatencyMs));
  if (faults.runJobUnavailableRate && Math.random() < faults.runJobUnavailableRate) {
    throw new StatusError(
      grpc.status.UNAVAILABLE,
      'The service is currently unavailable (injected fault).',
    );
  }
  if (faults.runJobResourceExhaustedRate && Math.random() < faults.runJobResourceExhaustedRate) {
    throw new StatusError(
      grpc.status.RESOURCE_EXHAUSTED,
      'Quota exceeded for RunJob requests (injected fault).',
    );
  }
}

/**
 * Starts the Cloud Run Jobs emulator: the v2 Jobs, Executions and google.longrunning.Operations
 * services over insecure gRPC, for any project and location, running each task of each
 * execution as a child process with the Cloud Run task env.
 */
export async function startRunEmulator(options: RunEmulatorOptions): Promise<StartedRunEmulator> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let faults: FaultOptions = { ...options.faults };
  const protos = loadRunProtos();
  // A task sees what a container would: a minimal PATH (with this Node's folder, the image's
  // runtime), HOME and TMPDIR in its own scratch folder, the emulator's taskEnv, and its job's
  // env. Never the emulator's own environment: credentials in the developer's shell stay there.
  const baseEnv: Record<string, string> = {
    PATH: `${dirname(process.execPath)}:${SYSTEM_PATH}`,
    ...options.taskEnv,
  };
  const ownDir =
    options.logDir === undefined ? await mkdtemp(join(tmpdir(), 'run-emulator-')) : undefined;
  const logDir = options.logDir ?? join(ownDir ?? '', 'logs');
  const scratchDir = join(
    ownDir ?? (await mkdtemp(join(tmpdir(), 'run-emulator-scratch-'))),
    'scratch',
  );
  const quotas = new RunJobQuotas(options.quotas);
  const registry = new Registry(
    options.jobs,
    {
      baseEnv,
      logDir,
      scratchDir,
      killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      log,
    },
    protos.encodeExecution,
    quotas,
  );

  const server = new grpc.Server();
  server.addService(protos.jobsService, {
    GetJob: unary(log, (req) => registry.getJob(str(req.name))),
    ListJobs: unary(log, (req) => ({
      jobs: registry.listJobs(str(req.parent)),
      nextPageToken: '',
    })),
    RunJob: unary(log, async (req) => {
      await injectFaults(faults);
      return registry.runJob(
        str(req.name),
        req.overrides as OverridesMessage | null,
        req.validateOnly === true,
      );
    }),
  });
  server.addService(protos.executionsService, {
    GetExecution: unary(log, (req) => registry.getExecution(str(req.name))),
    ListExecutions: unary(log, (req) =>
      registry.listExecutions(str(req.parent), num(req.pageSize), str(req.pageToken)),
    ),
    CancelExecution: unary(log, (req) =>
      registry.cancelExecution(str(req.name), req.validateOnly === true),
    ),
    DeleteExecution: unary(log, (req) =>
      registry.deleteExecution(str(req.name), req.validateOnly === true, str(req.etag)),
    ),
  });
  server.addService(protos.tasksService, {
    GetTask: unary(log, (req) => registry.getTask(str(req.name))),
    ListTasks: unary(log, (req) =>
      registry.listTasks(str(req.parent), num(req.pageSize), str(req.pageToken)),
    ),
  });
  server.addService(protos.operationsService, {
    GetOperation: unary(log, (req) => registry.getOperation(str(req.name))),
    ListOperations: unary(log, (req) =>
      registry.listOperations(str(req.name), num(req.pageSize), str(req.pageToken)),
    ),
    DeleteOperation: unary(log, (req) => registry.deleteOperation(str(req.name))),
    WaitOperation: unary(log, async (req) => {
      const name = str(req.name);
      const run = registry.runOfOperation(name);
      const timeout = req.timeout as { seconds?: string } | null;
      const waitMs = timeout ? Number(timeout.seconds ?? 0) * 1000 : 60_000;
      if (run)
        await Promise.race([
          run.done,
          new Promise((resolve) => setTimeout(resolve, waitMs).unref()),
        ]);
      return registry.getOperation(name);
    }),
  });

  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host}:${options.port ?? 0}`,
      grpc.ServerCredentials.createInsecure(),
      (err, bound) =>
        err
          ? reject(
              new Error(`cannot listen on ${host}:${options.port ?? 0}: ${err.message}`, {
                cause: err,
              }),
            )
          : resolve(bound),
    );
  });

  let stopping: Promise<void> | undefined;
  return {
    host: `${host}:${port}`,
    port,
    logDir,
    setFaults(next) {
      faults = { ...next };
    },
    setQuotas(next) {
      quotas.set(next);
    },
    stop() {
      stopping ??= (async () => {
        const killed = registry.killAll();
        await new Promise<void>((resolve) => {
          // A client that keeps its channel open must not hold stop() up: force after a moment.
          // tryShutdown's callback waits for the listener to close, which a connection that
          // never became an HTTP/2 session can hold up for good: stop does not wait for it.
          const force = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 2000);
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
        await killed;
        // Logs and scratch folders the emulator made for itself go with it; a logDir it was
        // given stays for whoever asked for it.
        if (ownDir) await rm(ownDir, { recursive: true, force: true });
        await rm(scratchDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
