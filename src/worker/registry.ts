import { PermanentError } from './errors.ts';
import type { FunctionRegistry, JobFunction } from './function-types.ts';

/** Loads a function by name. An unknown name is a PermanentError listing the known ones. */
export async function loadFunction(registry: FunctionRegistry, name: string): Promise<JobFunction> {
  const loader = Object.hasOwn(registry, name) ? registry[name] : undefined;
  if (!loader) {
    const known = Object.keys(registry).sort().join(', ');
    throw new PermanentError(
      `function ${JSON.stringify(name)} is not in the registry (known: ${known})`,
    );
  }
  const mod = await loader();
  if (typeof mod.default !== 'function') {
    throw new PermanentError(
      `function ${JSON.stringify(name)}: its module has no default export function`,
    );
  }
  return mod.default;
}
