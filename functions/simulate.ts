import { parseArgs } from 'node:util';
import { PermanentError } from '../src/worker/errors.ts';
import type { JobFunction } from '../src/worker/function-types.ts';

/** Options of `simulate`, from its args (`--steps 10 --step-ms 100 --fail-at 5 ...`). */
export interface SimulateOptions {
  steps: number;
  stepMs: number;
  /** Fail at this step (1-based) while the attempt is below `failAttempts`. */
  failAt: number | undefined;
  failAttempts: number;
  /** The failure is a PermanentError. */
  permanent: boolean;
  /** SIGKILL itself at `failAt` instead of throwing (an out-of-memory kill, say). */
  kill: boolean;
  /** Progress calls per step (a busy loop of reports, for the coalescing figures). */
  reportsPerStep: number;
}

function int(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new PermanentError(`simulate: --${name} must be a non-negative integer, got ${value}`);
  return n;
}

const SIMULATE_FLAGS =
  '--steps N, --step-ms MS, --fail-at STEP, --fail-attempts N, --permanent, --kill, --reports-per-step N';

/** Parses simulate's args; a bad one is a PermanentError naming it. */
export function parseSimulateArgs(args: readonly string[]): SimulateOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      options: {
        steps: { type: 'string' },
        'step-ms': { type: 'string' },
        'fail-at': { type: 'string' },
        'fail-attempts': { type: 'string' },
        permanent: { type: 'boolean' },
        kill: { type: 'boolean' },
        'reports-per-step': { type: 'string' },
      },
    }));
  } catch (err: unknown) {
    // node:util's message names the arg and goes on about positionals: keep the first sentence.
    const first = (err as Error).message.split('. ')[0] ?? '';
    throw new PermanentError(`${first} (simulate takes ${SIMULATE_FLAGS})`, { cause: err });
  }
  const failAt = values['fail-at'] === undefined ? undefined : int(values['fail-at'], 'fail-at', 0);
  return {
    steps: int(values.steps, 'steps', 10),
    stepMs: int(values['step-ms'], 'step-ms', 100),
    failAt,
    failAttempts: int(values['fail-attempts'], 'fail-attempts', Number.MAX_SAFE_INTEGER),
    permanent: values.permanent === true,
    kill: values.kill === true,
    reportsPerStep: Math.max(1, int(values['reports-per-step'], 'reports-per-step', 1)),
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A long-running job: `steps` steps of `stepMs` each, with progress after each; it can fail
 * (retryably, permanently, or by SIGKILL) at a step on early attempts, and it stops at once when
 * its signal fires (timeout or cancel).
 */
const simulate: JobFunction = async (ctx) => {
  const o = parseSimulateArgs(ctx.args);
  const total = o.steps * o.reportsPerStep;
  for (let step = 1; step <= o.steps; step++) {
    await sleep(o.stepMs, ctx.signal);
    if (o.failAt === step && ctx.attempt < o.failAttempts) {
      if (o.kill) process.kill(process.pid, 'SIGKILL');
      const message = `simulated failure at step ${step} of ${o.steps} (attempt ${ctx.attempt})`;
      throw o.permanent ? new PermanentError(message) : new Error(message);
    }
    const base = (step - 1) * o.reportsPerStep;
    for (let r = 1; r <= o.reportsPerStep; r++)
      ctx.progress(base + r, total, `step ${step}/${o.steps}`);
  }
  return { steps: o.steps, attempt: ctx.attempt };
};

export default simulate;

/** simulate's declared args: `jobbridge publish` and the worker check them with this. */
export const args = parseSimulateArgs;
