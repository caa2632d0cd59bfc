import type { ArgsDeclaration, FunctionRegistry } from './function-types.ts';
import { errorMessage } from '../errors/coerce.ts';

/**
 * Why `args` do not satisfy a function's declaration, or undefined when they do. One reading for
 * the producer's check and the worker's, so both refuse the same args with the same words.
 */
export function argsProblem(
  declaration: ArgsDeclaration,
  args: readonly string[],
): string | undefined {
  if (typeof declaration === 'function') {
    try {
      declaration(args);
      return undefined;
    } catch (err: unknown) {
      return errorMessage(err);
    }
  }
  const result = declaration.safeParse([...args]);
  if (result.success) return undefined;
  return result.error.issues
    .map((i) =>
      i.path.length > 0 ? `args[${i.path.map(String).join('.')}]: ${i.message}` : i.message,
    )
    .join('; ');
}

/**
 * The args checks of the functions `names` of a registry that declare their args, by name: what
 * `publishJob(…, { functionArgs })` takes. Loads those functions' modules.
 */
export async function argsChecks(
  registry: FunctionRegistry,
  names: readonly string[] = Object.keys(registry),
): Promise<Record<string, (args: readonly string[]) => string | undefined>> {
  const checks: Record<string, (args: readonly string[]) => string | undefined> = {};
  for (const name of names) {
    const loader = Object.hasOwn(registry, name) ? registry[name] : undefined;
    const declaration = loader ? (await loader()).args : undefined;
    if (declaration) checks[name] = (args) => argsProblem(declaration, args);
  }
  return checks;
}
