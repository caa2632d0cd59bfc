import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { DEFAULT_COLLECTION } from '../contract/index.ts';
import { startDevStack, type DevStack } from '../devstack/dev-stack.ts';
import { CLOUD_RUN_DEFAULT_QUOTAS } from '../emulator/index.ts';
import { nextSteps } from '../devstack/next-steps.ts';
import { DevStackError } from '../devstack/ports.ts';
import { DEFAULT_TOPIC } from './context.ts';
import { devStackClients } from './dev-clients.ts';
import { integerAtLeast } from './options.ts';
import { recordedCost } from './ui.ts';

const EXAMPLE_JOBS = fileURLToPath(new URL('../../examples/jobs.json', import.meta.url));

interface DevFlags {
  project: string;
  region: string;
  collection: string;
  topic: string;
  jobs: string;
  pubsubPort: number;
  firestorePort: number;
  runPort: number;
  bridgePort: number;
  uiPort: number;
  reconcileIntervalMs: number;
  runjobPerMinute?: number;
  maxRunningExecutions?: number;
  verbose?: boolean;
}

const port = (value: string): number => {
  const n = integerAtLeast(0)(value);
  if (n > 65_535) throw new Error('must be at most 65535');
  return n;
};

/**
 * Kills the process groups still there when this process exits by any path (a signal during
 * start-up, an uncaught error): the emulators' Java processes must never outlive `jobbridge dev`.
 */
function killGroupsOnExit(): (pgid: number) => void {
  const groups: number[] = [];
  process.once('exit', () => {
    for (const pgid of groups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone: the normal case after stop()
      }
    }
  });
  return (pgid) => void groups.push(pgid);
}

/** Exit code of a process ended by SIGINT / SIGTERM, as shells report it. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** Waits for Ctrl-C / SIGTERM (or a part dying), then stops the stack. Returns the exit code. */
async function runUntilStopped(
  stack: DevStack,
  signalled: Promise<NodeJS.Signals>,
): Promise<number> {
  const reason = await Promise.race([
    signalled.then((s) => ({ signal: s })),
    stack.failed.then((why) => ({ failed: why })),
  ]);
  if ('failed' in reason) process.stderr.write(`jobbridge dev: ${reason.failed}; stopping\n`);
  else process.stdout.write(`jobbridge dev: ${reason.signal}: stopping everything\n`);
  await stack.stop();
  process.stdout.write('jobbridge dev: stopped\n');
  return 'failed' in reason ? 1 : 0;
}

/** `jobbridge dev` (`npm start`): the whole path on this machine until Ctrl-C. */
export function register(program: Command): void {
  program
    .command('dev')
    .description(
      'run the whole path locally: Pub/Sub and Firestore emulators, the Cloud Run Jobs emulator, the bridge and a push subscription',
    )
    .option('--project <id>', 'project id on the emulators', 'jobbridge-dev')
    .option('--region <location>', 'JOBBRIDGE_REGION of the bridge', 'local')
    .option('--collection <name>', 'Firestore collection of job documents', DEFAULT_COLLECTION)
    .option('--topic <name>', 'topic of job requests', DEFAULT_TOPIC)
    // The help names the file as in the checkout, not by this machine's absolute path.
    .addOption(
      new Option('--jobs <file>', 'job file of the Cloud Run Jobs emulator').default(
        EXAMPLE_JOBS,
        'examples/jobs.json',
      ),
    )
    .option('--pubsub-port <port>', 'Pub/Sub emulator port (0: a free one)', port, 8085)
    .option('--firestore-port <port>', 'Firestore emulator port (0: a free one)', port, 8086)
    .option('--run-port <port>', 'Cloud Run Jobs emulator port (0: a free one)', port, 8123)
    .option('--bridge-port <port>', 'bridge port (0: a free one)', port, 8080)
    .option('--ui-port <port>', 'dashboard port (0: a free one)', port, 8090)
    .option(
      '--reconcile-interval-ms <ms>',
      'how often the reconciler runs (POST /reconcile on the bridge; 0: never)',
      integerAtLeast(0),
      5000,
    )
    .option(
      '--runjob-per-minute <n>',
      "the Cloud Run Jobs emulator's job run quota, and the bridge's pace (default: Cloud Run's, 180)",
      integerAtLeast(1),
    )
    .option(
      '--max-running-executions <m>',
      "the Cloud Run Jobs emulator's running-executions limit (default: Cloud Run's, 1000)",
      integerAtLeast(1),
    )
    .option('--verbose', "also print the Google emulators' own output")
    .addHelpText(
      'after',
      '\nExample:\n  $ npm start                       # = jobbridge dev\n' +
        '  $ jobbridge dev --bridge-port 9080 --pubsub-port 0 --firestore-port 0',
    )
    .action(async (flags: DevFlags) => {
      const log = (line: string): void => void process.stdout.write(`${line}\n`);
      const onProcessGroup = killGroupsOnExit();
      let starting = true;
      let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
      const signalled = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
      // The listener stays for the whole stop: npm forwards the terminal's SIGINT a second time,
      // and without a listener that one would kill this process halfway through stopping Java.
      const listener = (signal: NodeJS.Signals): void => {
        // Mid start-up there is nothing to drain: exit, and the exit hook kills what started.
        if (starting) process.exit(SIGNAL_EXIT[signal] ?? 1);
        onSignal(signal);
      };
      process.on('SIGINT', listener);
      process.on('SIGTERM', listener);
      try {
        let stack: DevStack;
        try {
          stack = await startDevStack({
            projectId: flags.project,
            region: flags.region,
            collection: flags.collection,
            topic: flags.topic,
            jobFile: flags.jobs,
            clients: devStackClients,
            pubsubPort: flags.pubsubPort,
            firestorePort: flags.firestorePort,
            runPort: flags.runPort,
            bridgePort: flags.bridgePort,
            uiPort: flags.uiPort,
            uiCost: recordedCost({ vcpu: 1, memoryGib: 0.5 }),
            verbose: flags.verbose === true,
            reconcileIntervalMs: flags.reconcileIntervalMs,
            runQuotas: {
              ...CLOUD_RUN_DEFAULT_QUOTAS,
              ...(flags.runjobPerMinute !== undefined
                ? { runJobPerMinute: flags.runjobPerMinute }
                : {}),
              ...(flags.maxRunningExecutions !== undefined
                ? { maxRunningExecutions: flags.maxRunningExecutions }
                : {}),
            },
            log,
            onProcessGroup,
          });
        } catch (err: unknown) {
          if (!(err instanceof DevStackError)) throw err;
          process.stderr.write(`jobbridge dev: ${err.message}\n`);
          process.exitCode = 1;
          return;
        }
        starting = false;
        for (const line of nextSteps(stack, flags.jobs)) log(line);
        process.exitCode = await runUntilStopped(stack, signalled);
      } finally {
        process.off('SIGINT', listener);
        process.off('SIGTERM', listener);
      }
    });
}
