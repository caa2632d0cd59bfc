import { startupSnapshot } from 'node:v8';

/**
 * Stands in for node:http, node:https, node:tls and node:http2 in the worker's snapshot bundle
 * (`src/worker/snapshot-build.ts`). Node cannot build a startup snapshot once those modules are
 * loaded (the build aborts in CheckGlobalAndEternalHandles), yet grpc-js, gaxios and
 * google-gax require them at module load. The proxy loads the real module on first use, after
 * the snapshot is deserialized. While the snapshot is built, the few things used at module load
 * are served without loading it: `known` values (http2.constants, copied at bundle time from
 * the same node) and `Agent`, whose instances are then created on first use. Anything else
 * fails the build loudly rather than capture a half-loaded module.
 */
export function lazyBuiltin(name: string, known: Record<string, unknown>): object {
  let real: object | undefined;
  const load = (): object => {
    const loaded: unknown = (real ??= process.getBuiltinModule(name));
    return typeof loaded === 'object' && loaded !== null
      ? loaded
      : fail(`node:${name} is not a built-in module`);
  };
  const handler = forwardTo(load);
  handler.get = (_, key) => {
    if (key === '__esModule') return false;
    if (startupSnapshot.isBuildingSnapshot()) {
      if (typeof key === 'string' && Object.hasOwn(known, key)) return known[key];
      if (key === 'Agent') return deferredClass(load, key);
      return fail(`node:${name}.${String(key)} is used while building the snapshot`);
    }
    return Reflect.get(load(), key) as unknown;
  };
  return new Proxy({}, handler);
}

/** `new http.Agent(options)` at module load (google-gax's REST stub): made on first use. */
function deferredClass(load: () => object, key: string): unknown {
  return function Deferred(...args: unknown[]): object {
    let instance: object | undefined;
    return new Proxy(
      {},
      forwardTo(() => {
        const Class = Reflect.get(load(), key) as new (...a: unknown[]) => object;
        return (instance ??= new Class(...args));
      }),
    );
  };
}

/** A proxy handler that forwards everything to `target()` (prototype too: instanceof holds). */
function forwardTo(target: () => object): ProxyHandler<object> {
  return {
    get: (_, k) => Reflect.get(target(), k) as unknown,
    set: (_, k, v) => Reflect.set(target(), k, v),
    has: (_, k) => Reflect.has(target(), k),
    deleteProperty: (_, k) => Reflect.deleteProperty(target(), k),
    ownKeys: () => Reflect.ownKeys(target()),
    getOwnPropertyDescriptor: (_, k) => {
      const d = Reflect.getOwnPropertyDescriptor(target(), k);
      // A proxy must not report a non-configurable property its own target lacks.
      if (d) d.configurable = true;
      return d;
    },
    defineProperty: (_, k, d) => Reflect.defineProperty(target(), k, d),
    getPrototypeOf: () => Reflect.getPrototypeOf(target()),
  };
}

function fail(message: string): never {
  throw new Error(message);
}
