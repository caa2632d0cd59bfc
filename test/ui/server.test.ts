import type { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.ts';
import { buildUiServer, type UiServer, type UiStats } from '../../src/ui/index.ts';
import { jobRef, writeJob, writeTask } from '../consumer/job-fixtures.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';

/** The dashboard's routes in-process (fastify's inject) over the Firestore emulator. */
describe('ui server', () => {
  const collection = 'ui-jobs';
  let db: Firestore;
  let readOnly: UiServer;
  let cancelling: UiServer;

  beforeAll(async () => {
    db = testFirestore(testProjectId('ui-server'));
    const deps = { firestore: db, collection, logger: silentLogger() };
    readOnly = buildUiServer({ ...deps, allowCancel: false });
    cancelling = buildUiServer({ ...deps, allowCancel: true });
    await writeJob(
      db,
      'hostile',
      {
        state: 'failed',
        job: 'export',
        labels: { tenant: '<script>alert(1)</script>' },
        error: { code: 'permanent', message: '<img src=x onerror=alert(1)>' },
      },
      collection,
    );
    await writeJob(db, 'running-1', { state: 'running', job: 'export' }, collection);
    await writeTask(
      db,
      'running-1',
      0,
      { progress: { done: 3, total: 4, ratio: 0.75, message: 'step 3' } },
      collection,
    );
  });
  afterAll(async () => {
    await readOnly.close();
    await cancelling.close();
    await db.terminate();
  });

  it('escapes what producers and functions wrote', async () => {
    const page = await readOnly.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain('<script>alert');
    expect(page.body).toContain('tenant=&lt;script&gt;alert(1)&lt;/script&gt;');
    const job = await readOnly.inject({ url: '/jobs/hostile' });
    expect(job.body).not.toContain('<img src=x');
    expect(job.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it("shows a task's progress and latest message", async () => {
    const job = await readOnly.inject({ url: '/jobs/running-1' });
    expect(job.body).toMatch(/<progress max="100" value="75"[^>]*aria-label="progress of task 0"/);
    expect(job.body).toContain('step 3');
  });

  it('names each filter it cannot use, and lists without it', async () => {
    const page = await readOnly.inject({ url: '/?state=sleeping&label=nolabel&since=yesterday' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<strong>state</strong>: must be one of queued,');
    expect(page.body).toContain('<strong>label</strong>: must be key=value');
    expect(page.body).toContain('<strong>since</strong>: must be a time');
    expect(page.body).toContain('data-request-id="hostile"');
  });

  it('is read-only unless started with --allow-cancel', async () => {
    const job = await readOnly.inject({ url: '/jobs/running-1' });
    expect(job.body).not.toContain('Cancel job');
    const refused = await readOnly.inject({
      method: 'POST',
      url: '/jobs/running-1/cancel',
      headers: { accept: 'application/json' },
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({ error: expect.stringContaining('--allow-cancel') as string });
    expect(
      (await jobRef(db, 'running-1', collection).get()).data()?.cancelRequested,
    ).toBeUndefined();
  });

  it('refuses a cancel posted from another site, accepts one from its own page', async () => {
    const crossSite = await cancelling.inject({
      method: 'POST',
      url: '/jobs/running-1/cancel',
      headers: { 'sec-fetch-site': 'cross-site', accept: 'application/json' },
    });
    expect(crossSite.statusCode).toBe(403);
    expect(
      (await jobRef(db, 'running-1', collection).get()).data()?.cancelRequested,
    ).toBeUndefined();

    const own = await cancelling.inject({
      method: 'POST',
      url: '/jobs/running-1/cancel',
      headers: { 'sec-fetch-site': 'same-origin' },
    });
    expect(own.statusCode).toBe(303);
    expect(own.headers.location).toBe('/jobs/running-1?cancel=requested');
    expect((await jobRef(db, 'running-1', collection).get()).data()?.cancelRequested).toBe(true);
    const after = await cancelling.inject({ url: own.headers.location as string });
    expect(after.body).toContain('Cancel requested: the job ends cancelled');
  });

  it('serves its own script and stylesheet, and finds jobs by request id', async () => {
    const script = await readOnly.inject({ url: '/assets/app.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.body).toContain('EventSource');
    const cached = await readOnly.inject({
      url: '/assets/app.js',
      headers: { 'if-none-match': script.headers.etag as string },
    });
    expect(cached.statusCode).toBe(304);
    expect((await readOnly.inject({ url: '/assets/other.js' })).statusCode).toBe(404);
    // Task output is offered only where the host can read it (jobbridge dev).
    expect((await readOnly.inject({ url: '/jobs/running-1/tasks/0/log' })).statusCode).toBe(404);
    expect((await readOnly.inject({ url: '/jobs/running-1' })).body).not.toContain('/tasks/0/log');

    const found = await readOnly.inject({ url: '/search?requestId=hostile' });
    expect(found.statusCode).toBe(303);
    expect(found.headers.location).toBe('/jobs/hostile');
    const missing = await readOnly.inject({ url: '/search?requestId=nobody' });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('No job with request id &quot;nobody&quot;');
  });

  it('serves every page view of one filter from one listener', async () => {
    const server = buildUiServer({
      firestore: db,
      collection,
      allowCancel: false,
      logger: silentLogger(),
      lingerMs: 60_000,
    });
    try {
      await server.inject({ url: '/?job=export' });
      const first = (await server.inject({ url: '/statz' })).json<UiStats>();
      for (let i = 0; i < 5; i++) await server.inject({ url: '/?job=export' });
      const later = (await server.inject({ url: '/statz' })).json<UiStats>();
      expect(later.jobsFeeds).toBe(1);
      // Only the queue strip (refreshed at most every 2 s) may have read again.
      expect(later.firestoreReads - first.firestoreReads).toBeLessThanOrEqual(2);
    } finally {
      await server.close();
    }
  });

  it('offers the publish form only when given a publisher, and reads its fields as the CLI reads flags', async () => {
    expect((await readOnly.inject({ url: '/publish' })).statusCode).toBe(404);
    expect((await readOnly.inject({ url: '/' })).body).not.toContain('href="/publish"');

    const published: unknown[] = [];
    const server = buildUiServer({
      firestore: db,
      collection,
      allowCancel: false,
      logger: silentLogger(),
      publish: {
        jobs: ['export'],
        publish: (request) => {
          published.push(request);
          return Promise.resolve({ requestId: 'from-form' });
        },
      },
    });
    try {
      expect((await server.inject({ url: '/' })).body).toContain('href="/publish"');
      const form = (fields: Record<string, string>, site = 'same-origin') =>
        server.inject({
          method: 'POST',
          url: '/publish',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': site },
          payload: new URLSearchParams(fields).toString(),
        });
      const bad = await form({ job: 'export', env: 'NOEQUALS', tasks: 'four' });
      expect(bad.statusCode).toBe(422);
      expect(bad.body).toContain('env (Env): &quot;NOEQUALS&quot; is not KEY=VALUE');
      expect(bad.body).toContain('taskCount (Tasks): must be an integer');
      expect((await form({ job: 'export' }, 'cross-site')).statusCode).toBe(403);
      expect(published).toEqual([]);

      const ok = await form({ job: 'export', args: 'a b\r\nc', labels: 'tenant=acme', tasks: '3' });
      expect(ok.statusCode).toBe(303);
      expect(ok.headers.location).toBe('/jobs/from-form');
      expect(published).toEqual([
        { job: 'export', args: ['a b', 'c'], labels: { tenant: 'acme' }, taskCount: 3 },
      ]);
    } finally {
      await server.close();
    }
  });
});
