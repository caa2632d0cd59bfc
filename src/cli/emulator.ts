import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { loadJobFile, startRunEmulator } from '../emulator/index.ts';

function integer(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got '${value}'`);
    return n;
  };
}

function rate(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0 || n > 1)
      throw new InvalidArgumentError(`${name} must be a fraction between 0 and 1, got '${value}'`);
    return n;
  };
}

interface EmulatorFlags {
  port: number;
  host: string;
  jobs: string;
  killGraceMs?: number;
  faultUnavailable?: number;
  faultResourceExhausted?: number;
  faultLatencyMs?: number;
  runjobPerMinute?: number;
  maxRunningExecutions?: number;
}

/** `jobbridge emulator`: the local Cloud Run Jobs API, until SIGINT or SIGTERM. */
export function register(program: Command): void {
  program
    .command('emulator')
    .description('Serve a local Cloud Run Jobs v2 API that runs each task as a child process')
    .requiredOption(
      '--jobs <file>',
      'job file: job name → command, args, env, taskCount, parallelism, maxRetries, timeoutSeconds',
    )
    .option('--port <port>', 'port to listen on (0: a free one)', integer('--port', 0), 8123)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--kill-grace-ms <ms>',
      'SIGTERM → SIGKILL grace for timed-out or cancelled tasks',
      integer('--kill-grace-ms', 0),
    )
    .option(
      '--runjob-per-minute <n>',
      "Cloud Run's job run quota: past N executions started in any 60 s (per project and region), RunJob answers RESOURCE_EXHAUSTED (default: off; Cloud Run's default is 180)",
      integer('--runjob-per-minute', 1),
    )
    .option(
      '--max-running-executions <m>',
      "Cloud Run's running-executions limit: with M executions running (per project and region), RunJob answers RESOURCE_EXHAUSTED (default: off; Cloud Run's limit is 1000)",
      integer('--max-running-executions', 1),
    )
    .option(
      '--fault-unavailable <rate>',
      'fraction of RunJob calls answered UNAVAILABLE',
      rate('--fault-unavailable'),
    )
    .option(
      '--fault-resource-exhausted <rate>',
      'fraction of RunJob calls answered RESOURCE_EXHAUSTED',
      rate('--fault-resource-exhausted'),
    )
    .option(
      '--fault-latency-ms <ms>',
      'latency added before RunJob answers',
      integer('--fault-latency-ms', 0),
    )
    .addHelpText(
      'after',
      '\nExample (next to npm start, whose own emulator has port 8123):\n' +
        '  $ jobbridge emulator --port 8124 --jobs examples/jobs.json --runjob-per-minute 60',
    )
    .action(async (flags: EmulatorFlags) => {
      const { jobs, baseDir } = await loadJobFile(flags.jobs);
      const emulator = await startRunEmulator({
        jobs,
        baseDir,
        port: flags.port,
        host: flags.host,
        killGraceMs: flags.killGraceMs,
        faults: {
          runJobUnavailableRate: flags.faultUnavailable,
          runJobResourceExhaustedRate: flags.faultResourceExhausted,
          runJobLatencyMs: flags.faultLatencyMs,
        },
        quotas: {
          runJobPerMinute: flags.runjobPerMinute,
          maxRunningExecutions: flags.maxRunningExecutions,
        },
        log: (line) => process.stdout.write(`${line}\n`),
      });
      process.stdout.write(
        `Cloud Run Jobs emulator listening on ${emulator.host} (jobs: ${Object.keys(jobs.jobs).join(', ')})\n`,
      );
      if (flags.runjobPerMinute !== undefined || flags.maxRunningExecutions !== undefined)
        process.stdout.write(
          `quotas: ${flags.runjobPerMinute ?? 'no'} RunJob a minute, ${flags.maxRunningExecutions ?? 'no limit of'} running executions (per project and region)\n`,
        );
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals): void => {
          process.stdout.write(`Cloud Run Jobs emulator stopping on ${signal}\n`);
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await emulator.stop();
    });
}
