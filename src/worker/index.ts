/** What a job function's author needs: its types, the permanent-failure error, a test context. */
export type {
  ArgsDeclaration,
  FunctionRegistry,
  JobFunction,
  JobFunctionModule,
  TaskContext,
} from './function-types.ts';
export { PermanentError } from './errors.ts';
export { argsChecks, argsProblem } from './args.ts';
export { createTestContext } from './test-context.ts';
