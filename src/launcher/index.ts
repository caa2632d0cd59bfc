export type {
  ExecutionSummary,
  JobInfo,
  LaunchRequest,
  LaunchResult,
  Launcher,
} from './launcher.ts';
export {
  CloudRunLauncher,
  summarizeExecution,
  type CloudRunLauncherClients,
  type CloudRunLauncherConfig,
} from './cloud-run-launcher.ts';
export { createRunClients, type RunClients, type RunClientSettings } from './clients.ts';
