import { join } from 'node:path';
import {
  startRunEmulator,
  type EmulatorJobSpec,
  type StartedRunEmulator,
} from '../../src/emulator/index.ts';
import {
  CloudRunLauncher,
  createRunClients,
  type ExecutionSummary,
  type RunClients,
} from '../../src/launcher/index.ts';
import { waitFor } from '../../bench/lib/poll.ts';
import { compileCacheEnv } from './child-env.ts';
import { emulatorHosts } from './google.ts';

/** The CLI from source: what a task of the emulator runs, as the image's entrypoint does. */
export const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

/** A job whose tasks run `node src/cli.ts work ARGS…`. */
export function workJob(
  args: string[],
  spec: Omit<EmulatorJobSpec, 'command' | 'args'> = {},
): EmulatorJobSpec {
  return { command: [process.execPath, CLI], args: ['work', ...args], ...spec };
}

/** A Cloud Run Jobs emulator running `jobbridge work` tasks, with the real Run clients on it. */
export interface WorkEmulator {
  emulator: StartedRunEmulator;
  run: RunClients;
  /** The bridge's launcher on the emulator, for `projectId` in `region`. */
  launcher: CloudRunLauncher;
  /** The emulator's log lines so far. */
  log: string[];
  /** The execution `name` once it is done (polled through the launcher, up to `timeoutMs`). */
  executionDone(name: string, timeoutMs?: number): Promise<ExecutionSummary>;
  /** Closes the clients and stops the emulator (and any task still running). */
  close(): Promise<void>;
}

/**
 * Starts the emulator with `jobs`, each task pointed at the Firestore emulator under
 * `projectId` (plus `taskEnv`) and given the run's compile cache.
 */
export async function startWorkEmulator(
  projectId: string,
  jobs: Record<string, EmulatorJobSpec>,
  options: { taskEnv?: Record<string, string>; region?: string } = {},
): Promise<WorkEmulator> {
  const log: string[] = [];
  const emulator = await startRunEmulator({
    jobs: { jobs },
    taskEnv: {
      FIRESTORE_EMULATOR_HOST: emulatorHosts().firestore,
      GOOGLE_CLOUD_PROJECT: projectId,
      ...compileCacheEnv(),
      ...options.taskEnv,
    },
    log: (line) => log.push(line),
  });
  const run = createRunClients({ emulatorHost: emulator.host, projectId });
  const launcher = new CloudRunLauncher(run, {
    project: projectId,
    region: options.region ?? 'us-central1',
  });
  return {
    emulator,
    run,
    launcher,
    log,
    executionDone: (name, timeoutMs = 45_000) =>
      waitFor(
        `execution ${name} done`,
        async () => {
          const e = await launcher.getExecution(name);
          return e.done ? e : undefined;
        },
        timeoutMs,
      ),
    close: async () => {
      await run.close();
      await emulator.stop();
    },
  };
}
