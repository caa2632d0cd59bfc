export type * from './launcher.ts';
export {
  CloudRunLauncher,
  executionEnv,
  summarizeExecution,
  summarizeTask,
  type CloudRunLauncherClients,
  type CloudRunLauncherConfig,
} from './cloud-run-launcher.ts';
export { createRunClients, type RunClients, type RunClientSettings } from './clients.ts';
