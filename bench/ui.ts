/**
 * `npm run bench:ui`: the dashboard's jobs page over 1,000 job documents in the Firestore
 * emulator. For each page view: Firestore reads (the ui's own count, `GET /statz`) and time to
 * first row, both on the server (the HTML up to the first row arrives) and in Debian's Chromium
 * (navigation to the first row on screen). Three views: a cold first render (no listener runs
 * yet), a second page view of the same filter (served by the listener already running), and a
 * filter change in the open page (state and label, a listener of its own). The baseline, measured
 * in the same run, is the consumer SDK's `listJobs` for the same page: the one Firestore query the
 * page cannot do without. BENCH_JOBS (default 1000), BENCH_REPEATS (default 5). The last line
 * printed is one JSON object.
 */
import { listJobs } from '../src/consumer/index.ts';
import { JOB_STATES } from '../src/contract/index.ts';
import { startGoogleEmulator } from '../src/devstack/google-emulators.ts';
import { createFirestore } from '../src/google-clients.ts';
import { silentLogger } from '../src/log.ts';
import { startUi, type StartedUi, type UiStats } from '../src/ui/index.ts';
import { launchBrowser } from './lib/browser.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const COLLECTION = 'jobs';
const FILTER = { state: 'failed', label: 'tenant=t3' };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
const round = (x: number): number => Math.round(x * 10) / 10;

const emulator = await startGoogleEmulator('firestore');
process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
const db = createFirestore({ projectId: `bench-ui-${Date.now()}`, emulatorHost: emulator.host });
const browser = await launchBrowser();

async function seed(): Promise<void> {
  const states = JOB_STATES.filter((s) => s !== 'rejected');
  const start = Date.now() - JOBS * 60_000;
  for (let from = 0; from < JOBS; from += 500) {
    const batch = db.batch();
    for (let i = from; i < Math.min(JOBS, from + 500); i++) {
      const createdAt = new Date(start + i * 60_000);
      const state = states[i % states.length] ?? 'succeeded';
      const id = `bench-${String(i).padStart(5, '0')}`;
      batch.set(db.collection(COLLECTION).doc(id), {
        requestId: id,
        state,
        job: i % 2 === 0 ? 'export' : 'fan-out',
        function: 'fan-out',
        args: ['a', 'b'],
        envNames: [],
        taskCount: 4,
        timeoutSeconds: 600,
        labels: { tenant: `t${i % 5}` },
        source: { messageId: String(i) },
        dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 1 },
        progress: { done: i % 5, total: 4, ratio: Math.min(1, (i % 5) / 4) },
        tasks: { running: 1, succeeded: 2, failed: 1 },
        createdAt,
        updatedAt: createdAt,
        ...(state === 'running' || state === 'succeeded' || state === 'failed'
          ? { startedAt: createdAt }
          : {}),
        ...(state === 'succeeded' || state === 'failed'
          ? { finishedAt: new Date(createdAt.getTime() + 30_000) }
          : {}),
        ...(state === 'failed' ? { error: { code: 'permanent', message: 'input missing' } } : {}),
        expireAt: new Date(Date.now() + 86_400_000),
      });
    }
    await batch.commit();
  }
}

async function reads(ui: StartedUi): Promise<number> {
  const res = await fetch(`${ui.url}/statz`);
  return ((await res.json()) as UiStats).firestoreReads;
}

/** Time until the HTML up to the first row has arrived, read as a stream. */
async function serverFirstRowMs(url: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(url);
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let at: number | undefined;
  for (;;) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) break;
    text += decoder.decode(chunk.value as Uint8Array, { stream: true });
    if (at === undefined && text.includes('<tr data-request-id=')) at = performance.now();
  }
  if (at === undefined) throw new Error(`no row in the page at ${url}`);
  return at - started;
}

async function browserFirstRowMs(url: string): Promise<number> {
  const started = performance.now();
  await browser.page.goto(url, { waitUntil: 'commit' });
  await browser.page.locator('tr[data-request-id]').first().waitFor();
  return performance.now() - started;
}

const newUi = () =>
  startUi({
    firestore: db,
    collection: COLLECTION,
    allowCancel: false,
    logger: silentLogger(),
    port: 0,
    host: '127.0.0.1',
  });

type Sample = { reads: number; serverMs: number; browserMs: number };
const samples: Record<'baseline' | 'cold' | 'warm' | 'filter', Sample[]> = {
  baseline: [],
  cold: [],
  warm: [],
  filter: [],
};

try {
  await seed();
  // Warm the emulator's and the client's connection, as a running service would have them.
  await listJobs(db, { collection: COLLECTION, limit: 50 });
  for (let r = 0; r < REPEATS; r++) {
    let t = performance.now();
    const page = await listJobs(db, { collection: COLLECTION, limit: 50 });
    const baselineMs = performance.now() - t;
    const filtered = await listJobs(db, {
      collection: COLLECTION,
      limit: 50,
      states: ['failed'],
      labels: { tenant: 't3' },
    });
    samples.baseline.push({ reads: Math.max(1, page.length), serverMs: baselineMs, browserMs: 0 });

    // A fresh server: no listener runs yet, as for the first visitor.
    const ui = await newUi();
    try {
      let before = await reads(ui);
      const serverMs = await serverFirstRowMs(`${ui.url}/`);
      samples.cold.push({ reads: (await reads(ui)) - before, serverMs, browserMs: 0 });

      before = await reads(ui);
      const warmServerMs = await serverFirstRowMs(`${ui.url}/`);
      const warmBrowserMs = await browserFirstRowMs(`${ui.url}/`);
      samples.warm.push({
        reads: ((await reads(ui)) - before) / 2,
        serverMs: warmServerMs,
        browserMs: warmBrowserMs,
      });

      // A filter change in the open page: select, type, Apply, first row of the new list.
      before = await reads(ui);
      t = performance.now();
      await browser.page.getByLabel('State').selectOption(FILTER.state);
      await browser.page.getByLabel('Label').fill(FILTER.label);
      await browser.page.getByRole('button', { name: 'Apply' }).click();
      await browser.page.waitForURL(/state=failed/);
      await browser.page.locator('tr[data-request-id][data-state="failed"]').first().waitFor();
      const filterBrowserMs = performance.now() - t;
      const rows = await browser.page.locator('tr[data-request-id]').count();
      if (rows !== filtered.length)
        throw new Error(`filtered page shows ${rows} rows, listJobs ${filtered.length}`);
      samples.filter.push({
        reads: (await reads(ui)) - before,
        serverMs: 0,
        browserMs: filterBrowserMs,
      });
    } finally {
      await ui.close();
    }
    // The cold browser figure: a fresh server again, straight into the browser.
    const cold = await newUi();
    try {
      const last = samples.cold[samples.cold.length - 1];
      if (last) last.browserMs = await browserFirstRowMs(`${cold.url}/`);
    } finally {
      await cold.close();
    }
  }
} finally {
  await browser.close();
  await db.terminate();
  await emulator.stop();
}

const summary = (key: keyof typeof samples) => ({
  reads: median(samples[key].map((s) => s.reads)),
  serverFirstRowMs: round(median(samples[key].map((s) => s.serverMs))),
  browserFirstRowMs: round(median(samples[key].map((s) => s.browserMs))),
});
const baseline = summary('baseline');
const result = {
  bench: 'ui',
  jobs: JOBS,
  repeats: REPEATS,
  pageSize: 50,
  baseline: { listJobsMs: baseline.serverFirstRowMs, reads: baseline.reads },
  coldPageView: summary('cold'),
  warmPageView: summary('warm'),
  filterChange: summary('filter'),
  ratios: {
    coldServerFirstRowVsListJobs: round(
      summary('cold').serverFirstRowMs / baseline.serverFirstRowMs,
    ),
    warmServerFirstRowVsListJobs: round(
      summary('warm').serverFirstRowMs / baseline.serverFirstRowMs,
    ),
  },
};
console.log(
  `page views over ${JOBS} jobs (median of ${REPEATS}): cold ${result.coldPageView.reads} reads, ` +
    `${result.coldPageView.browserFirstRowMs} ms to first row in Chromium; warm ` +
    `${result.warmPageView.reads} reads, ${result.warmPageView.browserFirstRowMs} ms; filter change ` +
    `${result.filterChange.reads} reads, ${result.filterChange.browserFirstRowMs} ms`,
);
console.log(JSON.stringify(result));
