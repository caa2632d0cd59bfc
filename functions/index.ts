import type { FunctionRegistry } from '../src/worker/function-types.ts';

/**
 * The job functions a task can run, by name (`jobbridge work <name>`). Adding one: write
 * `functions/<name>.ts` with a default-exported JobFunction, and add one line here. Modules
 * load lazily, so a task pays only for the function it runs.
 */
export const functions: FunctionRegistry = {
  echo: () => import('./echo.ts'),
  'fan-out': () => import('./fan-out.ts'),
  simulate: () => import('./simulate.ts'),
};
