/**
 * Crash points for the crash-safety tests, kept out of src/: every port the bridge uses is
 * injected, so a test wraps one and the process dies right after a chosen operation resolved,
 * exactly as a SIGKILLed instance would (no cleanup, no finally blocks, no answer sent).
 *
 * A point is `<port>.<method>`, e.g. `repository.claim` (the claim is stored, nothing started
 * yet) or `launcher.launch` (RunJob accepted, not yet recorded). Any method of any wrapped port
 * can be named; a name that is no method of its port is refused, so a typo never passes as a
 * crash that did not happen.
 */

import { fileURLToPath } from 'node:url';
import { startChildBridge, type ChildBridge } from '../../bench/lib/child-bridge.ts';

const CRASHING_BRIDGE = fileURLToPath(new URL('./crashing-bridge.ts', import.meta.url));

/** The env var `test/bridge/crashing-bridge.ts` reads: comma-separated crash points. */
export const CRASH_AFTER_ENV = 'CRASH_AFTER';

/** Reads `text` (`port.method,port.method`) against the ports that may be wrapped. */
export function parseCrashPoints(
  text: string,
  ports: Readonly<Record<string, object>>,
): Set<string> {
  const points = new Set<string>();
  for (const point of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const [port, method, ...rest] = point.split('.');
    const target = port === undefined ? undefined : ports[port];
    if (target === undefined || method === undefined || rest.length > 0)
      throw new Error(
        `${CRASH_AFTER_ENV}: "${point}" is not <port>.<method> with a port among ${Object.keys(ports).join(', ')}`,
      );
    if (typeof (target as Record<string, unknown>)[method] !== 'function')
      throw new Error(`${CRASH_AFTER_ENV}: ${port} has no method "${method}"`);
    points.add(point);
  }
  return points;
}

/** Dies as a killed instance does. */
export function sigkillSelf(): void {
  process.kill(process.pid, 'SIGKILL');
}

/**
 * `target` with each method named in `points` (as `<port>.<method>`) followed by `die()` once
 * its promise resolves; every other member is the target's own. A rejected call does not crash.
 */
export function crashAfter<T extends object>(
  target: T,
  port: string,
  points: ReadonlySet<string>,
  die: () => void = sigkillSelf,
): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof prop !== 'string' || typeof value !== 'function') return value;
      if (!points.has(`${port}.${prop}`)) return (value as (...a: unknown[]) => unknown).bind(obj);
      return async (...args: unknown[]) => {
        const result: unknown = await (value as (...a: unknown[]) => unknown).apply(obj, args);
        die();
        return result;
      };
    },
  });
}

/**
 * Starts the bridge of crashing-bridge.ts: `jobbridge serve`'s server, which SIGKILLs itself
 * right after each of `crashAfter` (`repository.claim`, `launcher.launch`, … see crash-after.ts)
 * resolves.
 */
export async function startCrashingBridge(
  env: NodeJS.ProcessEnv,
  crashAfter: readonly string[],
  timeoutMs = 20_000,
): Promise<ChildBridge> {
  return startChildBridge({ ...env, [CRASH_AFTER_ENV]: crashAfter.join(',') }, timeoutMs, {
    cli: CRASHING_BRIDGE,
  });
}
