import type { Firestore } from '@google-cloud/firestore';
import type { ExecutionScope } from '../contract/index.ts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log.ts';
import type { DrainResult, Drainer, Launcher } from '../dispatch/index.ts';
import { errorMessage, outcome } from '../errors/index.ts';
import { reconcileAll, type ReconcileOptions } from '../reconciler/index.ts';
import { DEAD_LETTER_PATH, deadLetterRoute, type DeadLetterAdmission } from './dead-letter.ts';
import { expectedSubscription, type PushVerifier } from './push-auth.ts';
import type { BridgeServer } from './server-types.ts';

export const RECONCILE_PATH = '/reconcile';

/** What the dead-letter and reconcile routes need; all of it is the bridge's own. */
export interface MaintenanceDeps {
  firestore: Firestore;
  collection: string;
  launcher: Launcher;
  logger: Logger;
  /** Each route checks its own audience and service account. */
  verifiers: { deadLetter: PushVerifier; reconcile: PushVerifier };
  /** Subscriptions the dead-letter route accepts envelopes from; undefined: any. */
  deadLetterSubscriptions: ReadonlySet<string> | undefined;
  drainer: Drainer;
  /** The push route's admission: a dead letter of a valid request is admitted, not failed. */
  admission: DeadLetterAdmission;
  /** Where execution names read from documents must lie. */
  scope: ExecutionScope;
  retentionMs: number;
  reconcile: ReconcileOptions & { maxPages: number };
  now: () => Date;
}

/** Summary of one `POST /reconcile` call, as answered and logged. */
export interface ReconcileSummary {
  examined: number;
  actions: Record<string, number>;
  /** What the drain after the passes did. */
  drain?: DrainResult;
  /** Set when the bounded call stopped with more to do: the next call goes on from there. */
  nextCursor?: string;
}

/** How long a `POST /reconcile` drains the queue when its body does not say (`drainForMs`). */
export const DEFAULT_RECONCILE_DRAIN_MS = 45_000;

/** `{ "cursor": "...", "drainForMs": 50000 }`, both optional. */
function bodyOf(body: unknown): { cursor?: string; drainForMs?: number } {
  if (!Buffer.isBuffer(body) || body.length === 0) return {};
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { cursor?: unknown; drainForMs?: unknown };
    return {
      ...(typeof parsed.cursor === 'string' ? { cursor: parsed.cursor } : {}),
      ...(typeof parsed.drainForMs === 'number' &&
      Number.isFinite(parsed.drainForMs) &&
      parsed.drainForMs >= 0
        ? { drainForMs: Math.min(parsed.drainForMs, 3_600_000) }
        : {}),
    };
  } catch {
    return {};
  }
}

/** The `subscription` an envelope names, if it can be read. */
function subscriptionOf(body: unknown): string | undefined {
  if (!Buffer.isBuffer(body)) return undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { subscription?: unknown };
    return typeof parsed.subscription === 'string' ? parsed.subscription : undefined;
  } catch {
    return undefined;
  }
}

function count<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/**
 * One bounded reconcile call (`reconcileAll`): passes following the cursor up to `maxPages`, then
 * a drain of the queue until `drainUntilMs` (Cloud Scheduler calls every minute; the drain fills
 * most of it). Summarised for the answer and the log.
 */
export async function reconcileOnce(
  deps: MaintenanceDeps,
  cursor: string | undefined,
  drainUntilMs: number,
): Promise<ReconcileSummary> {
  const done = await reconcileAll(
    {
      firestore: deps.firestore,
      collection: deps.collection,
      launcher: deps.launcher,
      log: deps.logger,
      now: deps.now,
      drainer: deps.drainer,
      scope: deps.scope,
    },
    { ...deps.reconcile, drainUntilMs, ...(cursor !== undefined ? { cursor } : {}) },
  );
  return {
    examined: done.examined,
    actions: count(done.actions, (a) => a.action),
    ...(done.drain ? { drain: done.drain } : {}),
    ...(done.nextCursor !== undefined ? { nextCursor: done.nextCursor } : {}),
  };
}

/**
 * Mounts `POST /pubsub/dead-letter` (the dead-letter topic's push subscription) and
 * `POST /reconcile` (Cloud Scheduler), both behind the same OIDC check as the push endpoint.
 */
export function mountMaintenanceRoutes(app: BridgeServer, deps: MaintenanceDeps): void {
  const authenticate =
    (verifier: PushVerifier) => async (req: FastifyRequest, res: FastifyReply) => {
      const denied = await verifier.verify(req.headers.authorization);
      if (denied === undefined) return undefined;
      const refused = outcome(denied);
      deps.logger.warn({ path: req.url, outcome: refused.reason }, 'maintenance call refused');
      return res.code(refused.status).send({ outcome: refused.reason });
    };
  const fromExpectedSubscription = async (req: FastifyRequest, res: FastifyReply) => {
    const subscription = subscriptionOf(req.body);
    if (expectedSubscription(deps.deadLetterSubscriptions, subscription)) return undefined;
    const refused = outcome('auth:unexpected-subscription');
    deps.logger.warn(
      { path: req.url, outcome: refused.reason, subscription: String(subscription).slice(0, 300) },
      'maintenance call refused',
    );
    return res.code(refused.status).send({ outcome: refused.reason });
  };

  const deadLetter = deadLetterRoute({
    firestore: deps.firestore,
    collection: deps.collection,
    launcher: deps.launcher,
    retentionMs: deps.retentionMs,
    admission: deps.admission,
    now: deps.now,
    log: deps.logger,
  });
  const deadLetterHooks = {
    onRequest: authenticate(deps.verifiers.deadLetter),
    preHandler: fromExpectedSubscription,
  };
  app.post(DEAD_LETTER_PATH, deadLetterHooks, async (req, res) => {
    await deadLetter(req, res);
    deps.logger.info({ status: res.statusCode }, 'dead letter');
    return res;
  });

  app.post(
    RECONCILE_PATH,
    { onRequest: authenticate(deps.verifiers.reconcile) },
    async (req, res) => {
      try {
        const body = bodyOf(req.body);
        const drainUntil = Date.now() + (body.drainForMs ?? DEFAULT_RECONCILE_DRAIN_MS);
        const summary = await reconcileOnce(deps, body.cursor, drainUntil);
        deps.logger.info(summary, 'reconcile pass');
        return summary;
      } catch (err: unknown) {
        // The cause goes to the log only: its text may name hosts, projects or documents.
        deps.logger.error({ err: errorMessage(err) }, 'reconcile pass failed');
        return res.code(503).send({ outcome: 'reconcile-failed' });
      }
    },
  );
}
