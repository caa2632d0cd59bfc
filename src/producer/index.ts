export {
  publishJob,
  type FunctionArgsChecks,
  type JobRequestInput,
  type PublishOptions,
  type PublishedJob,
} from './publish-job.ts';
export { uuidv7 } from './request-id.ts';
export { ensureJobTopology, ensureTopic, type JobTopologyOptions } from './topology.ts';
