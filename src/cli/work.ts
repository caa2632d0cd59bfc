import type { Command } from 'commander';

/** `work --batch`: the task runs its member of the batch named by JOBBRIDGE_BATCH_ID. */
const BATCH_FLAG = '--batch';

/**
 * `jobbridge work <function> [args…]` and `jobbridge work --batch`: the runtime inside a Cloud
 * Run Jobs task. Imports are lazy and start in parallel, because cold start is paid by every task.
 * `--batch` counts only in first place: anything after the function name is the function's.
 */
export function register(program: Command): void {
  program
    .command('work')
    .usage('<function> [args...] | --batch')
    .description(
      'run a function from functions/ as this Cloud Run Jobs task (reads CLOUD_RUN_* and JOBBRIDGE_* env); --batch runs the member of JOBBRIDGE_BATCH_ID that owns this task',
    )
    .argument('<function>', 'name of the function in functions/index.ts, or --batch')
    .argument('[args...]', 'arguments given to the function as ctx.args')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (name: string, args: string[]) => {
      if (name === BATCH_FLAG && args.length > 0) {
        process.stderr.write(
          `jobbridge work --batch takes no arguments (the batch document names the function and its args)\n`,
        );
        process.exit(2);
      }
      process.exit(await work(name === BATCH_FLAG ? undefined : name, args));
    });
}

/** `name` undefined: batch mode. */
async function work(name: string | undefined, args: string[]): Promise<number> {
  // Cache compiled code between task starts (NODE_COMPILE_CACHE picks the folder).
  process.getBuiltinModule('node:module').enableCompileCache?.();
  // Start the heavy import first: it is the critical path of cold start.
  const firestoreModule = import('../worker/firestore-client.ts');
  firestoreModule.catch(() => undefined);
  const [{ createLogger }, { parseWorkerConfig }, { ConfigError }, heap, reexec] =
    await Promise.all([
      import('../log.ts'),
      import('../config/worker.ts'),
      import('../config/env-reader.ts'),
      import('../worker/heap.ts'),
      import('../worker/reexec.ts'),
    ]);
  let config;
  try {
    config = parseWorkerConfig(process.env, name === undefined ? 'batch' : 'single');
  } catch (err: unknown) {
    if (!(err instanceof ConfigError)) throw err;
    createLogger({ name: 'worker' }).fatal({ field: err.field }, err.message);
    return 2;
  }
  const rootLog = createLogger({ name: 'worker', level: config.logLevel });
  const log = rootLog.child({
    job: config.job,
    execution: config.execution,
    taskIndex: config.taskIndex,
    attempt: config.attempt,
    ...(config.batch ? { batchId: config.batch.id } : { requestId: config.requestId }),
  });
  const containerLimitBytes = await heap.readContainerMemoryLimit(config.cgroupRoot);
  const plan = heap.planHeap({
    containerLimitBytes,
    percentage: config.heapPercentage,
    execArgv: process.execArgv,
    nodeOptions: config.nodeOptions,
  });
  if (plan.resizeToMiB !== undefined && !config.heapSized) {
    log.info(
      { heapLimitBytes: plan.heapLimitBytes, containerLimitBytes, resizeToMiB: plan.resizeToMiB },
      'heap not sized for the container: re-executing',
    );
    return reexec.reexecWithHeap(plan.resizeToMiB);
  }
  log.info(
    {
      heapLimitBytes: plan.heapLimitBytes,
      heapLimitMiB: Math.round(plan.heapLimitBytes / 2 ** 20),
      containerLimitBytes: containerLimitBytes ?? null,
      heapFlag: plan.userFlag ?? null,
      heapPercentage: plan.userFlag ? null : config.heapPercentage,
    },
    'heap limit',
  );
  const [{ createWorkerFirestore }, { runTask }, batchTask, identities, { functions }] =
    await Promise.all([
      firestoreModule,
      import('../worker/run-task.ts'),
      import('../worker/batch-task.ts'),
      import('../worker/task-identity.ts'),
      import('../../functions/index.ts'),
    ]);
  const db = createWorkerFirestore({
    projectId: config.projectId,
    emulatorHost: config.firestoreEmulatorHost,
  });
  try {
    const common = { db, config, registry: functions, log, signals: process };
    if (name === undefined) {
      const { batchReader } = await import('../store/batch-read.ts');
      return await batchTask.runBatchTask({
        ...common,
        batches: batchReader(db),
        processEnv: process.env,
      });
    }
    return await runTask({ ...common, identity: identities.ownTaskIdentity(config, name, args) });
  } catch (err: unknown) {
    log.fatal({ err }, 'worker failed before recording the attempt');
    return 1;
  } finally {
    await db.terminate().catch(() => undefined);
  }
}
