/**
 * `jobbridge serve` as the crash-safety tests need it: the real bridge server over the real
 * clients, with its injected store and launcher wrapped so that the process SIGKILLs itself right
 * after the operations named in CRASH_AFTER (see crash-after.ts) resolve. Started as a child
 * process by child-bridge.ts (`startCrashingBridge`); it logs `bridge listening` as serve does.
 */
import { buildBridgeServer } from '../../src/bridge/server.ts';
import { createCloudClients } from '../../src/cli/cloud-clients.ts';
import { loadBridgeConfig } from '../../src/config/index.ts';
import { createDispatchStores } from '../../src/dispatch/index.ts';
import { createLogger } from '../../src/log.ts';
import { CRASH_AFTER_ENV, crashAfter, parseCrashPoints } from './crash-after.ts';

const config = loadBridgeConfig();
const logger = createLogger({ level: config.logLevel, name: 'bridge' });
const clients = createCloudClients(config);
const { repository, queue, batches } = createDispatchStores(clients.firestore, config.collection);
const ports = { repository, queue, batches, launcher: clients.launcher };
const points = parseCrashPoints(process.env[CRASH_AFTER_ENV] ?? '', ports);

const app = buildBridgeServer({
  config,
  firestore: clients.firestore,
  launcher: crashAfter(clients.launcher, 'launcher', points),
  stores: {
    repository: crashAfter(repository, 'repository', points),
    queue: crashAfter(queue, 'queue', points),
    batches: crashAfter(batches, 'batches', points),
  },
  logger,
});
await app.listen({ port: config.port, host: config.host });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : config.port;
logger.info({ port, crashAfter: [...points] }, 'bridge listening');
