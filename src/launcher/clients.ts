import * as grpc from '@grpc/grpc-js';
import { ExecutionsClient, JobsClient, TasksClient } from '@google-cloud/run';

export interface RunClients {
  jobs: JobsClient;
  executions: ExecutionsClient;
  tasks: TasksClient;
  /** Closes the clients' channels. */
  close(): Promise<void>;
}

export interface RunClientSettings {
  /** `host:port` of `jobbridge emulator` (CLOUD_RUN_EMULATOR_HOST); unset means Google. */
  emulatorHost?: string;
  /** Passed to the clients when talking to Google (ignored by the emulator). */
  projectId?: string;
}

function splitHost(hostPort: string): { apiEndpoint: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hostPort.trim());
  if (!m?.[1] || !m[2])
    throw new Error(`CLOUD_RUN_EMULATOR_HOST: expected host:port, got '${hostPort}'`);
  return { apiEndpoint: m[1], port: Number(m[2]) };
}

/**
 * Creates the JobsClient, ExecutionsClient and TasksClient, pointed at Google or, when `emulatorHost` is
 * given, at the emulator over plaintext gRPC. Create once in the CLI layer and pass them down.
 */
export function createRunClients(settings: RunClientSettings = {}): RunClients {
  const base = settings.projectId ? { projectId: settings.projectId } : {};
  const options = settings.emulatorHost
    ? {
        ...base,
        ...splitHost(settings.emulatorHost),
        sslCreds: grpc.credentials.createInsecure(),
        // The emulator needs no credentials. A fixed project id and universe domain stop the auth
        // library from probing for credentials and the GCE metadata server on every new channel.
        projectId: settings.projectId ?? 'emulator',
        universeDomain: 'googleapis.com',
      }
    : base;
  const jobs = new JobsClient(options);
  const executions = new ExecutionsClient(options);
  const tasks = new TasksClient(options);
  return {
    jobs,
    executions,
    tasks,
    async close() {
      await Promise.all([jobs.close(), executions.close(), tasks.close()]);
    },
  };
}
