import type { Command } from 'commander';
import { ValidationError } from '../contract/index.ts';
import { functions } from '../../functions/index.ts';
import { publishJob, type JobRequestInput } from '../producer/index.ts';
import { argsChecks } from '../worker/args.ts';
import { out, readClientConfig, usageError, withPubSub } from './context.ts';
import { integerAtLeast, keyValue } from './options.ts';
import { errorMessage } from '../errors/index.ts';

interface PublishFlags {
  job: string;
  function?: string;
  requestId?: string;
  tasks?: number;
  timeout?: number;
  env?: Record<string, string>;
  label?: Record<string, string>;
  concurrencyKey?: string;
  topic?: string;
  json?: boolean;
}

/** The flag that sets each request field, so a refusal points at what the user typed. */
const FLAG_OF_FIELD: Record<string, string> = {
  job: '--job',
  function: '--function',
  requestId: '--request-id',
  taskCount: '--tasks',
  timeoutSeconds: '--timeout',
  env: '--env',
  labels: '--label',
  concurrencyKey: '--concurrency-key',
  args: 'args after --',
};

function describeRefusal(err: ValidationError): string {
  const parts = err.issues.map((issue) => {
    const flag = FLAG_OF_FIELD[issue.path.split('.')[0] ?? ''];
    return `${issue.path}${flag ? ` (${flag})` : ''}: ${issue.reason}`;
  });
  return `invalid job request, nothing published: ${parts.join('; ')}`;
}

/** `jobbridge publish`: validates a job request and publishes it; prints the request id. */
export function register(program: Command): void {
  program
    .command('publish')
    .description('publish a job request on the requests topic and print its request id')
    .requiredOption('--job <name>', 'Cloud Run job to run (on the bridge allowlist)')
    .option(
      '--function <name>',
      'function in functions/ for the jobbridge image (`work <function> args…`)',
    )
    .option('--request-id <id>', 'idempotency key: the same id runs once (default: a new UUIDv7)')
    .option('--tasks <n>', 'task count of the execution', integerAtLeast(Number.MIN_SAFE_INTEGER))
    .option(
      '--timeout <seconds>',
      'timeout of each task, in seconds',
      integerAtLeast(Number.MIN_SAFE_INTEGER),
    )
    .option('--env <K=V>', 'env var for the tasks (repeatable)', keyValue)
    .option('--label <K=V>', 'label on the job document (repeatable)', keyValue)
    .option('--concurrency-key <key>', 'key for the bridge’s per-key concurrency limit')
    .option(
      '--topic <name>',
      'topic to publish on (env JOBBRIDGE_TOPIC, default jobbridge-requests)',
    )
    .option('--json', 'print {"requestId", "messageId"} as JSON')
    .argument('[args...]', 'arguments for the function or the job, after --')
    .addHelpText(
      'after',
      '\nExample:\n  $ jobbridge publish --job simulate --function simulate --tasks 4 --label tenant=acme -- --steps 20\n' +
        '  0190c6a1-7d3e-7b2a-9f41-2d1c0e5a8b77',
    )
    .action(async (args: string[], flags: PublishFlags, command: Command) => {
      const config = readClientConfig();
      const request: JobRequestInput = {
        job: flags.job,
        ...(flags.function !== undefined && { function: flags.function }),
        ...(flags.requestId !== undefined && { requestId: flags.requestId }),
        ...(args.length > 0 && { args }),
        ...(flags.env && { env: flags.env }),
        ...(flags.tasks !== undefined && { taskCount: flags.tasks }),
        ...(flags.timeout !== undefined && { timeoutSeconds: flags.timeout }),
        ...(flags.label && { labels: flags.label }),
        ...(flags.concurrencyKey !== undefined && { concurrencyKey: flags.concurrencyKey }),
      };
      // A function of this image that declares its args is checked before anything is sent.
      const functionArgs =
        flags.function === undefined ? {} : await argsChecks(functions, [flags.function]);
      try {
        const published = await withPubSub(config, (pubsub) =>
          publishJob(pubsub, flags.topic ?? config.topic, request, { functionArgs }),
        );
        out(flags.json ? JSON.stringify(published) : published.requestId);
      } catch (err: unknown) {
        if (err instanceof ValidationError) usageError(command, describeRefusal(err));
        throw new Error(
          `publishing on topic ${flags.topic ?? config.topic} failed: ${messageOf(err)}`,
          {
            cause: err,
          },
        );
      }
    });
}

function messageOf(err: unknown): string {
  return errorMessage(err);
}
