import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { HttpJsonGateway, type Handler, type Handlers } from './http-json.ts';
import type { FaultOptions, RunEmulatorOptions, StartedRunEmulator } from './api.ts';
import { loadRunProtos } from './protos.ts';
import { RunJobQuotas } from './quotas.ts';
import { Registry } from './registry.ts';
import { StatusError } from './status-error.ts';
import type { OverridesMessage } from './overrides.ts';
import { errorMessage } from '../errors/coerce.ts';

const DEFAULT_KILL_GRACE_MS = 10_000;
/** The PATH of Debian's base images. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What an HTTP/2 client sends first: how a gRPC connection is told from an HTTP/1.1 one. */
const HTTP2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

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
          const message = errorMessage(err);
          log(`[emulator] internal error: ${message}`);
          callback({ code: grpc.status.INTERNAL, details: message });
        },
      );
  };
}

const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const num = (value: unknown): number => (typeof value === 'number' ? value : 0);

/** Rolls the dice of fault injection for one RunJob call; each fault it injects is logged. */
async function injectFaults(faults: FaultOptions, log: (line: string) => void): Promise<void> {
  if (faults.runJobLatencyMs)
    await new Promise((resolve) => setTimeout(resolve, faults.runJobLatencyMs));
  if (faults.runJobUnavailableRate && Math.random() < faults.runJobUnavailableRate) {
    log('[emulator] RunJob: injected fault UNAVAILABLE');
    throw new StatusError(
      grpc.status.UNAVAILABLE,
      'The service is currently unavailable (injected fault).',
    );
  }
  if (faults.runJobResourceExhaustedRate && Math.random() < faults.runJobResourceExhaustedRate) {
    log('[emulator] RunJob: injected fault RESOURCE_EXHAUSTED');
    throw new StatusError(
      grpc.status.RESOURCE_EXHAUSTED,
      'Quota exceeded for RunJob requests (injected fault).',
    );
  }
}

/**
 * Starts the Cloud Run Jobs emulator: the v2 Jobs, Executions, Tasks and google.longrunning
 * Operations services over insecure gRPC and HTTP/1.1 JSON on one port, for any project and
 * location, running each task of each execution as a child process with the Cloud Run task env.
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
  // Scratch folders of attempts, and task logs unless a logDir was given: removed on stop.
  const ownDir = await mkdtemp(join(tmpdir(), 'run-emulator-'));
  const logDir = options.logDir ?? join(ownDir, 'logs');
  const scratchDir = join(ownDir, 'scratch');
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

  const handlers: Handlers = {
    'google.cloud.run.v2.Jobs': {
      GetJob: (req) => registry.getJob(str(req.name)),
      ListJobs: (req) => ({ jobs: registry.listJobs(str(req.parent)), nextPageToken: '' }),
      RunJob: async (req) => {
        await injectFaults(faults, log);
        return registry.runJob(
          str(req.name),
          req.overrides as OverridesMessage | null,
          req.validateOnly === true,
        );
      },
    },
    'google.cloud.run.v2.Executions': {
      GetExecution: (req) => registry.getExecution(str(req.name)),
      ListExecutions: (req) =>
        registry.listExecutions(str(req.parent), num(req.pageSize), str(req.pageToken)),
      CancelExecution: (req) => registry.cancelExecution(str(req.name), req.validateOnly === true),
      DeleteExecution: (req) =>
        registry.deleteExecution(str(req.name), req.validateOnly === true, str(req.etag)),
    },
    'google.cloud.run.v2.Tasks': {
      GetTask: (req) => registry.getTask(str(req.name)),
      ListTasks: (req) =>
        registry.listTasks(str(req.parent), num(req.pageSize), str(req.pageToken)),
    },
    'google.longrunning.Operations': {
      GetOperation: (req) => registry.getOperation(str(req.name)),
      ListOperations: (req) =>
        registry.listOperations(str(req.name), num(req.pageSize), str(req.pageToken)),
      DeleteOperation: (req) => registry.deleteOperation(str(req.name)),
      WaitOperation: async (req) => {
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
      },
    },
  };

  const server = new grpc.Server();
  const services: [grpc.ServiceDefinition, string][] = [
    [protos.jobsService, 'google.cloud.run.v2.Jobs'],
    [protos.executionsService, 'google.cloud.run.v2.Executions'],
    [protos.tasksService, 'google.cloud.run.v2.Tasks'],
    [protos.operationsService, 'google.longrunning.Operations'],
  ];
  for (const [definition, name] of services) {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(handlers[name] ?? {}))
      implementation[method] = unary(log, handler);
    server.addService(definition, implementation);
  }
  const gateway = new HttpJsonGateway(handlers, log);

  // One port, both transports: a connection that opens with the HTTP/2 preface is gRPC, any
  // other is HTTP/1.1 for the REST surface (what `fallback: true` clients and curl send).
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const http1 = createHttpServer((req, res) => void gateway.handle(req, res));
  http1.keepAliveTimeout = 5000;
  const sockets = new Set<Socket>();
  const listener = createNetServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('error', () => socket.destroy());
    socket.once('readable', () => {
      const head = socket.read(
        Math.min(HTTP2_PREFACE.length, socket.readableLength),
      ) as Buffer | null;
      if (head) socket.unshift(head);
      if (head && HTTP2_PREFACE.startsWith(head.toString('latin1')))
        injector.injectConnection(socket);
      else http1.emit('connection', socket);
    });
  });
  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    listener.once('error', (err) =>
      reject(
        new Error(`cannot listen on ${host}:${options.port ?? 0}: ${err.message}`, { cause: err }),
      ),
    );
    listener.listen(options.port ?? 0, host, () => {
      const address = listener.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
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
        // Open connections must not hold stop() up: a client that keeps its channel open is cut.
        await new Promise<void>((resolve) => {
          listener.close(() => resolve());
          injector.destroy();
          server.forceShutdown();
          http1.closeAllConnections();
          for (const socket of sockets) socket.destroy();
        });
        await killed;
        // Logs and scratch folders the emulator made for itself go with it; a logDir it was
        // given stays for whoever asked for it.
        await rm(ownDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
