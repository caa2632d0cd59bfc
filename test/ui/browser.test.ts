import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBridgeServer, type BridgeServer } from '../../src/bridge/server.ts';
import { silentLogger } from '../../src/log.ts';
import { ensureJobTopology, publishJob } from '../../src/producer/index.ts';
import { DEFAULT_RECONCILE_OPTIONS } from '../../src/reconciler/index.ts';
import { startUi, type StartedUi } from '../../src/ui/index.ts';
import { bridgeConfig, REGION } from '../bridge/rig.ts';
import { cliEnv, runCli } from '../cli/run-cli.ts';
import { testFirestore, testProjectId, testPubSub } from '../harness/google.ts';
import { startWorkEmulator, workJob, type WorkEmulator } from '../harness/work-emulator.ts';
import { waitFor } from '../../bench/lib/poll.ts';
import { launchBrowser, type Browser } from '../../bench/lib/browser.ts';

const JOB = 'simulate';
const TOPIC = 'ui-requests';

/**
 * The dashboard in a real browser (Debian's Chromium) over the whole path: the CLI publishes on
 * the Pub/Sub emulator, the push reaches the bridge, the Cloud Run Jobs emulator runs
 * `jobbridge work simulate` tasks that write progress to the Firestore emulator, and the page,
 * opened before any of it, shows each step as it happens.
 */
describe('jobbridge ui in Chromium', () => {
  const projectId = testProjectId('ui-browser');
  let db: Firestore;
  let pubsub: PubSub;
  let rig: WorkEmulator;
  let bridge: BridgeServer;
  let bridgeUrl: string;
  let ui: StartedUi;
  let browser: Browser;
  let page: Page;

  const publish = async (args: string[], extra: string[] = []): Promise<string> => {
    const result = await runCli(
      ['publish', '--job', JOB, '--function', JOB, ...extra, '--', ...args],
      cliEnv(projectId, { JOBBRIDGE_TOPIC: TOPIC }),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.stdout.trim();
  };
  const row = (requestId: string) => page.locator(`tr[data-request-id="${requestId}"]`);

  beforeAll(async () => {
    db = testFirestore(projectId);
    pubsub = testPubSub(projectId);
    rig = await startWorkEmulator(
      projectId,
      { [JOB]: workJob([JOB], { maxRetries: 0 }) },
      { taskEnv: { LOG_LEVEL: 'warn' }, region: REGION },
    );
    bridge = buildBridgeServer({
      config: bridgeConfig(projectId, { jobs: new Set([JOB]) }),
      firestore: db,
      launcher: rig.launcher,
      logger: silentLogger(),
      reconcile: { ...DEFAULT_RECONCILE_OPTIONS, maxPages: 5 },
    });
    bridgeUrl = await bridge.listen({ port: 0, host: '127.0.0.1' });
    await ensureJobTopology(pubsub, {
      topic: TOPIC,
      subscription: `${TOPIC}-bridge`,
      pushEndpoint: `${bridgeUrl}/pubsub/push`,
      deadLetterTopic: `${TOPIC}-dead-letter`,
      deadLetterSubscription: `${TOPIC}-dead-letter`,
      retryPolicy: false,
    });
    ui = await startUi({
      firestore: db,
      collection: 'jobs',
      allowCancel: true,
      bridgeUrl,
      publish: { jobs: [JOB], publish: (request) => publishJob(pubsub, TOPIC, request) },
      logger: silentLogger(),
      port: 0,
      host: '127.0.0.1',
    });
    browser = await launchBrowser();
    page = browser.page;
  });
  afterAll(async () => {
    await browser?.close();
    await ui?.close();
    await bridge?.close();
    await rig?.close();
    await pubsub?.close();
    await db?.terminate();
  });

  let finished: string;

  it('shows a job published from the CLI without a reload, and its bar reaching 100 %', async () => {
    await page.goto(`${ui.url}/`);
    await expect(page.locator('tbody[data-region="rows"] tr.empty').textContent()).resolves.toMatch(
      /No jobs yet/,
    );
    await page.locator('[data-live-status]').getByText('Live').waitFor();
    // A reload would drop this mark: the row must come over the page's event stream.
    await page.evaluate(() => ((globalThis as unknown as { mark: number }).mark = 1));

    finished = await publish(
      ['--steps', '12', '--step-ms', '150'],
      ['--tasks', '2', '--label', 'suite=ui'],
    );
    const publishedAt = Date.now();
    await row(finished).waitFor({ timeout: 20_000 });
    const appearedMs = Date.now() - publishedAt;
    console.log(
      `ui: a job published from the CLI appeared on the open jobs page after ${appearedMs} ms`,
    );

    await waitFor(
      'the progress bar at 100 %',
      async () =>
        (await row(finished).locator('progress').getAttribute('value')) === '100'
          ? true
          : undefined,
      60_000,
      100,
    );
    await expect(row(finished).getAttribute('data-state')).resolves.toBe('succeeded');
    await expect(row(finished).locator('.state').textContent()).resolves.toBe('succeeded');
    await expect(row(finished).locator('.label').textContent()).resolves.toBe('suite=ui');
    await expect(
      page.evaluate(() => (globalThis as unknown as { mark?: number }).mark),
    ).resolves.toBe(1);
  });

  it("opens the job's page: its tasks, each at 100 %, and its timeline", async () => {
    await row(finished).getByRole('link', { name: finished }).click();
    await page.waitForURL(`${ui.url}/jobs/${finished}`);
    await expect(page.locator('h1').textContent()).resolves.toBe(finished);
    const tasks = page.locator('table.tasks tbody tr');
    await expect(tasks.count()).resolves.toBe(2);
    for (const index of [0, 1]) {
      const task = page.locator(`tr[data-task="${index}"]`);
      await expect(task.getAttribute('data-state')).resolves.toBe('succeeded');
      await expect(task.locator('progress').getAttribute('value')).resolves.toBe('100');
    }
    const steps = await page.locator('.timeline li.done .step').allTextContents();
    expect(steps).toEqual(['admitted', 'dispatched', 'running', 'succeeded']);
    await expect(page.getByText('--step-ms', { exact: true }).count()).resolves.toBe(1);
    // An ended job offers no cancel.
    await expect(page.getByRole('button', { name: 'Cancel job' }).count()).resolves.toBe(0);
  });

  let cancelled: string;

  it('cancels a running job from its button and shows it end cancelled', async () => {
    cancelled = await publish(['--steps', '2000', '--step-ms', '50']);
    await page.goto(`${ui.url}/jobs/${cancelled}`);
    await page.locator('[data-live-status]').getByText('Live').waitFor();
    await page.locator('tr[data-task="0"][data-state="running"]').waitFor({ timeout: 30_000 });

    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page
      .locator('.cancel-result')
      .getByText(/Cancel requested/)
      .waitFor();
    // The reconciler acts on the request (Cloud Scheduler's pass in production).
    await waitFor(
      'the job to show cancelled',
      async () => {
        await fetch(`${bridgeUrl}/reconcile`, { method: 'POST' });
        const state = await page.locator('.summary .state').textContent();
        return state === 'cancelled' ? state : undefined;
      },
      30_000,
      500,
    );
    await expect(page.locator('.error').textContent()).resolves.toMatch(/cancelled/);
    await expect(page.getByRole('button', { name: 'Cancel job' }).count()).resolves.toBe(0);
  });

  it('filters the jobs by state and by label', async () => {
    await page.goto(`${ui.url}/`);
    await row(finished).waitFor();
    await row(cancelled).waitFor();
    await page.getByLabel('State').selectOption('cancelled');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/state=cancelled/);
    await expect(row(cancelled).count()).resolves.toBe(1);
    await expect(row(finished).count()).resolves.toBe(0);

    // With the keyboard alone: the first Tab reaches the skip link; Enter in a field applies.
    await page.keyboard.press('Tab');
    await expect(page.locator(':focus').textContent()).resolves.toBe('Skip to content');
    await page.getByLabel('State').focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.type('suite=ui');
    await page.keyboard.press('Enter');
    await page.waitForURL(/label=suite%3Dui/);
    expect(new URL(page.url()).searchParams.get('state') ?? '').toBe('');
    await expect(row(finished).count()).resolves.toBe(1);
    await expect(row(cancelled).count()).resolves.toBe(0);
  });

  it("publishes from the form, showing the contract's refusal first", async () => {
    await page.goto(`${ui.url}/`);
    await page.getByRole('link', { name: 'Publish' }).click();
    await page.waitForURL(`${ui.url}/publish`);
    await page.getByLabel('Function').fill(JOB);
    await page.getByLabel('Args').fill('--steps\n3\n--step-ms\n50');
    await page.getByLabel('Tasks').fill('0');
    await page.getByLabel('Labels').fill('suite=form');
    await page.getByRole('button', { name: 'Publish' }).click();
    const refusal = page.locator('.error[role="alert"]');
    await expect(refusal.locator('h2').textContent()).resolves.toBe(
      'Invalid job request, nothing published',
    );
    await expect(refusal.locator('li').first().textContent()).resolves.toMatch(
      /^taskCount \(Tasks\): /,
    );
    // What was typed is still there.
    await expect(page.getByLabel('Labels').inputValue()).resolves.toBe('suite=form');

    await page.getByLabel('Tasks').fill('2');
    await page.getByRole('button', { name: 'Publish' }).click();
    await page.waitForURL(/\/jobs\//);
    const requestId = decodeURIComponent(new URL(page.url()).pathname.slice('/jobs/'.length));
    await waitFor(
      'the published job to succeed on its page',
      async () =>
        (await page
          .locator('.summary .state')
          .textContent()
          .catch(() => null)) === 'succeeded'
          ? true
          : undefined,
      60_000,
      200,
    );
    await expect(page.locator('table.tasks tbody tr').count()).resolves.toBe(2);
    const stored = (await db.collection('jobs').doc(requestId).get()).data();
    expect(stored).toMatchObject({ state: 'succeeded', labels: { suite: 'form' }, taskCount: 2 });
  });
});
