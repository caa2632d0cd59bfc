import { once } from 'node:events';
import type { Command } from 'commander';
import { buildBridgeServer } from '../bridge/server.ts';
import {
  ConfigError,
  loadBridgeConfig,
  type BridgeConfig,
  type ReconcileSettings,
} from '../config/index.ts';
import { createCloudClients } from './cloud-clients.ts';
import { createLogger, type Logger } from '../log.ts';

/** Closes the server within the grace period; late deliveries are redelivered by Pub/Sub. */
async function shutdown(
  close: () => Promise<void>,
  graceMs: number,
  logger: Logger,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  const clean = await Promise.race([close().then(() => true), expired]);
  clearTimeout(timer);
  if (clean) logger.info('in-flight deliveries finished; bye');
  else
    logger.warn(
      { graceMs },
      'shutdown grace period over with deliveries in flight; leases cover them',
    );
}

/** Runs the bridge until SIGTERM or SIGINT. */
export async function runServe(
  config: BridgeConfig,
  reconcile: ReconcileSettings | undefined = config.reconcile,
): Promise<void> {
  const logger = createLogger({ level: config.logLevel, name: 'bridge' });
  if (config.pushAuth.mode === 'insecure') {
    logger.warn(
      'JOBBRIDGE_INSECURE_PUSH=true: push requests are NOT authenticated (local use only)',
    );
  }
  const clients = createCloudClients(config);
  const { firestore, launcher } = clients;
  const app = buildBridgeServer({
    config,
    firestore,
    launcher,
    logger,
    ...(reconcile ? { reconcile } : {}),
  });
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  logger.info({ port, jobs: [...config.jobs], pushAuth: config.pushAuth.mode }, 'bridge listening');

  await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
  logger.info('shutting down: no new deliveries');
  // Keep-alive connections go idle only once their last response is out: close them as they do,
  // so that close() does not wait for the clients' own idle timeouts.
  const sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
  await shutdown(() => app.close(), config.shutdownGraceMs, logger);
  clearInterval(sweeper);
  await clients.close();
  // gRPC channels can linger after close; never let them hold a finished process open.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}

export function register(program: Command): void {
  program
    .command('serve')
    .description(
      'Run the Pub/Sub push bridge: POST /pubsub/push, /pubsub/dead-letter, /reconcile; GET /healthz, /readyz, /limitz (configured by env vars)',
    )
    .action(async () => {
      let config: BridgeConfig;
      try {
        // POST /reconcile runs the same pass as `jobbridge reconcile`, with the same settings.
        config = loadBridgeConfig();
      } catch (err: unknown) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`jobbridge serve: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      await runServe(config);
    });
}
