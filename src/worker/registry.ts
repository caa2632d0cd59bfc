import { PermanentError } from './errors.ts';
import { argsProblem } from './args.ts';
import type { FunctionRegistry, JobFunction, JobFunctionModule } from './function-types.ts';

/** Loads a function's module by name, or undefined when the registry has no such name. */
export async function loadFunctionModule(
  registry: FunctionRegistry,
  name: string,
): Promise<JobFunctionModule | undefined> {
  const loader = Object.hasOwn(registry, name) ? registry[name] : undefined;
  return loader ? await loader() : undefined;
}

/**
 * Loads a function by name and checks `args` against its declaration. An unknown name, or args
 * the declaration refuses, is a PermanentError: no retry would make them valid.
 */
export async function loadCheckedFunction(
  registry: FunctionRegistry,
  name: string,
  args: readonly string[],
): Promise<JobFunction> {
  const fn = await loadFunction(registry, name);
  const declaration = (await loadFunctionModule(registry, name))?.args;
  const problem = declaration ? argsProblem(declaration, args) : undefined;
  if (problem !== undefined)
    throw new PermanentError(`function ${JSON.stringify(name)}: invalid args: ${problem}`);
  return fn;
}

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
