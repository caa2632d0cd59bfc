import type { Firestore } from '@google-cloud/firestore';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { OAuth2Client } from 'google-auth-library';
import { jobDocumentId } from '../contract/index.ts';
import {
  Admission,
  createDispatchStores,
  Drainer,
  MaxRetriesCache,
  newOpCount,
  QueueKnowledge,
  RunBudget,
  type DispatchStores,
  type Launcher,
  type OpCount,
} from '../dispatch/index.ts';
import { errorMessage, isAck, outcome, rejected, type Outcome } from '../errors/index.ts';
import type { Logger } from '../log.ts';
import { DEFAULT_RECONCILE_OPTIONS, type ReconcileOptions } from '../reconciler/index.ts';
import type { BridgeConfig } from '../config/index.ts';
import { mountMaintenanceRoutes } from './maintenance-routes.ts';
import {
  createOidcVerifier,
  expectedSubscription,
  insecureVerifier,
  type PushVerifier,
} from './push-auth.ts';
import { parsePushDelivery, type ParsedDelivery } from './push-envelope.ts';
import type { BridgeServer } from './server-types.ts';
import { traceFields } from './trace.ts';

export type { BridgeServer };

export type ServerConfig = Pick<
  BridgeConfig,
  | 'projectId'
  | 'region'
  | 'jobs'
  | 'policies'
  | 'collection'
  | 'pushAuth'
  | 'subscriptions'
  | 'leaseMs'
  | 'budgetMs'
  | 'retentionDays'
  | 'bodyLimitBytes'
  | 'shutdownGraceMs'
  | 'limits'
> &
  // Left out: one execution per request (batching off).
  Partial<Pick<BridgeConfig, 'batchMaxRequests'>>;

export interface BridgeServerDeps {
  config: ServerConfig;
  firestore: Firestore;
  launcher: Launcher;
  logger: Logger;
  /** For every route; defaults to one per route as `config.pushAuth` describes. */
  verifier?: PushVerifier;
  /** The documents admission and the drainer work on; by default those of `config.collection`. */
  stores?: DispatchStores;
  now?: () => Date;
  /** Defaults to one built from `config.limits`; pass one in to read its gauge. */
  budget?: RunBudget;
  /** How `POST /reconcile` decides what is stale; the reconciler's defaults otherwise. */
  reconcile?: ReconcileOptions & { maxPages: number };
}

export const PUSH_PATH = '/pubsub/push';

/** What one delivery did, for its log line. */
interface DeliveryLog {
  requestId?: string;
  messageId?: string;
  deliveryAttempt?: number;
  job?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    delivery: DeliveryLog;
    startedAt: number;
  }
}

const DAY_MS = 24 * 3600 * 1000;

/** The longest drain a push delivery runs before it answers (when a queue is known to wait). */
const PUSH_DRAIN_MS = 2000;

/** The verifier of each route: its own audience and service account, one key-set client. */
export interface RouteVerifiers {
  push: PushVerifier;
  deadLetter: PushVerifier;
  reconcile: PushVerifier;
}

function verifiersFor(config: ServerConfig): RouteVerifiers {
  const auth = config.pushAuth;
  if (auth.mode !== 'oidc') {
    const none = insecureVerifier();
    return { push: none, deadLetter: none, reconcile: none };
  }
  // One client, so the certificates are fetched and cached once for all three.
  const client = new OAuth2Client({
    endpoints: { oauth2FederatedSignonPemCertsUrl: auth.certsUrl },
  });
  const route = (r: { audience: string; serviceAccount: string } | undefined) =>
    createOidcVerifier({ ...auth, ...(r ?? {}), client });
  return {
    push: route(undefined),
    deadLetter: route(auth.deadLetter),
    reconcile: route(auth.reconcile),
  };
}

/**
 * The bridge's HTTP server: `POST /pubsub/push`, `POST /pubsub/dead-letter`, `POST /reconcile`,
 * `GET /healthz`, `GET /readyz`, `GET /limitz`. Not listening
 * yet: the caller calls `listen()` (the CLI) or `inject()` (tests). Work still running when a
 * delivery's budget ran out is tracked, and closing the server waits for it.
 */
export function buildBridgeServer(deps: BridgeServerDeps): BridgeServer {
  const { config, logger } = deps;
  const verifiers: RouteVerifiers = deps.verifier
    ? { push: deps.verifier, deadLetter: deps.verifier, reconcile: deps.verifier }
    : verifiersFor(config);
  const { repository, queue, batches } =
    deps.stores ?? createDispatchStores(deps.firestore, config.collection);
  const now = deps.now ?? (() => new Date());
  const budget = deps.budget ?? new RunBudget(config.limits);
  const knowledge = new QueueKnowledge();
  const maxRetries = new MaxRetriesCache(deps.launcher);
  const admission = new Admission({
    repository,
    queue,
    launcher: deps.launcher,
    budget,
    knowledge,
    maxRetries,
    leaseMs: config.leaseMs,
    retentionMs: config.retentionDays * DAY_MS,
    keyConcurrency: config.limits.keyConcurrency,
    now,
  });
  const drainer = new Drainer({
    queue,
    repository,
    launcher: deps.launcher,
    budget,
    maxRetries,
    jobs: config.jobs,
    policies: config.policies,
    leaseMs: config.leaseMs,
    keyConcurrency: config.limits.keyConcurrency,
    knowledge,
    batches,
    batchMaxRequests: config.batchMaxRequests ?? 1,
    retentionMs: config.retentionDays * DAY_MS,
    now,
    log: logger,
  });
  const inflight = new Set<Promise<unknown>>();
  const app = Fastify({
    loggerInstance: logger,
    // One line per delivery is written by `reply` below; fastify's own two would add noise.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
  });
  app.decorateRequest('delivery', null as unknown as DeliveryLog);
  app.decorateRequest('startedAt', 0);

  // The body is read raw, whatever its content type: parsing it is the envelope's job, so that
  // every malformed body gets a documented reason code rather than a framework error.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const reply = (req: FastifyRequest, res: FastifyReply, result: Outcome, ops?: OpCount) => {
    const fields = {
      ...req.delivery,
      outcome: result.reason,
      status: result.status,
      latencyMs: Math.round(performance.now() - req.startedAt),
      ...(ops ? { firestore: ops } : {}),
      ...(result.detail ?? {}),
      ...traceFields(config.projectId, req.headers),
    };
    const level =
      result.code === 'internal' || result.code === 'lease-lost'
        ? 'error'
        : isAck(result)
          ? 'info'
          : 'warn';
    logger[level](fields, 'push delivery');
    return res.code(result.status).send({ outcome: result.reason, ...(result.detail ?? {}) });
  };

  const within = async (work: Promise<Outcome>, budgetLeftMs: number): Promise<Outcome> => {
    inflight.add(work);
    void work.finally(() => inflight.delete(work));
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve(outcome('budget-exceeded')), Math.max(0, budgetLeftMs));
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  };

  const recordRejection = async (parsed: Extract<ParsedDelivery, { ok: false }>, ops: OpCount) => {
    if (parsed.requestId === undefined || parsed.source === undefined) return parsed.outcome;
    const issues = (parsed.outcome.detail?.issues ?? []) as { path: string; reason: string }[];
    try {
      await repository.recordRejected(
        {
          docId: jobDocumentId(parsed.requestId),
          requestId: parsed.requestId,
          job: parsed.job,
          source: parsed.source,
          issues,
          reason: parsed.outcome.reason,
          now: now(),
          retentionMs: config.retentionDays * DAY_MS,
        },
        ops,
      );
      return parsed.outcome;
    } catch (err: unknown) {
      // Recording why is part of the answer: without it, let Pub/Sub try again.
      return outcome('store-unavailable', { error: { code: 'STORE', message: errorMessage(err) } });
    }
  };

  app.post(PUSH_PATH, {
    onRequest: async (req, res) => {
      req.startedAt = performance.now();
      req.delivery = {};
      const denied = await verifiers.push.verify(req.headers.authorization);
      if (denied !== undefined) return reply(req, res, outcome(denied));
      return undefined;
    },
    handler: async (req, res) => {
      const ops = newOpCount();
      const deadlineMs = Date.now() + config.budgetMs - (performance.now() - req.startedAt);
      const parsed = parsePushDelivery(
        req.body as Buffer | undefined,
        config.jobs,
        config.policies,
      );
      const source = parsed.ok ? parsed.delivery.source : parsed.source;
      if (
        source !== undefined &&
        !expectedSubscription(config.subscriptions.push, source.subscription)
      ) {
        // Anyone who may act as the push service account could point a subscription of their
        // own here: such an envelope is neither recorded nor run.
        req.delivery = { messageId: source.messageId };
        const refused = outcome('auth:unexpected-subscription', {
          subscription: String(source.subscription ?? '(none)').slice(0, 300),
        });
        return reply(req, res, refused, ops);
      }
      if (!parsed.ok) {
        req.delivery = {
          ...(parsed.requestId !== undefined ? { requestId: parsed.requestId } : {}),
          ...(parsed.source ? { messageId: parsed.source.messageId } : {}),
          ...(parsed.source?.deliveryAttempt !== undefined
            ? { deliveryAttempt: parsed.source.deliveryAttempt }
            : {}),
        };
        const result = await within(recordRejection(parsed, ops), deadlineMs - Date.now());
        return reply(req, res, result, ops);
      }
      const { delivery } = parsed;
      req.delivery = {
        requestId: delivery.requestId,
        messageId: delivery.source.messageId,
        ...(delivery.source.deliveryAttempt !== undefined
          ? { deliveryAttempt: delivery.source.deliveryAttempt }
          : {}),
        job: delivery.request.job,
      };
      const result = await within(
        admission.admit(delivery, ops, deadlineMs),
        deadlineMs - Date.now(),
      );
      // A bounded drain while this request holds the CPU (Cloud Run gives it only during
      // requests): one at a time per instance, only when a queue is known to wait and the
      // budget has room now. It never waits for the budget: Pub/Sub holds only a few pushes in
      // flight, so a push that waited would slow every delivery behind it, and a burst would
      // trickle in while the queue's drains (`POST /reconcile`) could have batched it.
      if (knowledge.any && !drainer.busy && budget.wouldAdmit() === undefined) {
        const drainUntil = Math.min(Date.now() + PUSH_DRAIN_MS, deadlineMs - 500);
        if (drainUntil > Date.now()) {
          await within(
            drainer.drain(drainUntil, { wait: false }).then(() => result),
            drainUntil - Date.now() + 1000,
          ).catch(() => undefined);
        }
      }
      return reply(req, res, result, ops);
    },
  });

  mountMaintenanceRoutes(app, {
    firestore: deps.firestore,
    collection: config.collection,
    launcher: deps.launcher,
    logger,
    verifiers,
    deadLetterSubscriptions: config.subscriptions.deadLetter,
    drainer,
    admission: {
      jobs: config.jobs,
      policies: config.policies,
      admit: (delivery) =>
        admission.admit(delivery, newOpCount(), Date.now() + config.budgetMs - 500),
      reject: (delivery) => recordRejection(delivery, newOpCount()),
    },
    scope: { project: config.projectId, region: config.region, jobs: config.jobs },
    retentionMs: config.retentionDays * DAY_MS,
    reconcile: deps.reconcile ?? { ...DEFAULT_RECONCILE_OPTIONS, maxPages: 20 },
    now,
  });

  // The auth mode is shown so that a bridge running without push auth is seen at a glance.
  app.get('/healthz', () => Promise.resolve({ status: 'ok', pushAuth: config.pushAuth.mode }));

  // The budget's gauge and the queue: depth and the age of its oldest entry (2 reads a call).
  app.get('/limitz', async () => {
    const depth = await queue.depth().catch(() => undefined);
    return {
      limits: config.limits,
      budget: budget.gauge(),
      queue: depth
        ? {
            depth: depth.depth,
            oldestQueuedAt: depth.oldestQueuedAt?.toISOString() ?? null,
            oldestQueuedAgeMs:
              depth.oldestQueuedAt === null ? null : Date.now() - depth.oldestQueuedAt.getTime(),
          }
        : null,
    };
  });

  app.get('/readyz', async (_req, res) => {
    try {
      // Any answer from Firestore, even "no such document", proves it is reachable.
      const probe = repository.ref('readyz-probe').get();
      const timeout = new Promise<never>((_, rejectAfter) => {
        setTimeout(() => rejectAfter(new Error('timed out after 2000 ms')), 2000).unref();
      });
      await Promise.race([probe, timeout]);
      return { status: 'ready' };
    } catch (err: unknown) {
      // The cause goes to the log only: its text may name hosts, projects or credentials.
      logger.warn({ err: errorMessage(err) }, 'readiness probe: firestore unreachable');
      return res.code(503).send({ status: 'unavailable', reason: 'firestore unreachable' });
    }
  });

  app.setErrorHandler((err: { code?: string; statusCode?: number }, req, res) => {
    req.startedAt ||= performance.now();
    req.delivery ??= {};
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // A message that can never fit must not loop: ack it like any other bad input.
      const issues = [{ path: 'body', reason: `is over ${config.bodyLimitBytes} bytes` }];
      return reply(req, res, rejected('body', issues));
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      // The framework refused the request itself (e.g. a Content-Type that is no media type):
      // bad input, which a redelivery cannot mend, so it is acked too.
      const issues = [{ path: 'body', reason: `cannot be read (${err.code ?? err.statusCode})` }];
      return reply(req, res, rejected('body', issues));
    }
    logger.error({ err }, 'unhandled error');
    return reply(req, res, outcome('internal'));
  });

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', async (_req, res) => {
    // Tell keep-alive clients to reconnect elsewhere while this instance drains.
    if (closing) res.header('connection', 'close');
  });

  app.addHook('onClose', async () => {
    // Work that outlived its delivery's budget still holds a lease: let it finish and record,
    // within the grace period (past it, the lease expires and a redelivery takes over).
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, config.shutdownGraceMs);
    });
    await Promise.race([Promise.allSettled([...inflight]), grace]);
    clearTimeout(timer);
  });

  return app;
}
