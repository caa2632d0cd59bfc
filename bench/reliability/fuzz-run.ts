import fc from 'fast-check';
import { OUTCOMES, type OutcomeCode } from '../../src/errors/outcomes.ts';
import { createOidcVerifier } from '../../src/bridge/push-auth.ts';
import { fallbackRequestId } from '../../src/contract/index.ts';
import { authorizationHeader, fuzzPush } from './fuzz-arbitraries.ts';
import { startInProcessBridge } from './inprocess-bridge.ts';
import { AUDIENCE, PUSH_SA, signingKey, startCertServer } from '../lib/tokens.ts';

export interface FuzzReport {
  pushes: number;
  authPushes: number;
  /** Answers by reason code. */
  outcomes: Record<string, number>;
  slowestMs: Record<string, number>;
  slowPushes: string[];
  /** Request ids the bridge answered `dispatched` or `adopted` for. */
  dispatched: number;
  executions: number;
  unhandledRejections: number;
  problems: string[];
  wallMs: number;
}

/** Whether `reason` with `status` is a documented OUTCOMES row (`rejected:<field>` included). */
export function documented(reason: unknown, status: number): string | undefined {
  if (typeof reason !== 'string') return `outcome is ${JSON.stringify(reason)}, not a string`;
  const code = (reason.startsWith('rejected:') ? 'rejected' : reason) as OutcomeCode;
  const spec = (OUTCOMES as Record<string, { status: number } | undefined>)[code];
  if (spec === undefined) return `undocumented outcome ${reason}`;
  if (reason.startsWith('rejected:') && reason.length === 'rejected:'.length)
    return 'rejected without a field';
  if (spec.status !== status) return `${reason} answered ${status}, documented ${spec.status}`;
  return undefined;
}

/**
 * The fuzz suite: `pushes` generated push bodies and headers through fastify's inject() to an
 * in-process bridge on the real emulators, then `authPushes` generated Authorization headers to
 * one that verifies OIDC. Every answer must be a documented status with its reason code, nothing
 * may crash or reject unhandled, and executions start only for requests answered `dispatched`.
 */
export async function runFuzz(options: {
  firestoreHost: string;
  pushes: number;
  authPushes: number;
  seed?: number;
  /** Called every 10 s with how far the run got and the push in flight. */
  progress?: (line: string) => void;
}): Promise<FuzzReport> {
  const pushes = fuzzPush();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const problems: string[] = [];
  const outcomes: Record<string, number> = {};
  const dispatchedIds = new Set<string>();
  const lateIds = new Set<string>();
  /** The slowest answer per reason code, in ms. */
  const slowest: Record<string, number> = {};
  /** A few pushes that took over 2 s, for the report. */
  const slowPushes: string[] = [];
  let sent = 0;
  let inFlight = '';
  const ticker = setInterval(
    () => options.progress?.(`${sent} sent; in flight: ${inFlight.slice(0, 300)}`),
    10_000,
  );
  const started = performance.now();
  const bridge = await startInProcessBridge({ firestoreHost: options.firestoreHost });
  const key = signingKey('fuzz-key');
  const certs = await startCertServer([key]);
  const oidc = await startInProcessBridge({
    firestoreHost: options.firestoreHost,
    verifier: createOidcVerifier({
      audience: AUDIENCE,
      serviceAccount: PUSH_SA,
      certsUrl: certs.url,
    }),
  });
  const check = (where: string, status: number, raw: string): string | undefined => {
    let parsed: { outcome?: unknown; requestId?: unknown };
    try {
      parsed = JSON.parse(raw) as typeof parsed;
    } catch {
      return `${where}: answer ${status} is not JSON: ${raw.slice(0, 200)}`;
    }
    const reason = String(parsed.outcome);
    outcomes[reason] = (outcomes[reason] ?? 0) + 1;
    const wrong = documented(parsed.outcome, status);
    if (wrong) return `${where}: ${wrong}`;
    if (reason === 'internal') {
      const logged = [...bridge.logLines, ...oidc.logLines].findLast((l) =>
        l.includes('unhandled error'),
      );
      return `${where}: internal (a bug), logged as ${logged?.slice(0, 1500)}`;
    }
    return undefined;
  };
  try {
    await fc
      .assert(
        fc.asyncProperty(pushes, async (push) => {
          const t0 = performance.now();
          sent++;
          inFlight = push.body;
          const res = await bridge.app.inject({
            method: 'POST',
            url: '/pubsub/push',
            headers: push.headers,
            payload: push.body,
          });
          const ms = performance.now() - t0;
          const r = reason(res.body) ?? '?';
          slowest[r] = Math.max(slowest[r] ?? 0, Math.round(ms));
          if (ms > 2000 && slowPushes.length < 5)
            slowPushes.push(`${Math.round(ms)} ms ${r}: ${push.body.slice(0, 600)}`);
          const wrong = check('push', res.statusCode, res.body);
          if (wrong) problems.push(`${wrong} ← body ${push.body.slice(0, 200)}`);
          if (res.statusCode === 201) dispatchedIds.add(requestIdOf(push.body));
          // Past its budget the work goes on under its lease (docs/internals.md, "Exactly once"): it may still launch.
          // A retryable launch error may come after Cloud Run created the execution: the redelivery
          // adopts it (docs/internals.md, "Exactly once"). Either way it may exist without a `dispatched`.
          if (r === 'budget-exceeded' || r === 'launch-retryable')
            lateIds.add(requestIdOf(push.body));
          return wrong === undefined;
        }),
        { numRuns: options.pushes, seed: options.seed ?? 20261128, endOnFailure: true },
      )
      .catch((err: unknown) => problems.push(`fast-check: ${String(err).slice(0, 2000)}`));
    await fc
      .assert(
        fc.asyncProperty(authorizationHeader, pushes, async (authorization, push) => {
          const res = await oidc.app.inject({
            method: 'POST',
            url: '/pubsub/push',
            headers: { ...push.headers, authorization },
            payload: push.body,
          });
          const wrong = check('auth', res.statusCode, res.body);
          const reason = (JSON.parse(res.body) as { outcome?: string }).outcome ?? '';
          const refused = reason.startsWith('auth:')
            ? undefined
            : `auth: ${reason} for a forged token`;
          if (wrong ?? refused)
            problems.push(`${wrong ?? refused} ← authorization ${authorization}`);
          return wrong === undefined && refused === undefined;
        }),
        { numRuns: options.authPushes, seed: (options.seed ?? 20261128) + 1, endOnFailure: true },
      )
      .catch((err: unknown) => problems.push(`fast-check: ${String(err).slice(0, 2000)}`));
    const executed = await bridge.executionRequestIds();
    const perId = new Map<string, number>();
    for (const id of executed) perId.set(id, (perId.get(id) ?? 0) + 1);
    for (const [id, n] of perId) {
      if (!dispatchedIds.has(id) && !lateIds.has(id))
        problems.push(`execution for ${id}, never answered dispatched`);
      if (n > 1) problems.push(`${n} executions for ${id}`);
    }
    const oidcExecutions = await oidc.executionRequestIds();
    if (oidcExecutions.length > 0)
      problems.push(`${oidcExecutions.length} execution(s) behind the OIDC check`);
    const unlisted = await bridge.executionRequestIds('unlisted-job');
    if (unlisted.length > 0) problems.push(`${unlisted.length} execution(s) of a job not allowed`);
    for (const u of unhandled) problems.push(`unhandled rejection: ${String(u)}`);
    return {
      pushes: options.pushes,
      authPushes: options.authPushes,
      outcomes,
      slowestMs: slowest,
      slowPushes,
      dispatched: dispatchedIds.size,
      executions: executed.length,
      unhandledRejections: unhandled.length,
      // The same array: a close that hangs (below) still lands in the report.
      problems,
      wallMs: Math.round(performance.now() - started),
    };
  } finally {
    clearInterval(ticker);
    process.off('unhandledRejection', onUnhandled);
    // A close that never ends is a finding, not a reason to hang the suite (docs/reliability.md, "Fuzz").
    for (const [what, close] of [
      ['bridge (fastify close)', () => bridge.app.close()],
      ['bridge run clients', () => bridge.run.close()],
      ['bridge Cloud Run Jobs emulator (stop)', () => bridge.emulator.stop()],
      ['bridge Firestore client', () => bridge.firestore.terminate()],
      ['OIDC bridge', () => oidc.close()],
      ['certificate server', () => certs.close()],
    ] as const) {
      const done = await Promise.race([
        close().then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 15_000).unref()),
      ]);
      if (!done) problems.push(`closing the ${what} did not finish within 15 s`);
    }
  }
}

function reason(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { outcome?: string }).outcome;
  } catch {
    return undefined;
  }
}

/** The request id a dispatched push was for: attribute, else body field, else messageId. */
function requestIdOf(body: string): string {
  const envelope = JSON.parse(body) as {
    message: { attributes?: { requestId?: string }; data: string; messageId: string };
  };
  const { message } = envelope;
  if (message.attributes?.requestId !== undefined) return message.attributes.requestId;
  const request = JSON.parse(Buffer.from(message.data, 'base64').toString('utf8')) as {
    requestId?: string;
  };
  return request.requestId ?? fallbackRequestId(message.messageId);
}
