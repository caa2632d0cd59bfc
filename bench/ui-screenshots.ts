/**
 * `npm run docs:screenshots`: the dashboard's pictures in docs/, taken from the running stack
 * (`jobbridge dev`'s, on free ports) in Debian's Chromium: the jobs page, a running fan-out with
 * its task bars, and a failed job with its error. Nothing is drawn by hand: the jobs are published
 * through Pub/Sub and run by the Cloud Run Jobs emulator like any other.
 */
import { fileURLToPath } from 'node:url';
import { devStackClients } from '../src/cli/dev-clients.ts';
import { recordedCost } from '../src/cli/ui.ts';
import { getJob } from '../src/consumer/index.ts';
import { startDevStack } from '../src/devstack/dev-stack.ts';
import { createFirestore, createPubSub } from '../src/google-clients.ts';
import { publishJob } from '../src/producer/index.ts';
import { waitFor } from './lib/poll.ts';
import { launchBrowser } from './lib/browser.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const docs = (name: string): string => `${root}docs/${name}`;

const stack = await startDevStack({
  projectId: 'jobbridge-dev',
  region: 'local',
  collection: 'jobs',
  topic: 'jobbridge-requests',
  jobFile: `${root}examples/jobs.json`,
  clients: devStackClients,
  pubsubPort: 0,
  firestorePort: 0,
  runPort: 0,
  bridgePort: 0,
  uiPort: 0,
  uiCost: recordedCost({ vcpu: 1, memoryGib: 0.5 }),
  reconcileIntervalMs: 2000,
  log: () => undefined,
});
const pubsub = createPubSub({ projectId: stack.projectId, emulatorHost: stack.hosts.pubsub });
const db = createFirestore({ projectId: stack.projectId, emulatorHost: stack.hosts.firestore });
const browser = await launchBrowser({ width: 1280, height: 800 });
const { page } = browser;

const publish = async (request: Parameters<typeof publishJob>[2]): Promise<string> =>
  (await publishJob(pubsub, stack.topic, request)).requestId;
const stateOf = async (requestId: string) => (await getJob(db, requestId)).job?.state;

try {
  // Tasks run in the job file's folder (examples/): the inputs are the checkout's own files.
  const inputs = ['package.json', 'tsconfig.json', 'eslint.config.js', 'vitest.config.ts'].map(
    (f) => `../${f}`,
  );
  const done = await publish({
    job: 'fan-out',
    function: 'fan-out',
    taskCount: 4,
    args: inputs,
    labels: { tenant: 'acme', kind: 'checksums' },
  });
  const failed = await publish({
    job: 'fan-out',
    function: 'fan-out',
    taskCount: 2,
    args: ['../package.json', '/exports/2026-11-30/acme.csv'],
    labels: { tenant: 'globex', kind: 'checksums' },
  });
  await waitFor(
    'the fan-out and the failure to end',
    async () =>
      (await stateOf(done)) === 'succeeded' && (await stateOf(failed)) === 'failed'
        ? true
        : undefined,
    60_000,
    250,
  );
  const running = await publish({
    job: 'simulate',
    function: 'simulate',
    taskCount: 6,
    args: ['--steps', '120', '--step-ms', '250'],
    labels: { tenant: 'acme', kind: 'nightly-export' },
  });
  await publish({
    job: 'simulate',
    function: 'simulate',
    taskCount: 1,
    args: ['--steps', '400', '--step-ms', '250'],
    labels: { tenant: 'initech', kind: 'reindex' },
  });
  // A third of the way through: bars half-filled, as one sees a fan-out in the middle of a run.
  await waitFor(
    'the fan-out a third done',
    async () => {
      const { job } = await getJob(db, running);
      return job?.state === 'running' && (job.progress?.ratio ?? 0) >= 0.33 ? true : undefined;
    },
    90_000,
    250,
  );

  await page.goto(`${stack.uiUrl}/`);
  await page.locator('[data-live-status]').getByText('Live').waitFor();
  await page.screenshot({ path: docs('ui-jobs.png') });
  await page.goto(`${stack.uiUrl}/jobs/${running}`);
  await page.locator('table.tasks').waitFor();
  await page.screenshot({ path: docs('ui-job-running.png') });
  await page.goto(`${stack.uiUrl}/jobs/${failed}`);
  await page.locator('.error').first().waitFor();
  await page.screenshot({ path: docs('ui-job-failed.png') });
  console.log('wrote docs/ui-jobs.png, docs/ui-job-running.png, docs/ui-job-failed.png');
} finally {
  await browser.close();
  await pubsub.close();
  await db.terminate();
  await stack.stop();
}
