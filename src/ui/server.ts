import type { Firestore } from '@google-cloud/firestore';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import {
  cancelJob,
  getJob,
  watchJob,
  watchJobs,
  type CancelResult,
  type JobListItem,
  type JobSnapshot,
} from '../consumer/index.ts';
import { ValidationError } from '../contract/index.ts';
import type { Logger } from '../log.ts';
import { loadAssets, type Asset, type AssetName } from './assets.ts';
import { LiveFeeds } from './feeds.ts';
import { filterQuery, listOptions, parseJobsFilter, type JobsFilter } from './filters.ts';
import { batchOf } from './format.ts';
import { html } from './html.ts';
import { cancelControl, jobBody, jobLive, type JobCost } from './job-view.ts';
import { jobHref, jobRows, jobsBody, overview, pager } from './jobs-view.ts';
import { page } from './layout.ts';
import { OverviewSource } from './overview-source.ts';
import { publishBody, readFields, requestFromFields, type Publish } from './publish-form.ts';
import { openEventStream, type EventStream } from './sse.ts';
import { errorMessage } from '../errors/coerce.ts';

export interface UiServerDeps {
  firestore: Firestore;
  /** Firestore collection of job documents (JOBBRIDGE_COLLECTION). */
  collection: string;
  /** Shows the cancel button and accepts `POST /jobs/{id}/cancel`; read-only otherwise. */
  allowCancel: boolean;
  logger: Logger;
  /** The bridge's base URL: the jobs page shows its `GET /limitz` budget. */
  bridgeUrl?: string;
  /** A job's cost from its recorded durations (the host knows the task size and prices). */
  costOf?: (snapshot: JobSnapshot) => JobCost | undefined;
  /**
   * Local extras (`jobbridge dev`): a form that publishes a request through this function, for
   * these jobs. Absent in production: the dashboard publishes nothing there.
   */
  publish?: { publish: Publish; jobs: readonly string[] };
  /**
   * Local extras: the output of task `taskIndex` of an execution (the Cloud Run Jobs emulator's
   * `logUri`), or undefined when there is none. Each task row then links to it.
   */
  taskLog?: (executionName: string, taskIndex: number) => Promise<string | undefined>;
  /** How long a live listener outlives its last page; default 30 s. */
  lingerMs?: number;
  now?: () => Date;
}

/** What `GET /statz` reports: the ui's own Firestore use. */
export interface UiStats {
  /** Documents read from Firestore (listener deliveries, queries, aggregations) since start. */
  firestoreReads: number;
  jobsFeeds: number;
  jobFeeds: number;
  streams: number;
}

/** The fastify instance of the ui (its logger is our pino logger). */
export type UiServer = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  Logger
>;

/** How long a page waits for its first snapshot before answering 503. */
const FIRST_SNAPSHOT_MS = 15_000;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

const CANCEL_MESSAGES: Record<CancelResult['outcome'], string> = {
  requested: 'Cancel requested: the job ends cancelled once its execution has stopped.',
  'already-requested': 'Cancel was already requested.',
  'already-cancelled': 'The job is already cancelled.',
  finished: 'The job had already ended.',
  'not-found': 'No such job.',
};

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(err: unknown): string {
  return errorMessage(err);
}

/**
 * The dashboard: `GET /` (jobs, filtered and paged), `GET /jobs/{requestId}` (one job), each with
 * an event stream (`/events`, `/jobs/{id}/events`) that pushes the changed parts of the page as
 * Firestore listeners on this server see them. Every read goes through the consumer SDK; one
 * listener per distinct jobs filter and per job serves every open page. Not listening yet: the
 * caller calls `listen()`, or `inject()`.
 */
export function buildUiServer(deps: UiServerDeps): UiServer {
  const { firestore, collection, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const assets = loadAssets();
  const stats = { firestoreReads: 0 };
  const countReads = (n: number): void => void (stats.firestoreReads += n);
  const streams = new Set<EventStream>();
  const lingerMs = deps.lingerMs ?? 30_000;
  const overviewSource = new OverviewSource({
    firestore,
    collection,
    ...(deps.bridgeUrl ? { bridgeUrl: deps.bridgeUrl } : {}),
    onReads: countReads,
  });

  const jobsFeeds = new LiveFeeds<JobsFilter, JobListItem[]>({
    keyOf: (filter) => filterQuery(filter),
    lingerMs,
    start: (filter, emit, fail) => {
      let first = true;
      return watchJobs(
        firestore,
        { ...listOptions(filter, collection), onError: fail },
        ({ items, reads }) => {
          countReads(reads);
          emit(items);
          // The queue strip follows any change seen in a list (bounded by its own interval).
          if (!first) void overviewSource.get().catch(() => undefined);
          first = false;
        },
      );
    },
  });
  const jobFeeds = new LiveFeeds<string, JobSnapshot>({
    keyOf: (requestId) => requestId,
    lingerMs,
    start: (requestId, emit, fail) => {
      let first = true;
      return watchJob(
        firestore,
        requestId,
        (snapshot) => {
          // The first delivery read the job and each task (an empty read costs one); after that,
          // each delivery is one changed document in the usual case.
          countReads(first ? 1 + Math.max(1, snapshot.tasks.length) : 1);
          first = false;
          emit(snapshot);
        },
        { collection, onError: fail },
      );
    },
  });

  const canPublish = deps.publish !== undefined;
  const logs = deps.taskLog !== undefined;
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.addHook('onSend', async (_req, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  // Open event streams would hold close() forever: end them, and stop every listener.
  app.addHook('preClose', (done) => {
    for (const stream of [...streams]) stream.close();
    jobsFeeds.stopAll();
    jobFeeds.stopAll();
    done();
  });

  const sendPage = (reply: FastifyReply, status: number, body: string) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(body);
  const errorPage = (reply: FastifyReply, status: number, title: string, message: string) =>
    sendPage(
      reply,
      status,
      page({
        title,
        current: 'jobs',
        canPublish,
        body: html`<h1>${title}</h1>
          <p class="error" role="alert">${message}</p>
          <p><a href="/">Back to the jobs</a></p>`,
      }),
    );
  /** A page whose Firestore read failed: 503, with what could not be done and why. */
  const unavailablePage = (reply: FastifyReply, title: string, what: string, err: unknown) =>
    errorPage(reply, 503, title, `Firestore could not ${what}: ${messageOf(err)}`);

  // The publish form posts urlencoded fields; nothing else is read from a body.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 256 * 1024 },
    (_req, body, done) => done(null, new URLSearchParams(body as string)),
  );

  app.get('/healthz', () => Promise.resolve({ status: 'ok' }));
  app.get('/statz', (): Promise<UiStats> =>
    Promise.resolve({
      firestoreReads: stats.firestoreReads,
      jobsFeeds: jobsFeeds.size,
      jobFeeds: jobFeeds.size,
      streams: streams.size,
    }),
  );

  app.get<{ Params: { name: string } }>('/assets/:name', (req, reply) => {
    const asset: Asset | undefined = assets.get(req.params.name as AssetName);
    if (!asset) return reply.code(404).send({ error: 'no such asset' });
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply
      .type(asset.type)
      .header('etag', asset.etag)
      .header('cache-control', 'no-cache')
      .send(asset.body);
  });

  app.get('/', async (req, reply) => {
    const { filter, issues } = parseJobsFilter(req.query as Record<string, unknown>);
    const feed = jobsFeeds.open(filter);
    try {
      const [items, view] = await Promise.all([
        withTimeout(feed.first, FIRST_SNAPSHOT_MS, 'listing jobs'),
        overviewSource.get().catch((err: unknown) => ({ queueError: messageOf(err) })),
      ]);
      const query = filterQuery(filter);
      return sendPage(
        reply,
        200,
        page({
          title: 'Jobs',
          current: 'jobs',
          canPublish,
          events: `/events${query ? `?${query}` : ''}`,
          body: jobsBody({ items, filter, issues, overview: view, now: now() }),
        }),
      );
    } catch (err: unknown) {
      logger.warn({ err: messageOf(err) }, 'jobs page failed');
      return unavailablePage(reply, 'Jobs unavailable', 'list the jobs', err);
    } finally {
      feed.close();
    }
  });

  app.get('/events', (req, reply) => {
    const { filter } = parseJobsFilter(req.query as Record<string, unknown>);
    const filtered = Boolean(
      filter.state || filter.job || filter.label || filter.since || filter.until,
    );
    const stream = openEventStream(req, reply, streams);
    const feed = jobsFeeds.open(filter, {
      onValue: (items) =>
        stream.send('update', {
          regions: {
            rows: jobRows(items, now(), filtered).value,
            pager: pager(items, filter).value,
          },
        }),
      onError: (err) => stream.send('failure', { message: messageOf(err) }),
    });
    const stopOverview = overviewSource.subscribe((view) =>
      stream.send('update', { regions: { overview: overview(view, now()).value } }),
    );
    void stream.closed.then(() => {
      feed.close();
      stopOverview();
    });
  });

  app.get<{ Querystring: { requestId?: string } }>('/search', async (req, reply) => {
    const requestId = (req.query.requestId ?? '').trim();
    if (requestId === '') return reply.redirect('/', 303);
    const found = await getJob(firestore, requestId, { collection });
    countReads(1 + Math.max(1, found.tasks.length));
    if (found.job) return reply.redirect(jobHref(requestId), 303);
    return errorPage(
      reply,
      404,
      'No such job',
      `No job with request id "${requestId}" in collection ${collection}.`,
    );
  });

  const jobSnapshotPage = async (
    req: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
    notice?: string,
  ) => {
    const requestId = req.params.id;
    const feed = jobFeeds.open(requestId);
    try {
      const snapshot = await withTimeout(feed.first, FIRST_SNAPSHOT_MS, 'reading the job');
      return sendPage(
        reply,
        snapshot.job ? 200 : 404,
        page({
          title: requestId,
          current: 'job',
          canPublish,
          events: `${jobHref(requestId)}/events`,
          body: jobBody(snapshot, {
            allowCancel: deps.allowCancel,
            logs,
            cost: deps.costOf?.(snapshot),
            now: now(),
            ...(notice ? { notice } : {}),
          }),
        }),
      );
    } catch (err: unknown) {
      return unavailablePage(reply, 'Job unavailable', 'read the job', err);
    } finally {
      feed.close();
    }
  };

  app.get<{ Params: { id: string }; Querystring: { cancel?: string } }>(
    '/jobs/:id',
    (req, reply) => {
      const outcome = req.query.cancel as CancelResult['outcome'] | undefined;
      return jobSnapshotPage(req, reply, outcome ? CANCEL_MESSAGES[outcome] : undefined);
    },
  );

  app.get<{ Params: { id: string } }>('/jobs/:id/events', (req, reply) => {
    const stream = openEventStream(req, reply, streams);
    const feed = jobFeeds.open(req.params.id, {
      onValue: (snapshot) =>
        stream.send('update', {
          regions: {
            job: jobLive(snapshot, deps.costOf?.(snapshot), now(), logs).value,
            cancel: cancelControl(snapshot, deps.allowCancel).value,
          },
        }),
      onError: (err) => stream.send('failure', { message: messageOf(err) }),
    });
    void stream.closed.then(() => feed.close());
  });

  /** The publish form's pages where there is nothing to publish to (only under jobbridge dev). */
  const publishNotHere = (reply: FastifyReply) =>
    errorPage(
      reply,
      404,
      'Not here',
      'Publishing from the dashboard is only offered under jobbridge dev.',
    );
  const publishPage = (reply: FastifyReply, status: number, body: ReturnType<typeof publishBody>) =>
    sendPage(reply, status, page({ title: 'Publish', current: 'publish', canPublish, body }));

  app.get('/publish', (_req, reply) => {
    if (!deps.publish) return publishNotHere(reply);
    return publishPage(reply, 200, publishBody({ jobs: deps.publish.jobs }));
  });

  app.post('/publish', async (req, reply) => {
    if (!deps.publish) return publishNotHere(reply);
    if (!sameOrigin(req))
      return errorPage(
        reply,
        403,
        'Not published',
        'The request did not come from this dashboard.',
      );
    const body = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
    const fields = readFields(body);
    const { request, issues } = requestFromFields(fields);
    const { jobs } = deps.publish;
    if (issues.length > 0) return publishPage(reply, 422, publishBody({ jobs, fields, issues }));
    try {
      const { requestId } = await deps.publish.publish(request);
      logger.info({ requestId, job: request.job }, 'published from the dashboard');
      return reply.redirect(jobHref(requestId), 303);
    } catch (err: unknown) {
      if (err instanceof ValidationError) {
        return publishPage(reply, 422, publishBody({ jobs, fields, issues: [...err.issues] }));
      }
      return publishPage(
        reply,
        503,
        publishBody({ jobs, fields, failure: `Publishing failed: ${messageOf(err)}` }),
      );
    }
  });

  app.get<{ Params: { id: string; index: string } }>(
    '/jobs/:id/tasks/:index/log',
    async (req, reply) => {
      const index = Number(req.params.index);
      if (!deps.taskLog || !Number.isSafeInteger(index) || index < 0) {
        return reply.code(404).type('text/plain; charset=utf-8').send('no such log\n');
      }
      const { job } = await getJob(firestore, req.params.id, { collection });
      countReads(2);
      const execution = job?.dispatch?.executionName;
      // A batch member's task i is task offset + i of the batch's execution.
      const offset = (job ? batchOf(job)?.taskOffset : undefined) ?? 0;
      const text = execution ? await deps.taskLog(execution, offset + index) : undefined;
      if (text === undefined) {
        return reply
          .code(404)
          .type('text/plain; charset=utf-8')
          .send('no log for this task (yet)\n');
      }
      return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(text);
    },
  );

  app.post<{ Params: { id: string } }>('/jobs/:id/cancel', async (req, reply) => {
    const wantsJson = (req.headers.accept ?? '').includes('application/json');
    const refuse = (status: number, message: string) =>
      wantsJson
        ? reply.code(status).send({ error: message })
        : errorPage(reply, status, 'Not cancelled', message);
    if (!deps.allowCancel) {
      return refuse(
        403,
        'This dashboard is read-only: start it with jobbridge ui --allow-cancel to cancel jobs.',
      );
    }
    if (!sameOrigin(req))
      return refuse(403, 'Cancel refused: the request did not come from this dashboard.');
    const requestId = req.params.id;
    try {
      const result = await cancelJob(firestore, requestId, { collection });
      countReads(1);
      logger.info({ requestId, outcome: result.outcome }, 'cancel from the dashboard');
      if (wantsJson) return reply.send({ ...result, message: CANCEL_MESSAGES[result.outcome] });
      return reply.redirect(`${jobHref(requestId)}?cancel=${result.outcome}`, 303);
    } catch (err: unknown) {
      return refuse(503, `Firestore could not record the cancel: ${messageOf(err)}`);
    }
  });

  return app;
}

/**
 * A browser says where a request comes from (`Sec-Fetch-Site`, `Origin`): a cancel is accepted
 * only from this dashboard's own pages, so another site cannot post one with the user's access.
 * Tools that send neither (curl) are not browsers and need no such guard.
 */
function sameOrigin(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin' || site === 'none';
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
