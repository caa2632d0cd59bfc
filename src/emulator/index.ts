export type {
  EmulatorJobSpec,
  FaultOptions,
  JobFile,
  QuotaOptions,
  RunEmulatorOptions,
  StartedRunEmulator,
} from './api.ts';
export { startRunEmulator } from './server.ts';
export { loadJobFile, parseJobFile, type LoadedJobFile } from './job-file.ts';
export { CLOUD_RUN_DEFAULT_QUOTAS } from './quotas.ts';
