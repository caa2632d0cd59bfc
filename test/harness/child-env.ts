/**
 * What a test spreads into the env of a Node child it starts (a CLI, a task, a bridge): the run's
 * compile cache (global-setup.ts), so that child compiles what an earlier one compiled already.
 * Empty when the run has none; the child behaves the same either way, only faster.
 */
export function compileCacheEnv(): { NODE_COMPILE_CACHE?: string } {
  const dir = process.env.NODE_COMPILE_CACHE;
  return dir ? { NODE_COMPILE_CACHE: dir } : {};
}
