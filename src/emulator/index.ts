export type {
  EmulatorJobSpec,
  FaultOptions,
  JobFile,
  RunEmulatorOptions,
  StartedRunEmulator,
} from './api.ts';
export { startRunEmulator } from './server.ts';
export { loadJobFile, parseJobFile, type LoadedJobFile } from './job-file.ts';
